//! APNs pushes: every attempt and every answer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event_data;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushAttempted {
    pub push_id: Uuid,
    pub topic: String,
    /// Why it was sent: `enqueue`, `repush` or `manual`.
    pub trigger: String,
    /// 1 for the first try of this push; retries after 429/5xx count up.
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushAccepted {
    pub push_id: Uuid,
    /// APNs' `apns-id` response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_id: Option<String>,
}

/// Schema version 2: the HTTP status and APNs reason are separate fields, and whether the device
/// token is dead (`Unregistered`, `BadDeviceToken`) is decided when the answer is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushFailed {
    pub push_id: Uuid,
    /// The HTTP status APNs answered with; 0 when no answer arrived (connection error).
    pub status: u16,
    /// APNs' `reason` (e.g. `BadDeviceToken`), or the transport error.
    pub reason: String,
    pub token_dead: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// Schema version 1 of PushFailed: one free-text `error`. Kept so that logs written with it still
/// read; see [`crate::upcast`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushFailedV1 {
    pub push_id: Uuid,
    /// `"<status> <reason>"` as APNs answered, or a transport error.
    pub error: String,
}

/// An MDM push certificate was installed (in the stream `push-certificates`). Every node reads
/// the latest one from the log, so a renewal reaches the whole fleet without copying files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushCertificateInstalled {
    /// The APNs topic (the certificate subject's UID).
    pub topic: String,
    pub fingerprint_sha256: String,
    pub serial_hex: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// The certificate chain, PEM (public).
    pub certificate_pem: String,
    /// The private key, PEM, sealed with the data key.
    pub key: crate::Sealed,
    /// The topic of the certificate it replaced, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_topic: Option<String>,
    /// Installed although its topic differs from the one devices enrolled with.
    #[serde(default)]
    pub forced: bool,
}

event_data! {
    PushCertificateInstalled => "PushCertificateInstalled" v 1,
    PushAttempted => "PushAttempted" v 1,
    PushAccepted => "PushAccepted" v 1,
    PushFailed => "PushFailed" v 2,
}
