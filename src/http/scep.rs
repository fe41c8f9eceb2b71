//! `/scep` (RFC 8894 §4): GetCACaps, GetCACert and PKIOperation by GET (`?message=` base64)
//! and POST (DER body). No client certificate is needed: devices have none yet.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;

use super::AppState;
use crate::service::scep::ScepServiceError;

/// What this server really does (RFC 8894 §3.5.2): POST, SHA-256 and SHA-1 signatures from
/// clients, AES and 3DES envelopes, RenewalReq.
pub const CA_CAPS: &str = "POSTPKIOperation\nSHA-256\nSHA-1\nAES\nDES3\nRenewal\nSCEPStandard\n";

const PKI_MESSAGE: &str = "application/x-pki-message";

/// Standard alphabet, padding optional: `?message=` arrives percent-decoded, but some clients
/// drop the padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Deserialize)]
pub struct ScepQuery {
    operation: Option<String>,
    message: Option<String>,
}

pub async fn get(State(app): State<AppState>, Query(query): Query<ScepQuery>) -> Response {
    match query.operation.as_deref() {
        Some("GetCACaps") => ([(header::CONTENT_TYPE, "text/plain")], CA_CAPS).into_response(),
        Some("GetCACert") => (
            [(header::CONTENT_TYPE, "application/x-x509-ca-cert")],
            app.scep.ca().cert_der().to_vec(),
        )
            .into_response(),
        Some("PKIOperation") => {
            let Some(message) = query.message else {
                return bad_request("PKIOperation by GET needs ?message=<base64 PKIMessage>");
            };
            // A client that did not percent-encode the base64 sends '+', which the query
            // decoder turned into ' ': put it back; only line breaks are dropped.
            let compact: String = message
                .chars()
                .filter(|c| *c != '\r' && *c != '\n')
                .map(|c| if c == ' ' { '+' } else { c })
                .collect();
            match BASE64.decode(compact) {
                Ok(der) => pki_operation(&app, &der).await,
                Err(_) => bad_request("the message parameter is not base64"),
            }
        }
        other => unknown_operation(other),
    }
}

pub async fn post(State(app): State<AppState>, Query(query): Query<ScepQuery>, body: Bytes) -> Response {
    match query.operation.as_deref() {
        Some("PKIOperation") => pki_operation(&app, &body).await,
        other => unknown_operation(other),
    }
}

async fn pki_operation(app: &AppState, der: &[u8]) -> Response {
    match app.scep.pki_operation(der).await {
        Ok(reply) => ([(header::CONTENT_TYPE, PKI_MESSAGE)], reply).into_response(),
        Err(ScepServiceError::NotPkiMessage(e)) => bad_request(&e.to_string()),
        Err(ScepServiceError::Store(e)) => {
            tracing::error!(error = %e, "SCEP: event store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "event store unavailable\n").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "SCEP: PKIOperation failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn unknown_operation(operation: Option<&str>) -> Response {
    match operation {
        Some(op) => bad_request(&format!(
            "unsupported operation {op:?}: GetCACaps, GetCACert and PKIOperation are supported"
        )),
        None => bad_request("the operation parameter is required"),
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}
