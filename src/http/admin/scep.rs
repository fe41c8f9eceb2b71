//! `POST /v1/scep/challenges` (admin role): a fresh one-time SCEP challenge for one device's
//! enrollment (`service::admin::challenges` decides). The answer is the only place the
//! challenge appears; the log keeps its SHA-256.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use crate::http::AppState;
use crate::service::admin::challenges::{self, ChallengeCreated};
use crate::service::admin::Caller;

pub async fn create_challenge(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<ChallengeCreated>), ApiError> {
    let created = challenges::issue(&app.scep, &caller, &body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
