//! `PUT /v1/enqueue/{ids}`: queue one raw command plist for one or more enrollments
//! (comma-separated), as NanoMDM's API does, so its tools work unchanged. The plist may be a
//! full envelope (`CommandUUID` + `Command`) or a bare `Command` dictionary; a CommandUUID is
//! assigned if absent. Optional headers: `Idempotency-Key`, `X-Annal-Reason` (required for a
//! destructive command, which NanoMDM's tools do not send: deliberately not NanoMDM's
//! behaviour), `X-Annal-Confirm-Count` (required for a destructive command to more than ten
//! devices); `?nopush=<anything>` queues without pushing (NanoMDM's parameter). PUT and POST
//! alike, as NanoMDM; the answer is NanoMDM's (see `nanomdm_answer`).
//!
//! Also the answer of every enqueue (this one and `POST /v1/commands`): the service's verdict
//! as the status, each enrollment's outcome under NanoMDM's `status` field, and whether a push
//! was asked for in `x-annal-push`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::commands::{CommandSource, EnqueueRequest, EnqueueResult, Overall, PushRequest, TargetOutcome};

pub async fn enqueue(
    State(app): State<AppState>,
    caller: Caller,
    Path(ids): Path<String>,
    Query(q): Query<EnqueueQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // UTF-8, not only ASCII: a reason is written in the admin's language.
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::to_string)
    };
    // NanoMDM skips the push for any value of `nopush`, `0` included.
    let no_push = q.nopush.as_deref().is_some_and(|v| !v.is_empty());
    let req = EnqueueRequest {
        targets: vec![ids],
        selection: None,
        command: CommandSource::Raw(body),
        idempotency_key: header("Idempotency-Key"),
        reason: header("X-Annal-Reason"),
        confirm_count: match header("X-Annal-Confirm-Count").map(|v| v.trim().parse::<usize>()) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                return nanomdm_refusal(ApiError::invalid_at(
                    "X-Annal-Confirm-Count is not a number of devices",
                    "confirm_count",
                ))
            }
        },
        expires_at: None,
        no_push,
    };
    match app.commands().enqueue(&caller, req).await {
        Ok(result) => nanomdm_answer(result, no_push),
        Err(e) => nanomdm_refusal(ApiError::from(e)),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct EnqueueQuery {
    /// Any non-empty value (`0` too, as NanoMDM reads it) queues without pushing.
    pub nopush: Option<String>,
}

/// NanoMDM's answer: `status` per enrollment with `command_error` for one that did not take
/// the command (what its Go clients read; Annal's `queued` and `error` ride along), `no_push`
/// when asked, 200 when every enrollment took it, 207 when some, 500 when none (503 when the
/// store was unavailable: worth retrying).
fn nanomdm_answer(result: EnqueueResult, no_push: bool) -> Response {
    let queued = result
        .outcomes
        .values()
        .filter(|o| matches!(o, TargetOutcome::Queued { .. }))
        .count();
    let code = match result.overall {
        Overall::Partial if queued == 0 => StatusCode::INTERNAL_SERVER_ERROR,
        overall => status_of(overall),
    };
    let push = push_header(result.push);
    let status: BTreeMap<String, Value> = result
        .outcomes
        .into_iter()
        .map(|(id, outcome)| {
            let mut entry = outcome_json(outcome);
            if let Some(message) = entry.pointer("/error/message").cloned() {
                entry["command_error"] = message;
            }
            (id, entry)
        })
        .collect();
    let mut body = json!({
        "command_uuid": result.command_uuid,
        "request_type": result.request_type,
        "status": status,
    });
    if no_push {
        body["no_push"] = true.into();
    }
    let mut response = (code, Json(body)).into_response();
    response
        .headers_mut()
        .insert("x-annal-push", HeaderValue::from_static(push));
    response
}

/// A request NanoMDM's route refuses as a whole: its `command_error` string (what NanoMDM's
/// clients read), with Annal's error object beside it. The status stays Annal's precise one:
/// NanoMDM answers a command that does not parse with 500, which tells a client to retry what
/// can never succeed; its clients treat any status but 200 and 207 as a failure either way.
fn nanomdm_refusal(error: ApiError) -> Response {
    let (status, _) = error.status_and_code();
    let body = json!({ "command_error": error.to_string(), "error": error.body() });
    (status, Json(body)).into_response()
}

pub fn status_of(overall: Overall) -> StatusCode {
    match overall {
        Overall::AllQueued => StatusCode::OK,
        Overall::Partial => StatusCode::MULTI_STATUS,
        Overall::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn push_header(push: PushRequest) -> &'static str {
    match push {
        PushRequest::NotRequested => "not-requested",
        PushRequest::NotConfigured => "not-configured",
        PushRequest::Requested => "requested",
    }
}

fn outcome_json(outcome: TargetOutcome) -> Value {
    match outcome {
        TargetOutcome::Queued {
            command_uuid,
            duplicate,
        } => json!({"queued": true, "duplicate": duplicate, "command_uuid": command_uuid}),
        TargetOutcome::Refused(e) => json!({"queued": false, "error": ApiError::from(e).body()}),
    }
}

pub fn answer(result: EnqueueResult) -> Response {
    let code = status_of(result.overall);
    let push = push_header(result.push);
    let results: BTreeMap<String, Value> = result
        .outcomes
        .into_iter()
        .map(|(id, outcome)| (id, outcome_json(outcome)))
        .collect();
    let body = json!({
        "command_uuid": result.command_uuid,
        "request_type": result.request_type,
        // NanoMDM's field name, so its tools read the answer unchanged.
        "status": results,
    });
    let mut response = (code, Json(body)).into_response();
    // Said plainly in the answer rather than silently skipped.
    response
        .headers_mut()
        .insert("x-annal-push", HeaderValue::from_static(push));
    response
}

#[cfg(test)]
mod tests {
    use super::status_of;
    use crate::service::admin::AdminError;
    use crate::service::commands::{Overall, TargetOutcome};
    use axum::http::StatusCode;

    #[test]
    fn each_verdict_has_its_status() {
        assert_eq!(status_of(Overall::AllQueued), StatusCode::OK);
        assert_eq!(status_of(Overall::Partial), StatusCode::MULTI_STATUS);
        assert_eq!(status_of(Overall::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_fan_out_is_503_only_when_the_store_refused_every_enrollment() {
        #[derive(Clone, Copy)]
        enum Taken {
            Yes,
            No,
            Unavailable,
        }
        use Taken::*;
        let status = |t: &[Taken]| {
            let outcomes: Vec<TargetOutcome> = t
                .iter()
                .map(|t| match t {
                    Yes => TargetOutcome::Queued {
                        command_uuid: "C".into(),
                        duplicate: false,
                    },
                    No => TargetOutcome::Refused(AdminError::Conflict("not enrolled".into())),
                    Unavailable => TargetOutcome::Refused(AdminError::Unavailable("down".into())),
                })
                .collect();
            status_of(Overall::of(&outcomes))
        };
        assert_eq!(status(&[Yes, Yes]), StatusCode::OK);
        assert_eq!(status(&[Unavailable]), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&[Unavailable, Unavailable]), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&[Yes, Unavailable]), StatusCode::MULTI_STATUS);
        assert_eq!(status(&[No, Unavailable]), StatusCode::MULTI_STATUS);
        assert_eq!(status(&[No]), StatusCode::MULTI_STATUS);
    }
}
