//! Command status across a fan-out (`GET /v1/commands/{command_uuid}`) and cancelling a queued
//! command (`DELETE /v1/devices/{id}/commands/{command_uuid}`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::reason_header;
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::commands::CancelRequest;

pub async fn status(
    State(app): State<AppState>,
    _caller: Caller,
    Path(command_uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let answer = app.queries().fan_out(&command_uuid).await?;
    let (fan_out, position) = (answer.value, answer.position);
    if fan_out.commands.is_empty() {
        return Err(ApiError::not_found(format!("no command {command_uuid}")));
    }
    let summary: serde_json::Map<String, Value> = fan_out
        .counts
        .iter()
        .map(|(state, n)| (state.as_str().to_string(), json!(n)))
        .collect();
    // Sent to a group or filter: whom it meant, as recorded before anything was queued.
    let targeting = app.groups.recorded(&command_uuid).await?;
    let mut body = json!({
        "command_uuid": command_uuid,
        "summary": summary,
        "devices": fan_out.commands,
        "position": position,
    });
    if !targeting.is_empty() {
        body["targeting"] = json!(targeting);
    }
    Ok(Json(body))
}

/// Why a command is cancelled: the `X-Annal-Reason` header, as for an enqueue.
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path((target, command_uuid)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let reason = reason_header(&headers)?;
    let request = CancelRequest {
        target,
        command_uuid,
        reason,
    };
    let cancelled = app.commands().cancel(&caller, request).await?;
    Ok(Json(
        json!({"cancelled": true, "enrollment": cancelled.enrollment, "command_uuid": cancelled.command_uuid}),
    ))
}
