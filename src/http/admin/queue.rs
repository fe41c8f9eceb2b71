//! An enqueue's answer as HTTP: the service's verdict as the status, each enrollment's
//! outcome under NanoMDM's `status` field, and whether a push was asked for in `x-annal-push`.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::service::commands::{EnqueueResult, Overall, PushRequest, TargetOutcome};

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
    use crate::service::commands::Overall;
    use axum::http::StatusCode;

    #[test]
    fn each_verdict_has_its_status() {
        assert_eq!(status_of(Overall::AllQueued), StatusCode::OK);
        assert_eq!(status_of(Overall::Partial), StatusCode::MULTI_STATUS);
        assert_eq!(status_of(Overall::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
    }
}
