//! `GET /v1/api-keys` (admin role): the keys, never their secrets. Keys are created and revoked
//! with `annal api-key` on the server's host.

use axum::extract::State;
use axum::Json;

use super::auth::require;
use super::error::ApiError;
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::service::api_keys::KeyInfo;

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    require(&caller, Action::ManageKeys)?;
    app.admin
        .keys()
        .list()
        .await
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}
