//! Command status across a fan-out (`GET /v1/commands/{command_uuid}`) and cancelling a queued
//! command (`DELETE /v1/devices/{id}/commands/{command_uuid}`).

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::auth::require;
use super::error::ApiError;
use super::queue::service_error;
use super::read::caught_up;
use crate::domain::access::{Action, Caller};
use crate::domain::enrollment::{AdminInput, Input};
use crate::http::AppState;

pub async fn status(
    State(app): State<AppState>,
    _caller: Caller,
    Path(command_uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let position = caught_up(&app).await;
    let fan_out = crate::service::history::fan_out(&app.projector, &command_uuid).await?;
    if fan_out.commands.is_empty() {
        return Err(ApiError::NotFound(format!("no command {command_uuid}")));
    }
    let summary: serde_json::Map<String, Value> = fan_out
        .counts
        .iter()
        .map(|(state, n)| (state.as_str().to_string(), json!(n)))
        .collect();
    Ok(Json(json!({
        "command_uuid": command_uuid,
        "summary": summary,
        "devices": fan_out.commands,
        "position": position,
    })))
}

pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, command_uuid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    require(&caller, Action::Cancel)?;
    let input = Input::Admin(AdminInput::Cancel {
        command_uuid: command_uuid.clone(),
    });
    app.enrollments
        .handle(&id, input, &caller.actor, Utc::now())
        .await
        .map_err(service_error)?;
    Ok(Json(
        json!({"cancelled": true, "enrollment": id, "command_uuid": command_uuid}),
    ))
}
