//! `POST /enroll`: Automated Device Enrollment. A device assigned to this server in Apple
//! Business/School Manager POSTs its signed MachineInfo to the `url` of its DEP profile
//! (`?token=` is the enrollment token) and gets the enrollment profile
//! (`service::device::enroll::ade`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{enrolling, enrollment_caller, mobileconfig_response, TokenQuery};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;

/// A signed MachineInfo is a few KiB (the plist and the device's certificate chain).
pub const MAX_BODY: usize = 64 << 10;

pub async fn machine_info(
    State(app): State<AppState>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(app, q.token, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn serve(app: AppState, token: Option<String>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let caller = enrollment_caller(&app, token.as_deref(), &headers).await?;
    let profile = enrolling(&app).machine_info(&caller, body).await?;
    Ok(mobileconfig_response(profile))
}
