//! `GET /enroll/ota` and `POST /enroll/ota`: the over-the-air profile service
//! (`service::device::enroll::ota` decides each phase).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{enrolling, enrollment_caller, mobileconfig_response, TokenQuery};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;

/// A signed attribute plist is a few KiB; a larger body is not one.
pub const MAX_BODY: usize = 64 << 10;

/// Phase 1: the signed Profile Service payload.
async fn serve_profile_service(app: AppState, token: Option<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = enrollment_caller(&app, token.as_deref(), &headers).await?;
    let token = token.ok_or_else(|| ApiError::invalid("the profile service needs ?token=<enrollment token>"))?;
    let body = enrolling(&app).profile_service(&caller, &token).await?;
    Ok(mobileconfig_response(body))
}

pub async fn profile_service(State(app): State<AppState>, Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    serve_profile_service(app, q.token, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Phases 2 and 3: the device's signed attributes.
pub async fn attributes(State(app): State<AppState>, body: Bytes) -> Response {
    phase(app, body).await.unwrap_or_else(IntoResponse::into_response)
}

async fn phase(app: AppState, body: Bytes) -> Result<Response, ApiError> {
    let enrolling = enrolling(&app);
    let phase = enrolling.read_phase(&body)?;
    // The challenge is the enrollment token the profile service handed out.
    let caller = enrollment_caller(&app, Some(&phase.attributes.challenge), &HeaderMap::new()).await?;
    let body = enrolling.phase_profile(&caller, phase).await?;
    Ok(mobileconfig_response(body))
}
