//! `POST /v1/identities/{fingerprint}/revoke` and `POST /v1/devices/{id}/forget` (admin role):
//! a revoked certificate is refused (403) from then on, and a forgotten device may enroll
//! again under a new identity.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::require;
use super::error::ApiError;
use super::queue::service_error;
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::service::identities;

/// Longest reason kept in the log.
const MAX_REASON: usize = 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

fn reason(body: &Bytes) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: Reason =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    match parsed.reason {
        Some(r) if r.len() > MAX_REASON => Err(ApiError::Invalid {
            message: format!("reason is longer than {MAX_REASON} bytes"),
            path: Some("reason".into()),
        }),
        other => Ok(other),
    }
}

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    require(&caller, Action::ManageIdentities)?;
    if !identities::is_fingerprint(&fingerprint) {
        return Err(ApiError::Invalid {
            message: "a certificate fingerprint is 64 lowercase hex digits (SHA-256 of the DER)".into(),
            path: Some("fingerprint".into()),
        });
    }
    let reason = reason(&body)?;
    let revoked = identities::revoke(&app.enrollments, &fingerprint, reason, &caller.actor)
        .await
        .map_err(service_error)?;
    tracing::info!(actor = %caller.actor, fingerprint = %fingerprint, enrollment = ?revoked.enrollment, "device identity revoked");
    Ok(Json(json!(revoked)))
}

pub async fn forget(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    require(&caller, Action::ManageIdentities)?;
    let reason = reason(&body)?;
    identities::forget(&app.enrollments, &id, reason, &caller.actor)
        .await
        .map_err(service_error)?;
    tracing::info!(actor = %caller.actor, enrollment = %id, "device forgotten");
    Ok(Json(json!({"forgotten": true, "enrollment": id})))
}
