//! Admin API keys. The key itself is shown once at creation and never stored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including EraseDevice and DeviceLock.
    Admin,
    /// Queue non-destructive commands, read everything.
    Operator,
    /// Read only.
    Auditor,
    /// Nothing but fetching the enrollment profile (`GET /enroll`): the token handed to the
    /// people enrolling devices.
    Enrollment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the secret part of the key (a 256-bit random value, so no slow hash is needed).
    pub secret_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyRevoked {
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

event_data! {
    ApiKeyCreated => "ApiKeyCreated" v 1,
    ApiKeyRevoked => "ApiKeyRevoked" v 1,
}
