//! `POST /v1/enrollment-tokens` and `DELETE /v1/enrollment-tokens/{id}` (admin role): tokens
//! for `GET /enroll`. A token is an API key with the `enrollment` role: the log keeps only its
//! SHA-256 (`ApiKeyCreated`), and it opens nothing but the enrollment profile.

use annal_schemas::events::apikey::Role;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::auth::require;
use super::error::ApiError;
use super::extract::Json;
use crate::domain::access::{Action, Caller};
use crate::domain::api_keys::KeyRefusal;
use crate::http::AppState;
use crate::service::api_keys::ApiKeyError;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
}

#[derive(Debug, serde::Serialize)]
pub struct CreatedToken {
    token_id: String,
    name: String,
    /// Shown once.
    token: String,
    /// `<base-url>/enroll?token=…`.
    enroll_url: String,
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    require(&caller, Action::ManageKeys)?;
    let (token, info) = app
        .admin
        .keys()
        .create(&body.name, Role::Enrollment, &caller.actor)
        .await
        .map_err(key_error)?;
    let enroll_url = format!("{}/enroll?token={token}", app.enroll.base_url);
    let created = CreatedToken {
        token_id: info.key_id,
        name: info.name,
        token,
        enroll_url,
    };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Action::ManageKeys)?;
    let keys = app.admin.keys();
    let listed = keys.list().await.map_err(key_error)?;
    // Only enrollment tokens: other keys are revoked with `annal api-key revoke`.
    if !listed
        .iter()
        .any(|k| k.key_id == token_id && k.role == Role::Enrollment)
    {
        return Err(ApiError::NotFound(format!("no enrollment token {token_id:?}")));
    }
    keys.revoke(&token_id, None, &caller.actor).await.map_err(key_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_error(e: ApiKeyError) -> ApiError {
    match e {
        ApiKeyError::Refused(KeyRefusal::AlreadyRevoked(id)) => {
            ApiError::Conflict(format!("enrollment token {id:?} is already revoked"))
        }
        ApiKeyError::Refused(refusal) => ApiError::Invalid {
            message: refusal.to_string(),
            path: Some("name".to_owned()),
        },
        other => ApiError::Unavailable(other.to_string()),
    }
}
