//! `/healthz`: the process answers. `/readyz`: the event store answers too (a load balancer
//! should stop sending devices to a node whose store is unreachable: they would get 503s).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.head().await {
        Ok(head) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "head_position": head.position })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": e.to_string() })),
        ),
    }
}
