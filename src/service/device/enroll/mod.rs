//! Enrollment use cases: the signed enrollment profile (`GET /enroll`), Automated Device
//! Enrollment (ade.rs) and the over-the-air profile service (ota.rs). Which topic, which
//! challenge, which profile, what is recorded: decided here; the HTTP layer authorizes the
//! enrollment token and encodes the answer.

pub mod ade;
mod error;
pub mod ota;

use chrono::{Duration, Utc};

use crate::domain::access::Caller;
use crate::pki::apple::AppleDeviceCa;
use crate::pki::profile::{enrollment_profile, mobileconfig, EnrollmentSettings, PayloadIds};
use crate::pki::{CmsSigner, TrustAnchors};
use crate::push::PushService;
use crate::service::scep::{ChallengeContext, ScepService};
use crate::store::EventStore;
use error::profile_error;
pub use error::EnrollError;

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

/// What serving enrollment needs from the server.
pub struct Enrolling<'a> {
    pub config: &'a EnrollConfig,
    pub push: &'a PushService,
    pub scep: &'a ScepService,
    pub store: &'a dyn EventStore,
    /// Annal's CAs for device identities: an OTA body they sign is phase 3.
    pub anchors: &'a TrustAnchors,
}

impl Enrolling<'_> {
    /// The enrollment profile, CMS-signed, fresh PayloadUUIDs on every call.
    pub async fn profile(&self, caller: &Caller) -> Result<Vec<u8>, EnrollError> {
        let mut settings = self.settings().await?;
        settings.challenge = Some(self.scep_challenge(caller, None).await?);
        let profile = enrollment_profile(&settings, &PayloadIds::random()).map_err(profile_error)?;
        let body = mobileconfig(profile, Some(&self.config.signer)).map_err(profile_error)?;
        tracing::info!(actor = %caller.actor, "served the enrollment profile");
        Ok(body)
    }

    /// The settings for the next profile, without a challenge: the topic is `--topic`, else
    /// the installed push certificate's, read now so an install needs no restart.
    async fn settings(&self) -> Result<EnrollmentSettings, EnrollError> {
        let config = self.config;
        let topic = match &config.topic {
            Some(topic) => topic.clone(),
            None => {
                if let Err(e) = self.push.refresh_certificate().await {
                    tracing::warn!(error = %e, "reading the installed push certificate");
                }
                self.push.topic().ok_or_else(|| {
                    EnrollError::NoPushTopic(
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
    /// `POST /v1/scep/challenges` (the log keeps its hash, with the token's name as actor and
    /// its id, so revoking the token voids it), so a served profile enrolls at /scep once.
    /// `udid` is the device the over-the-air service was told about: the certificate enrolls
    /// no other.
    async fn scep_challenge(&self, caller: &Caller, udid: Option<&str>) -> Result<String, EnrollError> {
        if let Some(challenge) = &self.config.static_challenge {
            return Ok(challenge.clone());
        }
        let expires_at = Utc::now() + PROFILE_CHALLENGE_LIFETIME;
        let enrollment_token_id = self
            .scep
            .keys()
            .key_id_of_actor(&caller.actor)
            .await
            .map_err(|e| EnrollError::Unavailable(e.to_string()))?;
        let context = ChallengeContext {
            enrollment_token_id,
            udid: udid.map(str::to_owned),
            serial_number: None,
            admin_bound: false,
        };
        Ok(self
            .scep
            .issue_challenge(&caller.actor, Some(expires_at), context)
            .await?)
    }
}
