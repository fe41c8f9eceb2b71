//! Every event type Annal records. Field names follow Apple's protocol keys in snake_case.
//! Secrets are [`Sealed`](crate::Sealed); the device's original plist is the envelope's `raw`.

pub mod ade;
pub mod apikey;
pub mod checkin;
pub mod command;
pub mod console;
pub mod declaration;
pub mod escrow;
pub mod group;
pub mod identity;
pub mod push;
pub mod scep;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who sent a device message: the enrollment's identifiers as the message carried them.
/// Device channel messages carry `UDID` (device enrollment) or `EnrollmentID` (user enrollment);
/// user channel messages add the user keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_user_id: Option<String>,
}

/// The verified identity a device request was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityRef {
    /// Hex SHA-256 of the identity certificate's DER.
    pub fingerprint_sha256: String,
    /// How the identity was proven: `mtls` or `mdm-signature`.
    pub proof: String,
    /// The query parameters of the URL the request came on (the enrollment profile's
    /// CheckInURL or ServerURL), the first value of each name, as the device sent them:
    /// MicroMDM's and NanoMDM's webhook `url_params`. Kept beside the identity because they say
    /// which profile the device enrolled with; they prove nothing and nothing trusts them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub url_params: std::collections::BTreeMap<String, String>,
}

macro_rules! event_data {
    ($($ty:ty => $name:literal v $version:literal),+ $(,)?) => {
        $(impl crate::catalog::EventData for $ty {
            const EVENT_TYPE: &'static str = $name;
            const SCHEMA_VERSION: u32 = $version;
        })+
    };
}
pub(crate) use event_data;
