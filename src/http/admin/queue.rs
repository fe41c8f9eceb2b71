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

/// Apple's RequestTypes, exactly spelled (from the embedded schema).
fn known_request_types() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(crate::mdm::commands::request_types)
}

/// Refuses a RequestType that is a case or whitespace variant of one of Apple's (`"EraseDevice "`)
/// or no name at all, whoever queues it: a 400 that names the intended type, not a command that
/// slips past the gates and the sealing rules keyed on the exact name.
pub fn check_request_type(request_type: &str) -> Result<(), ApiError> {
    crate::domain::access::check_spelling(request_type, known_request_types()).map_err(|e| ApiError::Invalid {
        message: e.to_string(),
        path: Some("RequestType".into()),
    })
}

/// Whether a command is stored sealed: when its RequestType carries a secret, and when Annal
/// does not know the RequestType (so cannot tell that it carries none).
pub fn sealed(request_type: &str) -> bool {
    annal_schemas::carries_secret(request_type) || !known_request_types().contains(&request_type)
}

/// Enrollments queued to at once within one fan-out.
const FAN_OUT_CONCURRENCY: usize = 256;

/// Queues the command `command_for(id)` builds for each enrollment (ClearPasscode differs per
/// device: it carries that device's UnlockToken). Answers as `fan_out_status` says: 200 when
/// every enrollment took it, 503 when the store took none, 207 with per-enrollment results
/// otherwise.
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
    let sealed = sealed(&req.request_type);
    // Enrollments are independent streams: queueing to many at once lets their appends share
    // group commits, which is what makes a 10,000-device fan-out take seconds, not minutes.
    let entries: Vec<(String, Value, Taken)> = futures::stream::iter(ids.iter().cloned())
        .map(|id: String| {
            let command = command_for(id.clone());
            async move {
                match queue_one(app, caller, &id, req, sealed, command.await).await {
                    Ok((command_uuid, duplicate)) => (
                        id,
                        json!({"queued": true, "duplicate": duplicate, "command_uuid": command_uuid}),
                        Taken::Yes,
                    ),
                    Err(e) => {
                        let taken = if e.is_unavailable() {
                            Taken::Unavailable
                        } else {
                            Taken::No
                        };
                        (id, json!({"queued": false, "error": error_json(&e)}), taken)
                    }
                }
            }
        })
        .buffer_unordered(FAN_OUT_CONCURRENCY)
        .collect()
        .await;
    let code = fan_out_status(entries.iter().map(|(_, _, taken)| *taken));
    let results: BTreeMap<String, Value> = entries.into_iter().map(|(id, entry, _)| (id, entry)).collect();
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

/// Whether one enrollment took the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Yes,
    /// Refused for good (no such enrollment, a conflict): retrying will not help.
    No,
    /// The store could not take it now.
    Unavailable,
}

/// 200 when every enrollment took the command; 503 when none did because the store is
/// unavailable (the whole request is worth retrying, and a client that sees only the status
/// must not take it for a partial success); 207 with per-enrollment results otherwise.
fn fan_out_status(taken: impl Iterator<Item = Taken>) -> StatusCode {
    let (mut yes, mut no, mut unavailable) = (0, 0, 0);
    for t in taken {
        match t {
            Taken::Yes => yes += 1,
            Taken::No => no += 1,
            Taken::Unavailable => unavailable += 1,
        }
    }
    match (yes, no, unavailable) {
        (_, 0, 0) => StatusCode::OK,
        (0, 0, _) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::MULTI_STATUS,
    }
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

#[cfg(test)]
mod tests {
    use super::{fan_out_status, Taken};
    use axum::http::StatusCode;

    #[test]
    fn a_fan_out_is_503_only_when_the_store_refused_every_enrollment() {
        use Taken::*;
        let status = |t: &[Taken]| fan_out_status(t.iter().copied());
        assert_eq!(status(&[Yes, Yes]), StatusCode::OK);
        assert_eq!(status(&[Unavailable]), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&[Unavailable, Unavailable]), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&[Yes, Unavailable]), StatusCode::MULTI_STATUS);
        assert_eq!(status(&[No, Unavailable]), StatusCode::MULTI_STATUS);
        assert_eq!(status(&[No]), StatusCode::MULTI_STATUS);
    }
}
