//! The web console at `/console`: server-rendered HTML, everything embedded in the binary; one
//! small script (`live.js`) adds live updates, and every page works without it. One more adapter over the use cases: pages read through `Queries` as the admin
//! API's handlers do, actions call the same use cases (`app.commands()`), and every check is
//! the API's own (the key check, `authorize` by role, the rails on destructive commands).
//!
//! - `session`: sign-in exchanges an API key for a server-side session (cookie: HttpOnly,
//!   Secure, SameSite=Strict), recorded on `console-sessions`; `login`: the forms.
//! - `csrf`: every form carries its session's token; a POST without it is 403.
//! - `render`: the one escaping path every value goes through; `layout`: the page frame.
//! - Pages: `overview` (fleet), `devices` (list, search), `device` (inventory, answers, queue,
//!   history, "as of", send and cancel forms), `commands` (the device page's short send form,
//!   cancel), `audit` (the trail, with CSV and NDJSON export through the audit endpoint's code).
//! - Sending any command to one device or a selection: `send` (the steps), `schema_form` (the
//!   form built from Apple's command schema), `draft` (the form read as a command), `confirm`
//!   (the page naming each device), `fanout` (the command's state on each device).
//! - `enrollment` (enrollment tokens, the enrollment profile), `push_cert` (the push
//!   certificate and its renewal, with the topic guard), `keys` (API keys, admin only).
//! - `push_health` (dead push tokens and pushed-but-silent devices, through the push-health
//!   API's reads; also the device page's "Push" section).
//! - `live` (Server-Sent Events for the overview's counters and a device's new events, and
//!   `live.js`, which applies them), `history` (one event as the history shows it, for the page
//!   and the live stream alike), `fleet_as_of` (the device list as the log knew it then).
//!
//! Every response carries a content security policy that allows nothing but this server's own
//! stylesheet and script (no inline script or style, no frames, forms only to this server).

mod audit;
mod commands;
mod confirm;
mod csrf;
mod device;
mod devices;
mod draft;
mod enrollment;
mod fanout;
mod fleet_as_of;
mod history;
mod keys;
mod layout;
mod live;
mod login;
mod overview;
mod push_cert;
mod push_health;
mod render;
mod schema_form;
mod selection;
mod send;
mod session;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::AppState;

/// The content security policy of every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";

/// A console form is a few fields; nothing larger is read.
const FORM_MAX: usize = 64 << 10;

const STYLESHEET: &str = include_str!("console.css");

/// The console's routes, with this node's session store.
pub fn routes() -> Router<AppState> {
    let sessions = Arc::new(session::Sessions::new());
    Router::new()
        .route("/console", get(overview::show))
        .route("/console/login", get(login::form).post(login::sign_in))
        .route("/console/logout", post(login::sign_out))
        .route("/console/devices", get(devices::list))
        .route("/console/devices/{id}", get(device::show))
        .route("/console/devices/{id}/live", get(live::device))
        .route("/console/live", get(live::fleet))
        .route("/console/static/live.js", get(live::script))
        .route("/console/devices/{id}/commands", post(commands::send))
        .route(
            "/console/devices/{id}/commands/{command_uuid}/cancel",
            post(commands::cancel),
        )
        .route("/console/send", get(send::form).post(send::submit))
        .route("/console/commands/{command_uuid}", get(fanout::show))
        .route("/console/enrollment", get(enrollment::show))
        .route("/console/enrollment/tokens", post(enrollment::create))
        .route("/console/enrollment/tokens/{token_id}/revoke", post(enrollment::revoke))
        .route("/console/enrollment/profile", post(enrollment::profile))
        .route(
            "/console/push-certificate",
            get(push_cert::show).post(push_cert::install),
        )
        .route("/console/push-health", get(push_health::show))
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/{key_id}/revoke", post(keys::revoke))
        .route("/console/audit", get(audit::show))
        .route("/console/audit/export", get(audit::export))
        .route("/console/static/console.css", get(stylesheet))
        .layer(DefaultBodyLimit::max(FORM_MAX))
        .layer(Extension(sessions))
        .layer(axum::middleware::map_response(protect))
}

/// `GET /`: the console.
pub async fn root() -> Redirect {
    Redirect::to("/console")
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The headers of every console response: the policy above, no sniffing, no referrer, no
/// framing, and nothing cached unless the response says otherwise (the stylesheet).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
