//! One-time SCEP challenges issued by an admin for one device's enrollment. Bound to a UDID
//! or serial number, the certificate it gets may replace the identity that device is enrolled
//! under (and enrolls no other device).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{authorize, Action, AdminError, Caller};
use crate::service::scep::{ChallengeContext, ScepService, ScepServiceError};

/// Longest lifetime a challenge may be given: a year.
const MAX_EXPIRES_IN: i64 = 365 * 24 * 3600;
/// Longer than any UDID or serial number Apple assigns.
const MAX_DEVICE_ID: usize = 128;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    /// Seconds until the challenge expires; none: it stays valid until used.
    expires_in_seconds: Option<i64>,
    /// The device the certificate is for.
    udid: Option<String>,
    serial_number: Option<String>,
}

/// No `Debug`: it carries the challenge in clear.
#[derive(Serialize)]
pub struct ChallengeCreated {
    /// The only place the challenge appears; the log keeps its SHA-256.
    pub challenge: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
}

fn device_id(value: Option<String>, path: &str) -> Result<Option<String>, AdminError> {
    match value {
        Some(v)
            if v.is_empty() || v.len() > MAX_DEVICE_ID || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Err(AdminError::invalid_at(
                format!("{path} must be 1–{MAX_DEVICE_ID} letters, digits or '-'"),
                path,
            ))
        }
        other => Ok(other),
    }
}

/// `body` is the optional JSON request; an empty one asks for an unbound challenge that
/// never expires.
pub async fn issue(scep: &ScepService, caller: &Caller, body: &[u8]) -> Result<ChallengeCreated, AdminError> {
    authorize(caller, Action::IssueScepChallenge)?;
    let request: ChallengeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ChallengeRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| AdminError::invalid(format!("invalid JSON body: {e}")))?
    };
    let expires_at = match request.expires_in_seconds {
        None => None,
        Some(s) if (1..=MAX_EXPIRES_IN).contains(&s) => Some(Utc::now() + Duration::seconds(s)),
        Some(_) => {
            return Err(AdminError::invalid_at(
                format!("expires_in_seconds must be between 1 and {MAX_EXPIRES_IN}"),
                "expires_in_seconds",
            ))
        }
    };
    let udid = device_id(request.udid, "udid")?;
    let serial_number = device_id(request.serial_number, "serial_number")?;
    let context = ChallengeContext {
        enrollment_token_id: None,
        admin_bound: udid.is_some() || serial_number.is_some(),
        udid: udid.clone(),
        serial_number: serial_number.clone(),
    };
    let challenge = scep
        .issue_challenge(&caller.actor, expires_at, context)
        .await
        .map_err(challenge_error)?;
    Ok(ChallengeCreated {
        challenge,
        expires_at,
        udid,
        serial_number,
    })
}

/// What a failure to issue a challenge means to its caller.
pub fn challenge_error(e: ScepServiceError) -> AdminError {
    match e {
        ScepServiceError::Store(s) => s.into(),
        ScepServiceError::Keys(k) => AdminError::Unavailable(k.to_string()),
        other => AdminError::Internal(other.to_string()),
    }
}
