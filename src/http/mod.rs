//! The HTTP server. For now: health and readiness; the MDM and admin endpoints come with the
//! protocol-service and admin-API issues.

mod health;

use std::sync::Arc;

use axum::Router;

use crate::store::EventStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .with_state(state)
}
