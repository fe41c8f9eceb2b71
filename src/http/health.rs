//! `/healthz`: the process answers. `/readyz`: the event store answers too and took the last
//! append (a load balancer should stop sending devices to a node whose store is unreachable or
//! refuses writes: they would get 503s), and
//! the read models are not far behind the log (the admin API would wait on them, and the
//! queue depth and re-pushes they drive would be stale).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let position = state.queries().position();
    // The head may read fine while every append fails (a full disk): this node cannot serve.
    if state.observer.writes.refusing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": "the event store refuses writes" })),
        );
    }
    match crate::observe::gauges::projection_lag(&state).await {
        // /readyz needs no key: the error (database names, hosts) goes to the log, not the answer.
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the event store cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "error": "the event store cannot be read" })),
            )
        }
        Ok((_, Some(lag))) if lag > state.observer.ready_max_lag => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "lagging",
                "projection_position": position,
                "projection_lag": lag,
                "max_lag": state.observer.ready_max_lag,
            })),
        ),
        Ok((head, lag)) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "head_position": head,
                "projection_position": position,
                "projection_lag": lag,
            })),
        ),
    }
}

/// `GET /version`, as NanoMDM answers it (no key needed): tools check what they talk to.
pub async fn version() -> Json<Value> {
    Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }))
}
