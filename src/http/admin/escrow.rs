//! `POST /v1/escrowkeyunlock` (NanoMDM's route): the form in, Apple's answer relayed out (its
//! status, content type and body), errors in NanoMDM's `{"error": "…"}` shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, NanoMdmError};
use crate::http::AppState;
use crate::service::admin::Caller;

pub async fn escrow_key_unlock(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Bytes,
) -> Result<Response, NanoMdmError> {
    let caller = caller?;
    let answer = crate::service::admin::escrow::unlock(app.store.as_ref(), &app.push, &caller, &body).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, answer.body).into_response();
    if let Some(value) = answer.content_type.and_then(|c| c.parse().ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}
