//! The device endpoints: check-in (`application/x-apple-aspen-mdm-checkin`) and the command
//! channel (`application/x-apple-aspen-mdm`). One URL may serve both, so `/mdm`, `/checkin` and
//! `/connect` are the same handler: a request labelled as a check-in is one; any other (no
//! Content-Type, the command channel's, or a generic one) is dispatched on its body
//! (`MessageType`: check-in, `Status`: command report).
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

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use axum_server::tls::TlsInfo;
use chrono::Utc;

use super::limits::{is_slow_body, BodySizes};
use super::AppState;
pub use error::DeviceError;
use identity::Screened;

pub const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
pub const COMMAND: &str = "application/x-apple-aspen-mdm";

pub async fn handle(
    State(app): State<AppState>,
    Extension(sizes): Extension<BodySizes>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DeviceError> {
    let mut kind = MessageKind::default();
    let client_certificates = tls.as_deref().map(|t| t.peer_certificates.as_slice());
    let result = async {
        // Who is asking is settled from the headers before the body is read: a stranger (or,
        // without --insecure-accept-unsigned-devices, nobody) gets its 403 without the server
        // buffering a byte, and an unidentified request gets a small body only.
        let signature = headers.get("Mdm-Signature").and_then(|v| v.to_str().ok());
        let limit = match app.device_auth.screen(client_certificates, signature, Utc::now())? {
            Screened::Identified => sizes.identified,
            Screened::Unidentified => sizes.unidentified,
        };
        let body = read_body(body, &headers, limit).await?;
        serve(&app, client_certificates, &headers, &body, &mut kind).await
    }
    .await;
    let http_status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => {
            // Logged without the body or any header value: they may carry secrets.
            match e {
                // Why the store refused (a full disk, a lost connection) is what an operator needs.
                DeviceError::Unavailable(detail) => {
                    tracing::warn!(status = e.status().as_u16(), kind = e.kind(), reason = %e, %detail, "device request refused")
                }
                _ => {
                    tracing::warn!(status = e.status().as_u16(), kind = e.kind(), reason = %e, "device request refused")
                }
            }
            e.status().as_u16()
        }
    };
    metrics::counter!(
        "annal_device_requests_total",
        "message_type" => kind.message_type,
        "status" => kind.status,
        "http_status" => http_status.to_string()
    )
    .increment(1);
    result
}

/// The body, up to `limit` bytes: a declared Content-Length over it is refused before anything
/// is read, and a body that grows past it as soon as it does.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, DeviceError> {
    use http_body_util::BodyExt;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(DeviceError::TooLarge(limit));
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(DeviceError::TooLarge(limit)),
        Err(e) if is_slow_body(e.as_ref()) => Err(DeviceError::SlowBody(e.to_string())),
        Err(e) => Err(DeviceError::Body(e.to_string())),
    }
}

/// The metric labels of a device request: its MessageType (check-in) or `Report` (command
/// channel) with its Status; `unknown` until the body has been parsed.
struct MessageKind {
    message_type: &'static str,
    status: &'static str,
}

impl Default for MessageKind {
    fn default() -> Self {
        Self {
            message_type: "unknown",
            status: "",
        }
    }
}

impl MessageKind {
    fn of(input: &crate::domain::enrollment::Input) -> Self {
        use crate::domain::enrollment::{DeviceInput as D, Input, ReportStatus as S};
        let Input::Device { input, .. } = input else {
            return Self::default();
        };
        let (message_type, status) = match input.as_ref() {
            D::Authenticate(_) => ("Authenticate", ""),
            D::TokenUpdate(_) => ("TokenUpdate", ""),
            D::CheckOut(_) => ("CheckOut", ""),
            D::UserAuthenticate(_) => ("UserAuthenticate", ""),
            D::SetBootstrapToken(_) => ("SetBootstrapToken", ""),
            D::GetBootstrapToken { .. } => ("GetBootstrapToken", ""),
            D::GetToken { .. } => ("GetToken", ""),
            D::DeclarativeManagement { .. } => ("DeclarativeManagement", ""),
            D::Report { status, .. } => (
                "Report",
                match status {
                    S::Idle => "Idle",
                    S::Acknowledged => "Acknowledged",
                    S::Error => "Error",
                    S::CommandFormatError => "CommandFormatError",
                    S::NotNow => "NotNow",
                },
            ),
        };
        Self { message_type, status }
    }
}

async fn serve(
    app: &AppState,
    client_certificates: Option<&[Vec<u8>]>,
    headers: &HeaderMap,
    body: &[u8],
    kind: &mut MessageKind,
) -> Result<Response, DeviceError> {
    let now = Utc::now();
    let labeled_checkin = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The media type, without parameters such as `; charset=…`.
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(CHECKIN));
    let signature = headers.get("Mdm-Signature").and_then(|v| v.to_str().ok());
    let identity = app.device_auth.identify(client_certificates, signature, body, now)?;
    // Devices label check-ins reliably; the command channel's label is often missing or generic
    // (third-party simulators and proxies send none, `application/xml` or `octet-stream`), and
    // NanoMDM serves those too. So anything not labelled a check-in is served by what its body
    // is, never refused for its Content-Type.
    let request = if labeled_checkin {
        translate::checkin(body, identity, &app.data_key)?
    } else {
        translate::by_body(body, identity, &app.data_key)?
    };
    *kind = MessageKind::of(&request.input);
    let ends_user_channels = ends_user_channels(&request);
    crate::domain::push::check_topic(&request.input, || app.push.topic()).map_err(DeviceError::Refused)?;
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
    if let Some((device, identity)) = ends_user_channels {
        // The user channels this node's read model knows; one it has not seen yet is ended at
        // its own next request (the service checks its device channel every time).
        let prefix = format!("{}:", request.enrollment_key);
        let user_channels = app.projector.read(|p| p.devices().enrolled_with_prefix(&prefix));
        // The device's own message is recorded: failing its answer now would only make it send
        // the CheckOut again. A user channel left open is ended at its next request.
        if let Err(e) = app
            .enrollments
            .end_user_channels(&device, &user_channels, &identity, &request.actor, now)
            .await
        {
            tracing::warn!(error = %e, "ending the user channels of a device channel failed; each ends at its next request");
        }
    }
    Ok(response)
}

/// A device channel's CheckOut or Authenticate ends its user channels: what to end them with.
fn ends_user_channels(
    request: &translate::Request,
) -> Option<(annal_schemas::events::DeviceRef, annal_schemas::events::IdentityRef)> {
    use crate::domain::enrollment::{DeviceInput as D, Input};
    if request.enrollment_key.contains(':') {
        return None;
    }
    let Input::Device { input, device, .. } = &request.input else {
        return None;
    };
    match input.as_ref() {
        D::CheckOut(c) => Some((device.clone(), c.identity.clone())),
        D::Authenticate(a) => Some((device.clone(), a.identity.clone())),
        _ => None,
    }
}
