//! Activation Lock bypass ("escrow key unlock", NanoMDM's `/v1/escrowkeyunlock`): an admin asks
//! Apple to remove a device's Activation Lock with its bypass code. It is as consequential as an
//! erase, so who asked, for which device and what Apple answered are recorded on the
//! `escrow-key-unlock` stream; the bypass code itself never is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

/// Recorded before the request goes to Apple: no bypass is sent unrecorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EscrowKeyUnlockRequested {
    /// The device's serial number.
    pub serial_number: String,
    /// Its product type, e.g. `iPad4,1`.
    pub product_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
    /// For Apple's audit: the organization's name, as the admin gave it.
    pub org_name: String,
    /// For Apple's audit: who asks for the removal (an email, an LDAP id), as the admin gave it.
    pub guid: String,
    /// The push certificate's topic whose certificate authenticates the request to Apple.
    pub topic: String,
}

/// Apple's answer (or why there was none), correlated with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EscrowKeyUnlockAnswered {
    pub serial_number: String,
    /// Apple's HTTP status: 200 removed; 400 a malformed request; 404 an unknown device or a
    /// wrong bypass code. None when Apple was not reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why Apple was not reached (connection, TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

event_data! {
    EscrowKeyUnlockRequested => "EscrowKeyUnlockRequested" v 1,
    EscrowKeyUnlockAnswered => "EscrowKeyUnlockAnswered" v 1,
}
