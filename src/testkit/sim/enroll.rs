//! Enrolling as a device does (`annal sim --enroll-via-profile`): fetch the enrollment profile
//! from `GET /enroll` with an enrollment token, read it (profile.rs: signature, Apple's schema,
//! payloads), get an identity over SCEP with the profile's challenge, then Authenticate and
//! TokenUpdate at the MDM payload's URLs with its topic.

use std::sync::Arc;

use chrono::Utc;
use futures::stream::{self, StreamExt};
use hyper::Method;

use super::channel::{Channel, Clients};
use super::client::{split_url, Client};
use super::device::{udid_of, VirtualDevice};
use super::profile::{read_profile, scep_subject, ProfileEnrollment};
use super::run::{check_in, success, Enrolled, SimConfig, SimError};
use crate::pki::scep::client::{pkcs_req, CertRepOutcome};
use crate::pki::scep::ContentCipher;
use crate::pki::{Ca, DeviceIdentity, TrustAnchors};

const PKI_MESSAGE: &str = "application/x-pki-message";

/// `GET /enroll` with `token`; the profile read and checked as a device reads it, its signer
/// trusted by `anchors`.
pub async fn fetch_profile(
    client: &Client,
    token: &str,
    anchors: &TrustAnchors,
) -> Result<ProfileEnrollment, SimError> {
    let auth = format!("Bearer {token}");
    let a = client
        .send(Method::GET, "/enroll", None, &[("Authorization", &auth)], Vec::new())
        .await?;
    let a = success("GET /enroll", a)?;
    Ok(read_profile(&a.body, anchors, Utc::now())?)
}

/// SCEP as a device runs it from the profile's SCEP payload: GetCACaps (POST and the cipher),
/// GetCACert (a root the profile installs), then a PKCSReq with a new RSA 2048 key, the
/// payload's challenge and its subject with the device's UDID as CN.
pub async fn scep_enroll(
    clients: &Clients,
    profile: &ProfileEnrollment,
    udid: &str,
) -> Result<DeviceIdentity, SimError> {
    let (origin, path) = split_url(&profile.scep.url)?;
    let client = clients.shared(&origin)?;
    let separator = if path.contains('?') { '&' } else { '?' };
    let operation = |name: &str| format!("{path}{separator}operation={name}");

    let caps = success("GetCACaps", client.get(&operation("GetCACaps")).await?)?;
    let caps = String::from_utf8_lossy(&caps.body).into_owned();
    let has = |cap: &str| caps.lines().any(|l| l.trim().eq_ignore_ascii_case(cap));
    if !has("POSTPKIOperation") {
        return Err(SimError::Protocol(
            "the SCEP server does not offer POSTPKIOperation".to_owned(),
        ));
    }
    let cipher = if has("AES") {
        ContentCipher::Aes256Cbc
    } else if has("DES3") {
        ContentCipher::DesEde3Cbc
    } else {
        return Err(SimError::Protocol(
            "the SCEP server offers neither AES nor DES3".to_owned(),
        ));
    };
    let ca_der = success("GetCACert", client.get(&operation("GetCACert")).await?)?.body;
    if !profile.roots.iter().any(|root| root[..] == ca_der[..]) {
        return Err(SimError::Protocol(
            "the SCEP server's CA is not a root the profile installs".to_owned(),
        ));
    }

    let subject = scep_subject(&profile.scep.subject, udid);
    let request = pkcs_req(&ca_der, &subject, profile.scep.challenge.as_deref(), cipher)?;
    let a = client
        .send(
            Method::POST,
            &operation("PKIOperation"),
            Some(PKI_MESSAGE),
            &[],
            request.der.clone(),
        )
        .await?;
    let a = success("PKIOperation", a)?;
    match request.read_cert_rep(&a.body, &ca_der)? {
        CertRepOutcome::Issued(identity) => Ok(identity),
        CertRepOutcome::Failed(info) => Err(SimError::ScepRefused(info)),
        CertRepOutcome::Pending => Err(SimError::Protocol(
            "the SCEP server answered PENDING; the simulator does not poll".to_owned(),
        )),
    }
}

/// Device number `index` through the whole flow: profile, SCEP, Authenticate, TokenUpdate.
pub async fn enroll_device(
    config: &SimConfig,
    clients: &Clients,
    anchors: &TrustAnchors,
    token: &str,
    index: usize,
) -> Result<Enrolled, SimError> {
    let profile = fetch_profile(&clients.shared(&config.server)?, token, anchors).await?;
    let identity = scep_enroll(clients, &profile, &udid_of(index)).await?;
    let device = Arc::new(VirtualDevice::new(index, identity));
    let mdm = &profile.mdm;
    // Without SignMessage a device proves its identity with its TLS client certificate alone.
    let mtls = (config.uses_mtls() || !mdm.sign_message).then_some(&device.identity);
    let channel = Channel::open(
        clients,
        &mdm.checkin_url,
        &mdm.server_url,
        mdm.topic.clone(),
        mtls,
        &config.wire,
    )?;
    check_in(&device, &channel).await?;
    Ok((device, channel))
}

/// Enrolls `config.devices` devices through the profile. Without `token`, an enrollment token
/// is created with the admin key for the run and revoked after it.
pub async fn enroll_via_profile(
    config: &SimConfig,
    clients: &Clients,
    ca: &Ca,
    token: Option<&str>,
) -> Result<Vec<Enrolled>, SimError> {
    let anchors = TrustAnchors::new(vec![ca.cert_der().to_vec()])?;
    let admin = clients.shared(&config.server)?;
    let created = match token {
        Some(_) => None,
        None => Some(create_token(&admin, &config.api_key).await?),
    };
    let token = token
        .or(created.as_ref().map(|(_, token)| token.as_str()))
        .unwrap_or_default();
    let enrolled = stream::iter(0..config.devices)
        .map(|i| enroll_device(config, clients, &anchors, token, i))
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>();
    if let Some((token_id, _)) = created {
        let revoked = revoke_token(&admin, &config.api_key, &token_id).await;
        match (&enrolled, revoked) {
            (Ok(_), Err(e)) => return Err(e),
            (Err(_), Err(e)) => tracing::warn!(error = %e, %token_id, "revoking the simulator's enrollment token"),
            (_, Ok(())) => {}
        }
    }
    enrolled
}

/// A new enrollment token (`POST /v1/enrollment-tokens`): its id and the token.
async fn create_token(admin: &Client, api_key: &str) -> Result<(String, String), SimError> {
    let name = format!("annal-sim-{}", uuid::Uuid::now_v7().simple());
    let body = serde_json::json!({ "name": name }).to_string().into_bytes();
    let auth = format!("Bearer {api_key}");
    let a = admin
        .send(
            Method::POST,
            "/v1/enrollment-tokens",
            Some("application/json"),
            &[("Authorization", &auth)],
            body,
        )
        .await?;
    let a = success("POST /v1/enrollment-tokens", a)?;
    let created: serde_json::Value =
        serde_json::from_slice(&a.body).map_err(|e| SimError::Protocol(format!("enrollment token: {e}")))?;
    match (created["token_id"].as_str(), created["token"].as_str()) {
        (Some(id), Some(token)) => Ok((id.to_owned(), token.to_owned())),
        _ => Err(SimError::Protocol(
            "the enrollment token answer has no token_id or token".to_owned(),
        )),
    }
}

async fn revoke_token(admin: &Client, api_key: &str, token_id: &str) -> Result<(), SimError> {
    let auth = format!("Bearer {api_key}");
    let path = format!("/v1/enrollment-tokens/{token_id}");
    let a = admin
        .send(Method::DELETE, &path, None, &[("Authorization", &auth)], Vec::new())
        .await?;
    success("DELETE /v1/enrollment-tokens", a).map(drop)
}
