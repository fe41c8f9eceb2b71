//! The device endpoints: check-in (`application/x-apple-aspen-mdm-checkin`) and the command
//! channel (`application/x-apple-aspen-mdm`). One URL may serve both, so `/mdm`, `/checkin` and
//! `/connect` are the same handler: a request labelled as a check-in is one; any other (no
//! Content-Type, the command channel's, or a generic one) is dispatched on its body
//! (`MessageType`: check-in, `Status`: command report).
//!
//! Here only HTTP: screen and verify the identity (TLS, `Mdm-Signature`), read a bounded body,
//! hand both to the device use case (`service::device`), and encode its reply or refusal.

pub mod ddm_data;
mod error;
pub mod identity;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum_server::tls::TlsInfo;
use chrono::Utc;

use super::limits::{is_slow_body, BodySizes};
use super::AppState;
use crate::service::device::{Device, DeviceReply, DeviceRequest, MessageKind};
pub use error::DeviceError;
use identity::Screened;

pub const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
pub const COMMAND: &str = "application/x-apple-aspen-mdm";

pub async fn handle(
    State(app): State<AppState>,
    Extension(sizes): Extension<BodySizes>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut kind = MessageKind::default();
    let client_certificates = tls.as_deref().map(|t| t.peer_certificates.as_slice());
    let mut body_read = false;
    let result = async {
        // Who is asking is settled from the headers before the body is read: a stranger (or,
        // without --insecure-accept-unsigned-devices, nobody) gets its 403 without the server
        // buffering a byte, and an unidentified request gets a small body only.
        let signature = headers.get("Mdm-Signature").and_then(|v| v.to_str().ok());
        let limit = match app.device_auth.screen(client_certificates, signature, Utc::now())? {
            Screened::Identified => sizes.identified,
            Screened::Unidentified => sizes.unidentified,
        };
        let url_params = crate::mdm::url_params::parse(uri.query())?;
        let body = read_body(body, &headers, limit).await?;
        body_read = true;
        serve(&app, client_certificates, &headers, url_params, body, &mut kind).await
    }
    .await;
    let http_status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => {
            // Logged without the body or any header value: they may carry secrets.
            match e {
                // Why the store refused (a full disk, a lost connection) is what an operator needs.
                DeviceError::Failure(crate::service::device::DeviceFailure::Unavailable(detail)) => {
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
    let mut response = result.into_response();
    // Refused before its body was read (a stranger, a body over the limit, a stalled one): on
    // HTTP/1.1 the rest of the body may still be on the way, so the connection cannot carry
    // another request. Saying so lets the client open a new one instead of reusing this one
    // and failing (HTTP/2 ends just the stream).
    if !body_read && version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
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

async fn serve(
    app: &AppState,
    client_certificates: Option<&[Vec<u8>]>,
    headers: &HeaderMap,
    url_params: BTreeMap<String, String>,
    body: Bytes,
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
    let mut identity = app.device_auth.identify(client_certificates, signature, &body, now)?;
    identity.url_params = url_params;
    let push_topic = || app.push.topic();
    let queries = app.queries();
    let user_channels = |prefix: &str| queries.user_channels(prefix);
    let device = Device {
        enrollments: &app.enrollments,
        data_key: &app.data_key,
        push_topic: &push_topic,
        user_channels: &user_channels,
        declarations: Some((&app.declarations, &queries)),
    };
    let request = DeviceRequest {
        body,
        identity,
        labeled_checkin,
        now,
    };
    let reply = device.serve(request, kind).await?;
    Ok(to_response(reply))
}

/// The use case's reply as the HTTP answer the device expects.
fn to_response(reply: DeviceReply) -> Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    match reply {
        DeviceReply::Empty => StatusCode::OK.into_response(),
        DeviceReply::Plist(body) => ([(header::CONTENT_TYPE, "application/xml")], body).into_response(),
        DeviceReply::Json(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        DeviceReply::Gone => StatusCode::GONE.into_response(),
        DeviceReply::Declined(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
        DeviceReply::NotFound(reason) => (StatusCode::NOT_FOUND, reason).into_response(),
    }
}
