//! The life of a command: queued → delivered → (NotNow)* → Acknowledged / Error /
//! CommandFormatError, or cancelled / expired while still queued.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{event_data, DeviceRef, IdentityRef};

/// An admin (or the system) queued a command. The command plist itself is the envelope's `raw`
/// (sealed when the command carries a secret: a PIN, an UnlockToken).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandQueued {
    pub command_uuid: String,
    pub request_type: String,
    /// The enrollment generation the command belongs to; a new Authenticate cancels it.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the command's plist in `raw` is sealed.
    pub raw_sealed: bool,
    /// A sealed (secret-bearing) command is delivered only to the identity bound when it was
    /// queued: its fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_fingerprint_sha256: Option<String>,
}

/// The command was handed to the device in reply to a command-channel request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandDelivered {
    pub command_uuid: String,
    pub request_type: String,
    /// 1 for the first delivery; a delivered command that was not answered is sent again.
    pub attempt: u32,
    pub identity: IdentityRef,
}

/// `Status: Acknowledged`. The device's full answer is the envelope's `raw`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandAcknowledged {
    pub command_uuid: String,
    pub request_type: String,
    pub device: DeviceRef,
    pub identity: IdentityRef,
}

/// One entry of the device's `ErrorChain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorChainItem {
    pub error_code: i64,
    pub error_domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localized_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub us_english_description: Option<String>,
}

/// `Status: Error`, or a report Annal ended as an error itself (`reason` says why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandErrored {
    pub command_uuid: String,
    pub request_type: String,
    pub device: DeviceRef,
    pub identity: IdentityRef,
    #[serde(default)]
    pub error_chain: Vec<ErrorChainItem>,
    /// Absent when the device reported `Status: Error`; set when Annal ended the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorReason>,
    /// With `reason: unparseable_report`: what the device said and why the rest was unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<UnparseableReport>,
}

/// Why Annal, not the device, completed a command as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The device answered the command (its `Status` and `CommandUUID` were readable) but the
    /// rest of its report was not: refusing it would make the device send it again forever.
    UnparseableReport,
}

impl ErrorReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::UnparseableReport => "unparseable_report",
        }
    }
}

/// A command-channel report that could be read only in part. The envelope's `raw` holds its
/// first bytes (all of them unless `raw_truncated`), sealed if they may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnparseableReport {
    /// The `Status` the device reported: `Acknowledged`, `Error`, `CommandFormatError`, `NotNow`.
    pub status: String,
    /// What could not be read: the key path and the reason in words.
    pub detail: String,
    /// Length of the body the device sent, in bytes.
    pub raw_length: u64,
    /// Whether `raw` keeps only the first bytes of the body.
    pub raw_truncated: bool,
}

/// `Status: CommandFormatError`: the device could not parse the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandFormatError {
    pub command_uuid: String,
    pub request_type: String,
    pub device: DeviceRef,
    pub identity: IdentityRef,
}

/// `Status: NotNow`: the device cannot run the command now; it stays queued and is skipped for
/// the rest of this command-channel session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandNotNow {
    pub command_uuid: String,
    pub request_type: String,
    pub device: DeviceRef,
    pub identity: IdentityRef,
}

/// Why a queued command will never be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// An admin cancelled it.
    Admin,
    /// The device sent a new Authenticate: a new enrollment generation started.
    Reenrolled,
    /// The device checked out.
    CheckedOut,
    /// A secret-bearing command was due for an identity other than the one it was queued for.
    IdentityChanged,
    /// An admin forgot the device, or revoked its identity.
    Forgotten,
    /// A DeclarativeManagement sync the device had not fetched, replaced by a newer one.
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandCancelled {
    pub command_uuid: String,
    pub reason: CancelReason,
    /// Why an admin cancelled it, in their words (`reason` says only that an admin did); who
    /// did is the event's actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The command's `expires_at` passed before the device answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandExpired {
    pub command_uuid: String,
    pub expired_at: DateTime<Utc>,
}

event_data! {
    CommandQueued => "CommandQueued" v 1,
    CommandDelivered => "CommandDelivered" v 1,
    CommandAcknowledged => "CommandAcknowledged" v 1,
    CommandErrored => "CommandErrored" v 1,
    CommandFormatError => "CommandFormatError" v 1,
    CommandNotNow => "CommandNotNow" v 1,
    CommandCancelled => "CommandCancelled" v 1,
    CommandExpired => "CommandExpired" v 1,
}
