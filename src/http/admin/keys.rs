//! `GET /v1/api-keys` (admin role): the keys, never their secrets. Keys are created and revoked
//! with `annal api-key` on the server's host.

use axum::extract::State;
use axum::Json;

use super::error::ApiError;
use crate::http::AppState;
use crate::service::admin::keys::{self, KeyInfo};
use crate::service::admin::Caller;

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    Ok(Json(keys::list(app.admin.keys(), &caller).await?))
}
