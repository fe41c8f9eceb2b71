//! `POST /v1/scep/challenges` (admin role): a fresh one-time SCEP challenge for one device's
//! enrollment. The answer is the only place the challenge appears; the log keeps its SHA-256.
//! Bound to a UDID or serial number, the certificate it gets may replace the identity that
//! device is enrolled under (and enrolls no other device).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::auth::require;
use super::error::ApiError;
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::service::scep::{ChallengeContext, ScepServiceError};

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

#[derive(Debug, Serialize)]
pub struct ChallengeCreated {
    challenge: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    udid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
}

fn device_id(value: Option<String>, path: &str) -> Result<Option<String>, ApiError> {
    match value {
        Some(v)
            if v.is_empty() || v.len() > MAX_DEVICE_ID || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Err(ApiError::Invalid {
                message: format!("{path} must be 1–{MAX_DEVICE_ID} letters, digits or '-'"),
                path: Some(path.into()),
            })
        }
        other => Ok(other),
    }
}

pub async fn create_challenge(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<ChallengeCreated>), ApiError> {
    require(&caller, Action::IssueScepChallenge)?;
    let request: ChallengeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ChallengeRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?
    };
    let expires_at = match request.expires_in_seconds {
        None => None,
        Some(s) if (1..=MAX_EXPIRES_IN).contains(&s) => Some(Utc::now() + Duration::seconds(s)),
        Some(_) => {
            return Err(ApiError::Invalid {
                message: format!("expires_in_seconds must be between 1 and {MAX_EXPIRES_IN}"),
                path: Some("expires_in_seconds".into()),
            })
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
    let challenge = app.scep.issue_challenge(&caller.actor, expires_at, context).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChallengeCreated {
            challenge,
            expires_at,
            udid,
            serial_number,
        }),
    ))
}

impl From<ScepServiceError> for ApiError {
    fn from(e: ScepServiceError) -> Self {
        match e {
            ScepServiceError::Store(s) => ApiError::from(s),
            ScepServiceError::Keys(k) => ApiError::Unavailable(k.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
