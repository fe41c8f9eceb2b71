//! `POST /v1/enrollment-tokens` and `DELETE /v1/enrollment-tokens/{id}` (admin role): tokens
//! for `GET /enroll`. A token is an API key with the `enrollment` role: the log keeps only its
//! SHA-256 (`ApiKeyCreated`), and it opens nothing but the enrollment profile.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::error::ApiError;
use super::extract::Json;
use crate::http::AppState;
use crate::service::admin::{keys, Caller};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    let created = keys::create_token(app.admin.keys(), &caller, &body.name, &app.enroll.base_url).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    keys::revoke_token(app.admin.keys(), &caller, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
