//! Queueing one command for many enrollments: the part the NanoMDM-style raw endpoint and the
//! JSON endpoint share. Each enrollment gets its own answer (queued, duplicate, or why not),
//! so a fan-out to 10,000 devices reports exactly which ones did not take it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use plist::Dictionary;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::domain::access::Caller;
use crate::domain::enrollment::{AdminInput, Input, Reply};
use crate::http::AppState;
use crate::mdm::command_envelope;

/// Most enrollments one request may name; a bigger fan-out is split by the client.
pub const MAX_FAN_OUT: usize = 10_000;

pub struct Enqueue {
    pub command_uuid: String,
    pub request_type: String,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Wake the enrollments that took the command with an APNs push (coalesced per device).
    pub push: bool,
}

/// Splits `a,b,c` (NanoMDM's path form), refusing an empty or oversized list.
pub fn enrollment_ids<S: AsRef<str>>(ids: &[S]) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = ids
        .iter()
        .flat_map(|s| s.as_ref().split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::invalid("no enrollment ids given"));
    }
    if ids.len() > MAX_FAN_OUT {
        return Err(ApiError::invalid(format!(
            "{} enrollments in one request; at most {MAX_FAN_OUT}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// A CommandUUID names the command in the device's answers, the read models' keys and every
/// export: 1–128 letters, digits, `-`, `_` or `.` (UUIDs and Apple's example names fit).
pub fn check_command_uuid(uuid: &str) -> Result<(), ApiError> {
    let ok = (1..=128).contains(&uuid.len())
        && uuid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            message: "a CommandUUID is 1–128 letters, digits, '-', '_' or '.'".into(),
            path: Some("command_uuid".into()),
        })
    }
}

/// Queues the command `command_for(id)` builds for each enrollment (ClearPasscode differs per
/// device: it carries that device's UnlockToken). Answers 200 when every enrollment took it,
/// 207 with per-enrollment results otherwise.
/// Enrollments queued to at once within one fan-out.
const FAN_OUT_CONCURRENCY: usize = 256;

pub async fn enqueue_each<F, Fut>(
    app: &AppState,
    caller: &Caller,
    ids: &[String],
    req: &Enqueue,
    command_for: F,
) -> Response
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Dictionary, ApiError>>,
{
    if let Err(e) = check_command_uuid(&req.command_uuid) {
        return e.into_response();
    }
    let sealed = annal_schemas::carries_secret(&req.request_type);
    // Enrollments are independent streams: queueing to many at once lets their appends share
    // group commits, which is what makes a 10,000-device fan-out take seconds, not minutes.
    let entries: Vec<(String, Value, bool)> = futures::stream::iter(ids.iter().cloned())
        .map(|id: String| {
            let command = command_for(id.clone());
            async move {
                match queue_one(app, caller, &id, req, sealed, command.await).await {
                    Ok((command_uuid, duplicate)) => (
                        id,
                        json!({"queued": true, "duplicate": duplicate, "command_uuid": command_uuid}),
                        true,
                    ),
                    Err(e) => (id, json!({"queued": false, "error": error_json(&e)}), false),
                }
            }
        })
        .buffer_unordered(FAN_OUT_CONCURRENCY)
        .collect()
        .await;
    let all_ok = entries.iter().all(|(_, _, ok)| *ok);
    let results: BTreeMap<String, Value> = entries.into_iter().map(|(id, entry, _)| (id, entry)).collect();
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    // When every enrollment already had the command (an idempotent retry), the answer names
    // the CommandUUID that was queued, not the one this request proposed.
    let queued: std::collections::BTreeSet<&str> = results
        .values()
        .filter_map(|r| r.get("command_uuid").and_then(|u| u.as_str()))
        .collect();
    let command_uuid = match (queued.len(), queued.first()) {
        (1, Some(only)) if results.values().all(|r| r["queued"] == true) => only.to_string(),
        _ => req.command_uuid.clone(),
    };
    let queued_ids: Vec<String> = results
        .iter()
        .filter(|(_, r)| r["queued"] == true)
        .map(|(id, _)| id.clone())
        .collect();
    let push = match (req.push, app.push.topic().is_some()) {
        (false, _) => "not-requested",
        (true, false) => "not-configured",
        (true, true) => {
            app.push.request(queued_ids, "enqueue");
            "requested"
        }
    };
    let body = json!({
        "command_uuid": command_uuid,
        "request_type": req.request_type,
        // NanoMDM's field name, so its tools read the answer unchanged.
        "status": results,
    });
    let mut response = (code, Json(body)).into_response();
    // Said plainly in the answer rather than silently skipped.
    response
        .headers_mut()
        .insert("x-annal-push", axum::http::HeaderValue::from_static(push));
    response
}

async fn queue_one(
    app: &AppState,
    caller: &Caller,
    id: &str,
    req: &Enqueue,
    sealed: bool,
    command: Result<Dictionary, ApiError>,
) -> Result<(String, bool), ApiError> {
    let envelope = command_envelope(&req.command_uuid, command?).map_err(|e| ApiError::invalid(e.to_string()))?;
    let payload = if sealed {
        app.data_key
            .seal_raw(&envelope)
            .map_err(|e| ApiError::Internal(e.to_string()))?
    } else {
        envelope
    };
    let input = Input::Admin(AdminInput::Enqueue {
        command_uuid: req.command_uuid.clone(),
        request_type: req.request_type.clone(),
        payload,
        sealed,
        idempotency_key: req.idempotency_key.clone(),
        reason: req.reason.clone(),
        expires_at: req.expires_at,
    });
    let outcome = app
        .enrollments
        .handle(id, input, &caller.actor, Utc::now())
        .await
        .map_err(service_error)?;
    // A retry with a known idempotency key answers with the command the first request queued,
    // whose CommandUUID may differ from this request's.
    match outcome.reply {
        Some(Reply::Queued {
            command_uuid,
            duplicate,
        }) => Ok((command_uuid, duplicate)),
        _ => Ok((req.command_uuid.clone(), false)),
    }
}

pub fn service_error(e: crate::service::enrollments::ServiceError) -> ApiError {
    use crate::domain::enrollment::Refusal;
    use crate::service::enrollments::ServiceError;
    match e {
        ServiceError::Refused(Refusal::NotAuthenticated) => ApiError::NotFound("no such enrollment".into()),
        ServiceError::Refused(Refusal::UnknownCommand(uuid)) => {
            ApiError::NotFound(format!("no pending command {uuid} for this enrollment"))
        }
        ServiceError::Refused(r) => ApiError::Conflict(r.to_string()),
        ServiceError::Store(e) => e.into(),
        ServiceError::Contention(s) => ApiError::Unavailable(format!("contention on {s}")),
        other => ApiError::Internal(other.to_string()),
    }
}

pub fn error_json(e: &ApiError) -> Value {
    e.body()
}
