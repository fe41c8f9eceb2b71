//! `POST /v1/identities/{fingerprint}/revoke` and `POST /v1/devices/{id}/forget` (admin role):
//! a revoked certificate is refused (403) from then on, and a forgotten device may enroll
//! again under a new identity. The optional body is `{"reason": "…"}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::http::AppState;
use crate::service::admin::{identities, Caller};

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let revoked = identities::revoke(&app.enrollments, &caller, &fingerprint, &body).await?;
    Ok(Json(json!(revoked)))
}

pub async fn forget(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    identities::forget(&app.enrollments, &caller, &id, &body).await?;
    Ok(Json(json!({"forgotten": true, "enrollment": id})))
}
