//! `POST /v1/push/{ids}` (NanoMDM's push endpoint): pushes each enrollment now and answers with
//! APNs' verdict per enrollment, with NanoMDM's statuses; `GET /v1/push-certificate`: the installed push certificate, its
//! expiry warning and whether APNs refused it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::require;
use super::error::{ApiError, NanoMdmError};
use crate::http::AppState;
use crate::push::PushStatus;
use crate::service::admin::{Action, AdminError, Caller};
use crate::service::commands::{targets, PushOutcome, PushOverall};

/// Answers as NanoMDM does: 200 when APNs accepted every push, 207 when some, 500 when none,
/// and 500 with each enrollment's `push_error` when nothing can be pushed at all (no push
/// certificate, one APNs refused).
pub async fn push(State(app): State<AppState>, caller: Caller, Path(ids): Path<String>) -> Result<Response, ApiError> {
    let result = match app.commands().push_now(&caller, std::slice::from_ref(&ids)).await {
        Ok(result) => result,
        Err(e @ AdminError::PushUnavailable(_)) => {
            let message = e.to_string();
            let status: BTreeMap<String, Value> = targets(&[ids])?
                .into_iter()
                .map(|id| (id, json!({ "push_error": message })))
                .collect();
            // NanoMDM's fields, and Annal's error object for scripts written against it.
            let body = json!({ "status": status, "push_error": message, "error": ApiError::from(e).body() });
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let code = match result.overall {
        PushOverall::AllAccepted => StatusCode::OK,
        PushOverall::Partial => StatusCode::MULTI_STATUS,
        PushOverall::NoneAccepted => StatusCode::INTERNAL_SERVER_ERROR,
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

/// `GET /v1/pushcert` (NanoMDM): the installed push certificate's topic and expiry, read from
/// the log (so right after a `PUT` too, before the nodes have loaded it).
pub async fn pushcert(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    require(&caller, Action::Read)?;
    let installed = crate::push::installed::latest(app.store.as_ref(), &app.data_key)
        .await
        .map_err(|e| ApiError::from(AdminError::Unavailable(e.to_string())))?;
    match installed {
        Some(i) => Ok(Json(json!({"topic": i.event.topic, "not_after": i.event.not_after})).into_response()),
        None => Err(AdminError::NotFound("no push certificate is installed".into()).into()),
    }
}

/// `PUT /v1/pushcert` (NanoMDM): installs the PEM certificate and key in the body; admin role,
/// and refused (409) when its topic is not the enrolled devices' (see `service::admin::push_cert`).
/// Errors come in NanoMDM's shape (`{"error": "<message>"}`), which its clients read.
pub async fn install_pushcert(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: axum::body::Bytes,
) -> Result<Response, NanoMdmError> {
    let caller = caller?;
    let event = crate::service::admin::push_cert::install(app.store.as_ref(), &app.data_key, &caller, &body).await?;
    Ok(Json(json!({"topic": event.topic, "not_after": event.not_after})).into_response())
}
