//! The admin API: JSON over HTTPS under /v1. Every endpoint needs an API key (see `auth`);
//! the role decides what it may do (`domain::access`). Reads come from the projections
//! (`read::fresh`), history and the event stream straight from the log.

pub(crate) mod audit;
mod auth;
mod commands;
mod declaration_status;
mod declarations;
mod devices;
mod enqueue;
mod enrollment_tokens;
pub mod error;
mod escrow;
mod events;
pub(crate) mod extract;
mod groups;
mod history;
mod identities;
mod keys;
mod migration;
mod openapi;
mod push;
mod push_health;
pub(crate) mod render;
mod scep;
mod submit;
mod tags;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;

pub use auth::AdminAuth;

use super::AppState;

pub fn routes(max_body: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/enqueue/{ids}",
            put(enqueue::enqueue)
                .post(enqueue::enqueue)
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/v1/push/{ids}", post(push::push).get(push::push))
        .route("/v1/push-certificate", get(push::certificate))
        .route("/v1/pushcert", get(push::pushcert).put(push::install_pushcert))
        .route("/v1/escrowkeyunlock", post(escrow::escrow_key_unlock))
        .route(
            "/migration",
            put(migration::replay)
                .post(migration::replay)
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/metrics", get(push::metrics))
        .route("/v1/devices", get(devices::list))
        .route("/v1/devices/{id}", get(devices::show))
        .route("/v1/devices/{id}/queue", get(devices::queue))
        .route("/v1/devices/{id}/history", get(history::history))
        .route("/v1/devices/{id}/push", get(push_health::show))
        .route("/v1/push-health", get(push_health::list))
        .route("/v1/devices/{id}/commands/{command_uuid}", delete(commands::cancel))
        .route(
            "/v1/commands",
            post(submit::submit).layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/v1/commands/{command_uuid}", get(commands::status))
        .route("/v1/audit", get(audit::audit))
        .route("/v1/events", get(events::bulk))
        .route("/v1/events/stream", get(events::stream))
        .route("/v1/openapi.json", get(openapi::openapi))
        .route("/v1/api-keys", get(keys::list))
        .route("/v1/scep/challenges", post(scep::create_challenge))
        .route("/v1/identities/{fingerprint}/revoke", post(identities::revoke))
        .route("/v1/devices/{id}/forget", post(identities::forget))
        .route("/v1/enrollment-tokens", post(enrollment_tokens::create))
        .route("/v1/enrollment-tokens/{token_id}", delete(enrollment_tokens::revoke))
        .route("/v1/groups", get(groups::list))
        .route(
            "/v1/groups/{name}",
            get(groups::show).put(groups::define).delete(groups::remove),
        )
        .route("/v1/devices/{id}/tags", get(tags::list))
        .route("/v1/devices/{id}/tags/{tag}", put(tags::tag).delete(tags::untag))
        .route("/v1/declarations", get(declarations::list))
        .route("/v1/declarations/validate", post(declarations::validate))
        .route("/v1/declarations/data", put(declarations::store_data))
        .route("/v1/declarations/status", get(declaration_status::fleet))
        .route("/v1/declarations/status/export", get(declaration_status::export))
        .route(
            "/v1/declarations/{identifier}",
            get(declarations::show)
                .put(declarations::define)
                .delete(declarations::remove),
        )
        .route(
            "/v1/declarations/{identifier}/assignments",
            get(declarations::assignments).post(declarations::assign),
        )
        .route(
            "/v1/declarations/{identifier}/assignments/{assignment_id}",
            delete(declarations::unassign),
        )
        .route(
            "/v1/declarations/{identifier}/status",
            get(declaration_status::declaration),
        )
        .route("/v1/devices/{id}/declarations", get(declaration_status::device))
        .route(
            "/v1/devices/{id}/declarations/status/history",
            get(declaration_status::history),
        )
}
