//! Enrollment over HTTPS: `GET /enroll` serves the signed enrollment profile, `POST /enroll`
//! serves it to an Automated Device Enrollment device for its signed MachineInfo (ade.rs), and
//! the over-the-air profile service (ota.rs) runs its three phases under `/enroll/ota`.
//!
//! Both are protected by an enrollment token: an API key with the `enrollment` role
//! (`POST /v1/enrollment-tokens`), kept in the log as a hash like every key, given as
//! `?token=` (a URL a user can open in Safari) or as `Authorization: Bearer`.

pub mod ade;
pub mod ota;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};

use crate::domain::access::{authorize, Action, Caller};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;
use crate::pki::apple::AppleDeviceCa;
use crate::pki::profile::{
    enrollment_profile, mobileconfig, EnrollmentSettings, PayloadIds, ProfileError, MOBILECONFIG_CONTENT_TYPE,
};
use crate::pki::CmsSigner;
use crate::service::scep::ChallengeContext;

/// How long the one-time SCEP challenge in a served profile stays valid: the device uses it
/// within minutes of installing the profile.
pub const PROFILE_CHALLENGE_LIFETIME: Duration = Duration::hours(1);

/// What `annal serve` was told about enrollment and the identity that signs profiles. The
/// topic and the challenge are decided per profile (`settings`).
pub struct EnrollConfig {
    /// `https://host[:port][/prefix]`, checked at start.
    pub base_url: String,
    /// `--topic`: overrides the installed push certificate's topic.
    pub topic: Option<String>,
    /// `--scep-challenge-file`: put into every profile; without it every profile carries a
    /// fresh one-time challenge.
    pub static_challenge: Option<String>,
    pub ca_cert_der: Vec<u8>,
    pub organization: String,
    pub signer: CmsSigner,
    /// The CAs whose device identities sign OTA phase 2 (Apple iPhone Device CA, plus
    /// `--ota-device-ca`).
    pub device_cas: AppleDeviceCa,
}

#[derive(Debug, serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /enroll`: the enrollment profile, CMS-signed, fresh PayloadUUIDs on every call.
pub async fn profile(State(app): State<AppState>, Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = enrollment_caller(&app, q.token.as_deref(), &headers).await?;
        let mut settings = settings(&app).await?;
        settings.challenge = Some(scep_challenge(&app, &caller, None).await?);
        let profile = enrollment_profile(&settings, &PayloadIds::random()).map_err(profile_error)?;
        let body = mobileconfig(profile, Some(&app.enroll.signer)).map_err(profile_error)?;
        tracing::info!(actor = %caller.actor, "served the enrollment profile");
        Ok::<_, ApiError>(mobileconfig_response(body))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The settings for the next profile, without a challenge: the topic is `--topic`, else the
/// installed push certificate's, read now so an install needs no restart.
pub(crate) async fn settings(app: &AppState) -> Result<EnrollmentSettings, ApiError> {
    let config = &app.enroll;
    let topic = match &config.topic {
        Some(topic) => topic.clone(),
        None => {
            if let Err(e) = app.push.refresh_certificate().await {
                tracing::warn!(error = %e, "reading the installed push certificate");
            }
            app.push.topic().ok_or_else(|| {
                ApiError::Unavailable(
                    "enrollment needs a push topic: install a push certificate (annal push-cert install) or start annal serve with --topic".to_owned(),
                )
            })?
        }
    };
    let settings = EnrollmentSettings {
        base_url: config.base_url.clone(),
        topic,
        challenge: None,
        ca_cert_der: config.ca_cert_der.clone(),
        organization: config.organization.clone(),
    };
    settings.check().map_err(profile_error)?;
    Ok(settings)
}

/// The static challenge, or a fresh one-time challenge issued by the same service as
/// `POST /v1/scep/challenges` (the log keeps its hash, with the token's name as actor and its
/// id, so revoking the token voids it), so a served profile enrolls at /scep once. `udid` is
/// the device the over-the-air service was told about: the certificate enrolls no other.
pub(crate) async fn scep_challenge(app: &AppState, caller: &Caller, udid: Option<&str>) -> Result<String, ApiError> {
    if let Some(challenge) = &app.enroll.static_challenge {
        return Ok(challenge.clone());
    }
    let expires_at = Utc::now() + PROFILE_CHALLENGE_LIFETIME;
    let enrollment_token_id = app
        .scep
        .keys()
        .key_id_of_actor(&caller.actor)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let context = ChallengeContext {
        enrollment_token_id,
        udid: udid.map(str::to_owned),
        serial_number: None,
        admin_bound: false,
    };
    Ok(app
        .scep
        .issue_challenge(&caller.actor, Some(expires_at), context)
        .await?)
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

/// A profile Annal cannot build from its own configuration is the server's fault; a push
/// certificate whose topic is not an MDM topic is one Annal cannot enroll devices with yet.
pub(crate) fn profile_error(e: ProfileError) -> ApiError {
    match e {
        ProfileError::Topic(_) => ApiError::Unavailable(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}
