//! `POST /v1/push/{ids}` (NanoMDM's push endpoint): pushes each enrollment now and answers with
//! APNs' verdict per enrollment; `GET /v1/push-certificate`: the installed push certificate, its
//! expiry warning and whether APNs refused it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};

use super::auth::require;
use super::error::ApiError;
use super::queue::{enrollment_ids, service_error};
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::push::{PushError, PushStatus};

/// Pushes sent at once for one API call; the APNs client bounds the total across calls.
const CONCURRENT: usize = 64;

pub async fn push(State(app): State<AppState>, caller: Caller, Path(ids): Path<String>) -> Result<Response, ApiError> {
    require(&caller, Action::Push)?;
    let ids = enrollment_ids(&[ids])?;
    let status = app.push.status();
    if !status.installed {
        return Err(ApiError::PushUnavailable(PushError::NoCertificate.to_string()));
    }
    if let Some(reason) = status.unusable_reason {
        return Err(ApiError::PushUnavailable(PushError::Unusable(reason).to_string()));
    }
    if let Some(s) = status.suspended {
        return Err(ApiError::PushUnavailable(format!(
            "pushes are suspended for {} s more: APNs refused the push certificate ({})",
            s.resumes_in_secs, s.reason
        )));
    }
    let results: Vec<(String, Value, bool)> = futures::stream::iter(ids)
        .map(|id| {
            let push = app.push.clone();
            async move {
                let (entry, ok) = match push.push_now(&id, "manual").await {
                    Ok(r) => {
                        let ok = r.outcome == "accepted";
                        let mut entry = json!({
                            "outcome": r.outcome,
                            "push_id": r.push_id,
                            "http_status": r.status,
                        });
                        match (ok, r.apns_id, r.reason) {
                            (true, Some(apns_id), _) => entry["push_result"] = apns_id.into(),
                            (_, _, Some(reason)) => entry["push_error"] = reason.into(),
                            _ => {}
                        }
                        if let Some(secs) = r.retry_in_secs {
                            entry["retry_in_secs"] = secs.into();
                        }
                        (entry, ok)
                    }
                    Err(e) => (
                        json!({ "push_error": e.to_string(), "error": error_of(e).body() }),
                        false,
                    ),
                };
                (id, entry, ok)
            }
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let all_ok = results.iter().all(|(_, _, ok)| *ok);
    let status: BTreeMap<String, Value> = results.into_iter().map(|(id, entry, _)| (id, entry)).collect();
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((code, Json(json!({ "status": status }))).into_response())
}

fn error_of(e: PushError) -> ApiError {
    match e {
        PushError::Service(s) => service_error(s),
        PushError::NoPush(_) | PushError::TopicMismatch { .. } => ApiError::Conflict(e.to_string()),
        PushError::NoCertificate | PushError::Unusable(_) | PushError::Suspended { .. } => {
            ApiError::PushUnavailable(e.to_string())
        }
        PushError::Secret(_) => ApiError::Internal(e.to_string()),
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
