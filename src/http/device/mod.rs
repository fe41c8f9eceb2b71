//! The device endpoints: check-in (`application/x-apple-aspen-mdm-checkin`) and the command
//! channel (`application/x-apple-aspen-mdm`). One URL may serve both: requests are dispatched
//! on Content-Type, so `/mdm`, `/checkin` and `/connect` are the same handler.
//!
//! Every request: verify the identity, parse, decide, make the answer, append the events (with
//! the raw plist), and only then reply. A request refused at any step appends nothing. The
//! protocol's own negative answers to valid messages (UserAuthenticate 410, GetToken 403, an
//! unknown DDM declaration 404) are answers, not refusals: they are recorded like any other.

mod error;
pub mod identity;
mod reply;
mod translate;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use axum_server::tls::TlsInfo;
use chrono::Utc;

use super::AppState;
pub use error::DeviceError;

pub const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
pub const COMMAND: &str = "application/x-apple-aspen-mdm";

pub async fn handle(
    State(app): State<AppState>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeviceError> {
    let result = serve(
        &app,
        tls.as_deref().map(|t| t.peer_certificates.as_slice()),
        &headers,
        &body,
    )
    .await;
    if let Err(e) = &result {
        // Logged without the body or any header value: they may carry secrets.
        tracing::warn!(status = e.status().as_u16(), kind = e.kind(), reason = %e, "device request refused");
    }
    result
}

async fn serve(
    app: &AppState,
    client_certificates: Option<&[Vec<u8>]>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, DeviceError> {
    let now = Utc::now();
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The media type, without parameters such as `; charset=…`.
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let checkin = if media_type.eq_ignore_ascii_case(CHECKIN) {
        true
    } else if media_type.eq_ignore_ascii_case(COMMAND) {
        false
    } else {
        return Err(DeviceError::ContentType(content_type.chars().take(80).collect()));
    };
    let signature = headers.get("Mdm-Signature").and_then(|v| v.to_str().ok());
    let identity = app.device_auth.identify(client_certificates, signature, body, now)?;
    let request = if checkin {
        translate::checkin(body, identity, &app.data_key)?
    } else {
        translate::report(body, identity, &app.data_key)?
    };
    crate::domain::push::check_authenticate_topic(&request.input, app.push.topic().as_deref())
        .map_err(DeviceError::Refused)?;
    let prepare = |outcome: &crate::domain::enrollment::Outcome| {
        let reply = outcome
            .reply
            .as_ref()
            .unwrap_or(&crate::domain::enrollment::Reply::Empty);
        reply::to_response(reply, &app.data_key).map_err(|e| e.to_string())
    };
    let (_, response) = app
        .enrollments
        .handle_prepared(&request.enrollment_key, request.input, &request.actor, now, prepare)
        .await?;
    Ok(response)
}
