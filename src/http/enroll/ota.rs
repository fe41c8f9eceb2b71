//! `GET /enroll/ota` and `POST /enroll/ota`: the over-the-air profile service
//! (`pki::profile::ota` has the flow). Which phase a POST is, the signer says: a certificate
//! from Annal's CA (or the external CA) is the identity SCEP issued, so phase 3; any other must
//! be the device's identity under Apple iPhone Device CA (`pki::apple`, RSA-1024 allowed there
//! only), so phase 2. Bodies may be BER or DER.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use uuid::Uuid;

use super::{enrollment_caller, mobileconfig_response, profile_error, scep_challenge, settings, TokenQuery};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;
use crate::pki::apple::{verify_device_signed, AppleIdentityError, AppleSigned};
use crate::pki::profile::ota::{self, encrypted_enrollment_profile, parse_attributes, scep_profile};
use crate::pki::profile::{mobileconfig, PayloadIds};
use crate::pki::{verify_attached, PkiError, SignatureError, SignedContent};

/// A signed attribute plist is a few KiB; a larger body is not one.
pub const MAX_BODY: usize = 64 << 10;

/// Phase 1: the signed Profile Service payload; its challenge is the enrollment token, which
/// the device echoes back in phases 2 and 3.
async fn serve_profile_service(app: AppState, token: Option<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = enrollment_caller(&app, token.as_deref(), &headers).await?;
    let token = token.ok_or_else(|| ApiError::invalid("the profile service needs ?token=<enrollment token>"))?;
    let settings = settings(&app).await?;
    let payload = ota::profile_service(&settings, &token, Uuid::new_v4()).map_err(profile_error)?;
    let body = mobileconfig(payload, Some(&app.enroll.signer)).map_err(profile_error)?;
    tracing::info!(actor = %caller.actor, "served the OTA profile service");
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

/// Who signed a phase 2 or 3 body.
enum Signed {
    /// The identity SCEP issued from Annal's CA (or the external CA): phase 3.
    Enrolled(SignedContent),
    /// The device's identity under Apple iPhone Device CA: phase 2.
    Device(AppleSigned),
}

/// The CMS structure is refused with 400; a signer that is not trusted for either phase
/// with 403, naming its key and issuer.
fn signed_by(app: &AppState, body: &[u8]) -> Result<Signed, ApiError> {
    let invalid = |e: &dyn std::fmt::Display| ApiError::Invalid {
        message: format!("the body must be the device attributes in a CMS SignedData: {e}"),
        path: Some("body".to_owned()),
    };
    let untrusted = |e: String| ApiError::Forbidden(crate::domain::access::Denied::Untrusted(e));
    match verify_attached(body) {
        Ok(signed) => match app
            .device_auth
            .anchors()
            .verify_leaf(&signed.signer_cert_der, Utc::now())
        {
            Ok(_) => return Ok(Signed::Enrolled(signed)),
            // Not issued by a CA of ours: phase 2, whose signer must chain to a device CA.
            Err(PkiError::UnknownIssuer(_)) => {}
            Err(e) => return Err(untrusted(e.to_string())),
        },
        // A key or algorithm only Apple's device chain may use (RSA-1024) is checked there.
        Err(SignatureError::WeakKey(_) | SignatureError::BadSignature | SignatureError::UnsupportedAlgorithm(_)) => {}
        Err(e) => return Err(invalid(&e)),
    }
    match verify_device_signed(body, &app.enroll.device_cas) {
        Ok(signed) => Ok(Signed::Device(signed)),
        Err(AppleIdentityError::Cms(e)) => Err(invalid(&e)),
        Err(e) => Err(untrusted(e.to_string())),
    }
}

async fn phase(app: AppState, body: Bytes) -> Result<Response, ApiError> {
    let signed = signed_by(&app, &body)?;
    let content = match &signed {
        Signed::Enrolled(s) => &s.content,
        Signed::Device(s) => &s.content,
    };
    let attrs = parse_attributes(content).map_err(|e| ApiError::invalid(e.to_string()))?;
    // The challenge is the enrollment token the profile service handed out.
    let caller = enrollment_caller(&app, Some(&attrs.challenge), &HeaderMap::new()).await?;
    let mut settings = settings(&app).await?;
    let ids = PayloadIds::random();
    let profile = match signed {
        Signed::Enrolled(signed) => {
            let fingerprint = crate::pki::fingerprint_sha256(&signed.signer_cert_der);
            tracing::info!(actor = %caller.actor, udid = %attrs.udid, %fingerprint, "OTA phase 3: encrypted enrollment profile");
            // The profile is encrypted to this certificate, which needs an RSA key: checked
            // before a challenge is issued, so a refusal records nothing.
            if !crate::pki::has_rsa_key(&signed.signer_cert_der) {
                return Err(ApiError::invalid(
                    "phase 3 must be signed with the SCEP identity (an RSA key): the profile is encrypted to it",
                ));
            }
            // Its SCEP payload is the MDM identity the device enrolls for next: one more
            // one-time challenge.
            settings.challenge = Some(scep_challenge(&app, &caller, Some(&attrs.udid)).await?);
            encrypted_enrollment_profile(&settings, &ids, &signed.signer_cert_der).map_err(profile_error)?
        }
        Signed::Device(signed) => {
            tracing::info!(actor = %caller.actor, udid = %attrs.udid, product = ?attrs.product, signer = %signed.signer.subject, key = %signed.key, device_ca = %signed.issued_by, "OTA phase 2: SCEP profile");
            let challenge = scep_challenge(&app, &caller, Some(&attrs.udid)).await?;
            scep_profile(&settings, &attrs.udid, Some(&challenge), &ids).map_err(profile_error)?
        }
    };
    let body = mobileconfig(profile, Some(&app.enroll.signer)).map_err(profile_error)?;
    Ok(mobileconfig_response(body))
}
