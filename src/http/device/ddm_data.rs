//! `GET /ddm/data/{sha256}`: data a declaration points the device at (a legacy profile), with
//! "MDM" authentication as Apple defines it for DDM: the device's identity, by TLS client
//! certificate or an `Mdm-Signature` over the empty body. Served only to a device whose set holds
//! a declaration pointing at it; the fetch is recorded on its enrollment.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;

use crate::http::AppState;
use crate::service::declarations::FetchError;
use axum_server::tls::TlsInfo;

pub async fn fetch(
    State(app): State<AppState>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Response {
    let client_certificates = tls.as_deref().map(|t| t.peer_certificates.as_slice());
    let signature = headers.get("Mdm-Signature").and_then(|v| v.to_str().ok());
    let identity = match app
        .device_auth
        .identify(client_certificates, signature, b"", Utc::now())
    {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let queries = app.queries();
    let fetched = app
        .declarations
        .fetch_for_device(&app.enrollments, &queries, identity, &sha256, &app.data_key)
        .await;
    match fetched {
        Ok((content_type, bytes)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => {
            let status = match &e {
                FetchError::NotASha256 => StatusCode::BAD_REQUEST,
                FetchError::Forbidden => StatusCode::FORBIDDEN,
                FetchError::NotFound => StatusCode::NOT_FOUND,
                FetchError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                FetchError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(status = status.as_u16(), reason = %e, "declaration data fetch refused");
            (status, e.to_string()).into_response()
        }
    }
}
