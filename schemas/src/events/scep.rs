//! SCEP one-time challenges. Each lives in its own stream, `scep-challenge-<challenge_sha256>`,
//! so consuming it is an append with an expected version: of two nodes accepting the same
//! challenge at once, only one append lands. The challenge itself is never recorded.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

/// An admin asked for a one-time SCEP challenge (stream version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScepChallengeIssued {
    /// Hex SHA-256 of the challenge (a 256-bit random value, so no slow hash is needed).
    pub challenge_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The enrollment token (key id) whose profile carries the challenge: revoking the token
    /// voids it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_token_id: Option<String>,
    /// The device the challenge is for: reported by the device (over-the-air enrollment) or
    /// bound by an admin (`admin_bound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin_bound: bool,
}

/// A SCEP request used the challenge (stream version 2); it is not accepted again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScepChallengeConsumed {
    pub challenge_sha256: String,
    /// The SCEP transactionID of the request that used it.
    pub transaction_id: String,
    /// The subject the request asked for.
    pub subject: String,
}

event_data! {
    ScepChallengeIssued => "ScepChallengeIssued" v 1,
    ScepChallengeConsumed => "ScepChallengeConsumed" v 1,
}
