//! Check-in messages (`application/x-apple-aspen-mdm-checkin`) and the device's Idle poll.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{event_data, DeviceRef, IdentityRef};
use crate::Sealed;

/// `Authenticate`: a device starts (or restarts) its enrollment. Begins a new generation: the
/// previous generation's queue is cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Authenticate {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    pub topic: String,
    /// 1 for the first enrollment of this stream, then +1 for every later Authenticate.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
}

/// `TokenUpdate`: the push token, PushMagic and (device channel) UnlockToken. The first one
/// completes enrollment; later ones may change any value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenUpdate {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    pub topic: String,
    /// Hex of the APNs device token (`Token`); needed to address pushes, useless without the
    /// push certificate and PushMagic.
    pub token_hex: String,
    pub push_magic: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_token: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_configuration: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_short_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_long_name: Option<String>,
    /// How many TokenUpdates this enrollment has sent since it enrolled, this one included (1:
    /// the first, when a server sends its initial commands). NanoMDM's `token_update_tally`;
    /// absent in events recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_update_tally: Option<u64>,
}

/// `CheckOut`: the MDM profile was removed; the enrollment ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOut {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    pub topic: String,
    /// Not sent by this channel: its device channel checked out or enrolled again, which ends
    /// every user channel of the device (`identity` is then the device channel's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_device_channel: bool,
}

/// `UserAuthenticate`: a macOS user channel asks to be managed; `outcome` is what Annal answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserAuthenticate {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_short_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_long_name: Option<String>,
    /// Whether the message carried a `DigestResponse` (the second step).
    pub digest_response_present: bool,
    /// `declined` (410 Gone) or `accepted`.
    pub outcome: String,
}

/// `SetBootstrapToken`: escrow (or, without a token, clear) the macOS bootstrap token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SetBootstrapToken {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_configuration: Option<bool>,
}

/// `GetBootstrapToken`: the device asked for its escrowed token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GetBootstrapToken {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_configuration: Option<bool>,
    /// Whether a token was returned (false: none escrowed).
    pub returned: bool,
}

/// `GetToken`: the device asked for a token of a service (`com.apple.maid`, `com.apple.watch.pairing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GetToken {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    pub token_service_type: String,
    /// `returned` or `refused`, with the reason in `detail`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `DeclarativeManagement`: a request on the DDM channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarativeManagement {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    /// `tokens`, `declaration-items`, `status` or `declaration/<type>/<identifier>`.
    pub endpoint: String,
    /// The HTTP status Annal answered with.
    pub http_status: u16,
    /// The DeclarationsToken served (`tokens`, `declaration-items`): which revision of its
    /// set the device was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declarations_token: Option<String>,
    /// The ServerToken of the declaration served (`declaration/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_token: Option<String>,
}

/// The device polled the command channel with `Status: Idle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Idle {
    pub device: DeviceRef,
    pub identity: IdentityRef,
}

event_data! {
    Authenticate => "Authenticate" v 1,
    TokenUpdate => "TokenUpdate" v 1,
    CheckOut => "CheckOut" v 1,
    UserAuthenticate => "UserAuthenticate" v 1,
    SetBootstrapToken => "SetBootstrapToken" v 1,
    GetBootstrapToken => "GetBootstrapToken" v 1,
    GetToken => "GetToken" v 1,
    DeclarativeManagement => "DeclarativeManagement" v 1,
    Idle => "Idle" v 1,
}
