//! Enrollment over HTTPS: `GET /enroll` serves the signed enrollment profile, and the
//! over-the-air profile service (ota.rs) runs its three phases under `/enroll/ota`.
//!
//! Both are protected by an enrollment token: an API key with the `enrollment` role
//! (`POST /v1/enrollment-tokens`), kept in the log as a hash like every key, given as
//! `?token=` (a URL a user can open in Safari) or as `Authorization: Bearer`.

pub mod ota;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::access::{authorize, Action, Caller};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;
use crate::pki::profile::{
    enrollment_profile, mobileconfig, EnrollmentSettings, PayloadIds, ProfileError, MOBILECONFIG_CONTENT_TYPE,
};
use crate::pki::CmsSigner;

/// What `annal serve` was told about enrollment (`--base-url`, `--topic`, the challenge) and
/// the identity that signs profiles.
pub struct EnrollConfig {
    pub settings: EnrollmentSettings,
    pub signer: CmsSigner,
}

#[derive(Debug, serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /enroll`: the enrollment profile, CMS-signed, fresh PayloadUUIDs on every call.
pub async fn profile(State(app): State<AppState>, Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = enrollment_caller(&app, q.token.as_deref(), &headers).await?;
        let config = configured(&app)?;
        let profile = enrollment_profile(&config.settings, &PayloadIds::random()).map_err(profile_error)?;
        let body = mobileconfig(profile, Some(&config.signer)).map_err(profile_error)?;
        tracing::info!(actor = %caller.actor, "served the enrollment profile");
        Ok::<_, ApiError>(mobileconfig_response(body))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
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
            Err(e) => return Err(ApiError::Unavailable(e.to_string())),
        },
        None => app.admin.check(headers).await?,
    };
    authorize(caller.role, Action::Enroll).map_err(ApiError::Forbidden)?;
    Ok(caller)
}

pub(crate) fn configured(app: &AppState) -> Result<&Arc<EnrollConfig>, ApiError> {
    app.enroll.as_ref().ok_or_else(|| {
        ApiError::Unavailable("enrollment is not configured: start annal serve with --topic <push topic>".to_owned())
    })
}

/// A profile Annal cannot build from its own configuration is the server's fault.
pub(crate) fn profile_error(e: ProfileError) -> ApiError {
    ApiError::Internal(e.to_string())
}
