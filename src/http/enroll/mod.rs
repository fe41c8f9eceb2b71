//! Enrollment over HTTPS: `GET /enroll` serves the signed enrollment profile, `POST /enroll`
//! serves it to an Automated Device Enrollment device for its signed MachineInfo (ade.rs), and
//! the over-the-air profile service (ota.rs) runs its three phases under `/enroll/ota`.
//!
//! Both are protected by an enrollment token: an API key with the `enrollment` role
//! (`POST /v1/enrollment-tokens`), kept in the log as a hash like every key, given as
//! `?token=` (a URL a user can open in Safari) or as `Authorization: Bearer`. What is served
//! is decided in `service::device::enroll`; here only the token and the HTTP answer.

pub mod ade;
pub mod ota;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::access::{authorize, Action, Caller, Denied};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;
use crate::pki::profile::MOBILECONFIG_CONTENT_TYPE;
pub use crate::service::device::enroll::{EnrollConfig, PROFILE_CHALLENGE_LIFETIME};
use crate::service::device::enroll::{EnrollError, Enrolling};

#[derive(Debug, serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /enroll`: the enrollment profile, CMS-signed, fresh PayloadUUIDs on every call.
pub async fn profile(State(app): State<AppState>, Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = enrollment_caller(&app, q.token.as_deref(), &headers).await?;
        let body = enrolling(&app).profile(&caller).await?;
        Ok::<_, ApiError>(mobileconfig_response(body))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The enrollment use cases, over this server's configuration and services.
pub(crate) fn enrolling(app: &AppState) -> Enrolling<'_> {
    Enrolling {
        config: &app.enroll,
        push: &app.push,
        scep: &app.scep,
        store: app.store.as_ref(),
        anchors: app.device_auth.anchors(),
    }
}

pub(crate) fn mobileconfig_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, MOBILECONFIG_CONTENT_TYPE),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"enroll.mobileconfig\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// The caller behind an enrollment token (query or header); refused unless its role may enroll.
pub(crate) async fn enrollment_caller(
    app: &AppState,
    query_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let caller = match query_token {
        Some(token) => match app.admin.keys().verify(token).await {
            Ok(Some(caller)) => caller,
            Ok(None) => return Err(ApiError::BadKey),
            Err(e) => return Err(ApiError::unavailable(e.to_string())),
        },
        None => app.admin.check(headers).await?,
    };
    authorize(caller.role, Action::Enroll).map_err(ApiError::forbidden)?;
    Ok(caller)
}

impl From<EnrollError> for ApiError {
    fn from(e: EnrollError) -> Self {
        match e {
            EnrollError::Unavailable(detail) => ApiError::unavailable(detail),
            EnrollError::NoPushTopic(detail) => crate::service::admin::AdminError::PushUnavailable(detail).into(),
            EnrollError::Internal(detail) => ApiError::internal(detail),
            EnrollError::Invalid { message, path } => {
                crate::service::admin::AdminError::Invalid { message, path }.into()
            }
            EnrollError::Untrusted(detail) => ApiError::forbidden(Denied::Untrusted(detail)),
            EnrollError::Scep(e) => e.into(),
        }
    }
}
