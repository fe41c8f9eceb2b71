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

event_data! {
    PushAttempted => "PushAttempted" v 1,
    PushAccepted => "PushAccepted" v 1,
    PushFailed => "PushFailed" v 2,
}
