//! `PUT /v1/enqueue/{ids}`: queue one raw command plist for one or more enrollments
//! (comma-separated), as NanoMDM's API does. The plist may be a full envelope
//! (`CommandUUID` + `Command`) or a bare `Command` dictionary; a CommandUUID is assigned if
//! absent. Optional headers: `Idempotency-Key`, `X-Annal-Reason`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::json;

use crate::domain::enrollment::{AdminInput, Input, Reply};
use crate::http::AppState;
use crate::mdm::{command_envelope, parse_command};

pub async fn enqueue(
    State(app): State<AppState>,
    Path(ids): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = match app.admin.check(&headers) {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into_response(),
    };
    let (uuid, request_type, command) = match parse_command(&body) {
        Ok(parsed) => parsed,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid command: {e}")).into_response(),
    };
    let command_uuid = uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
    let envelope = match command_envelope(&command_uuid, command) {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid command: {e}")).into_response(),
    };
    let sealed = annal_schemas::carries_secret(&request_type);
    let payload = if sealed {
        match app.data_key.seal_raw(&envelope) {
            Ok(p) => p,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    } else {
        envelope
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut status = BTreeMap::new();
    let mut all_ok = true;
    for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let input = Input::Admin(AdminInput::Enqueue {
            command_uuid: command_uuid.clone(),
            request_type: request_type.clone(),
            payload: payload.clone(),
            sealed,
            idempotency_key: header("Idempotency-Key"),
            reason: header("X-Annal-Reason"),
            expires_at: None,
        });
        let entry = match app.enrollments.handle(id, input, &actor, Utc::now()).await {
            Ok(outcome) => match outcome.reply {
                Some(Reply::Queued {
                    command_uuid,
                    duplicate,
                }) => json!({"queued": true, "command_uuid": command_uuid, "duplicate": duplicate}),
                _ => json!({"queued": true}),
            },
            Err(e) => {
                all_ok = false;
                json!({"queued": false, "error": e.to_string()})
            }
        };
        status.insert(id.to_string(), entry);
    }
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    (
        code,
        Json(json!({ "command_uuid": command_uuid, "request_type": request_type, "status": status })),
    )
        .into_response()
}
