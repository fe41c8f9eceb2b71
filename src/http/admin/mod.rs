//! The admin API: JSON over HTTPS under /v1. Every endpoint needs an API key (see `auth`);
//! the role decides what it may do (`domain::access`).

mod auth;
mod enqueue;
pub mod error;
mod events;
mod history;
mod queue;
mod render;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use axum::Router;

pub use auth::AdminAuth;

use super::AppState;

pub fn routes(max_body: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/enqueue/{ids}",
            put(enqueue::enqueue).layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/v1/devices/{id}/history", get(history::history))
        .route("/v1/events", get(events::bulk))
        .route("/v1/events/stream", get(events::stream))
}
