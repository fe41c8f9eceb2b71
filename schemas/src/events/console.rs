//! Web console sessions, on the `console-sessions` stream: an API key exchanged for a session
//! (`ConsoleSessionStarted`) and the session's end (`ConsoleSessionEnded`). The actor of both is
//! the key the session was opened with (`api-key:<name>`), so the log shows whose session it
//! was however it ended. Neither the key nor the session id is recorded: only the id's SHA-256,
//! which ties a session's end to its start.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::apikey::Role;
use super::event_data;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConsoleSessionStarted {
    /// Hex SHA-256 of the session id (the cookie's value, 256 random bits, never recorded).
    pub session_id_sha256: String,
    /// The role of the key the session acts with.
    pub role: Role,
    /// The key's id; absent for the bootstrap admin key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// Why a console session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleSessionEndReason {
    /// The person signed out.
    SignedOut,
    /// No request for longer than the idle limit.
    Idle,
    /// Older than the absolute limit, however active.
    Expired,
    /// The key the session was opened with was revoked.
    KeyRevoked,
    /// The node held as many sessions as it keeps: the oldest made room.
    Evicted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConsoleSessionEnded {
    /// Hex SHA-256 of the session id, as its `ConsoleSessionStarted` recorded it.
    pub session_id_sha256: String,
    pub reason: ConsoleSessionEndReason,
}

event_data! {
    ConsoleSessionStarted => "ConsoleSessionStarted" v 1,
    ConsoleSessionEnded => "ConsoleSessionEnded" v 1,
}
