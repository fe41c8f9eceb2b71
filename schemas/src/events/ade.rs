//! Automated Device Enrollment: the MachineInfo a device POSTs to the enrollment URL of its
//! DEP profile before it is handed the enrollment profile. Stream `machine-info-<UDID>`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

/// A device asked for its enrollment profile with a CMS-signed MachineInfo plist, and was
/// served one. The keys are Apple's (`UDID`, `SERIAL`, `PRODUCT`, `VERSION`, `OS_VERSION`, `IMEI`,
/// `MEID`, `LANGUAGE`; `PAIRING_TOKEN` is not kept); the signer is the device's Apple-issued identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MachineInfoReceived {
    pub udid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The build (`VERSION`, e.g. `22B83`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Hex SHA-256 of the signer certificate's DER, its subject and issuer.
    pub signer_fingerprint_sha256: String,
    pub signer_subject: String,
    pub signer_issuer: String,
    /// The signer chains to Apple's device CA, so the UDID and serial are Apple's word; when
    /// false only the signature itself was checked and they are the device's claim.
    pub signer_apple: bool,
}

event_data! {
    MachineInfoReceived => "MachineInfoReceived" v 1,
}
