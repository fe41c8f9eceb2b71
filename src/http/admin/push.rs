//! `POST /v1/push/{ids}` (NanoMDM's push endpoint): pushes each enrollment now and answers with
//! APNs' verdict per enrollment; `GET /v1/push-certificate`: the installed push certificate, its
//! expiry warning and whether APNs refused it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::require;
use super::error::ApiError;
use crate::http::AppState;
use crate::push::PushStatus;
use crate::service::admin::{Action, Caller};
use crate::service::commands::{PushOutcome, PushOverall};

pub async fn push(State(app): State<AppState>, caller: Caller, Path(ids): Path<String>) -> Result<Response, ApiError> {
    let result = app.commands().push_now(&caller, &[ids]).await?;
    let code = match result.overall {
        PushOverall::AllAccepted => StatusCode::OK,
        PushOverall::Partial => StatusCode::MULTI_STATUS,
    };
    let status: BTreeMap<String, Value> = result
        .outcomes
        .into_iter()
        .map(|(id, outcome)| (id, outcome_json(outcome)))
        .collect();
    Ok((code, Json(json!({ "status": status }))).into_response())
}

fn outcome_json(outcome: PushOutcome) -> Value {
    match outcome {
        PushOutcome::Sent { report: r, accepted } => {
            let mut entry = json!({
                "outcome": r.outcome,
                "push_id": r.push_id,
                "http_status": r.status,
            });
            match (accepted, r.apns_id, r.reason) {
                (true, Some(apns_id), _) => entry["push_result"] = apns_id.into(),
                (_, _, Some(reason)) => entry["push_error"] = reason.into(),
                _ => {}
            }
            if let Some(secs) = r.retry_in_secs {
                entry["retry_in_secs"] = secs.into();
            }
            entry
        }
        PushOutcome::Failed { error, kind } => json!({ "push_error": error, "error": ApiError::from(kind).body() }),
    }
}

pub async fn certificate(State(app): State<AppState>, caller: Caller) -> Result<Json<PushStatus>, ApiError> {
    require(&caller, Action::Read)?;
    Ok(Json(app.push.status()))
}

/// Prometheus metrics; scrapers authenticate with an API key like every other caller.
pub async fn metrics(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    require(&caller, Action::Read)?;
    crate::observe::gauges::refresh(&app).await;
    let body = app.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([("content-type", "text/plain; version=0.0.4")], body).into_response())
}
