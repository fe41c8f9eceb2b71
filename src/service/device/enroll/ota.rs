//! The over-the-air profile service (`pki::profile::ota` has the flow). Which phase a body is,
//! the signer says: a certificate from Annal's CA (or the external CA) is the identity SCEP
//! issued, so phase 3; any other must be the device's identity under Apple iPhone Device CA
//! (`pki::apple`, RSA-1024 allowed there only), so phase 2. Bodies may be BER or DER.

use chrono::Utc;
use uuid::Uuid;

use super::error::profile_error;
use super::{EnrollError, Enrolling};
use crate::domain::access::Caller;
use crate::pki::apple::{verify_device_signed, AppleIdentityError, AppleSigned};
use crate::pki::profile::ota::{self, encrypted_enrollment_profile, parse_attributes, scep_profile, DeviceAttributes};
use crate::pki::profile::{mobileconfig, PayloadIds};
use crate::pki::{verify_attached, PkiError, SignatureError, SignedContent};

/// Who signed a phase 2 or 3 body.
enum Signed {
    /// The identity SCEP issued from Annal's CA (or the external CA): phase 3.
    Enrolled(SignedContent),
    /// The device's identity under Apple iPhone Device CA: phase 2.
    Device(AppleSigned),
}

/// A phase 2 or 3 body, verified and read. Its challenge is the enrollment token the profile
/// service handed out: the caller checks it before asking for the profile.
pub struct Phase {
    signed: Signed,
    pub attributes: DeviceAttributes,
}

impl Enrolling<'_> {
    /// Phase 1: the signed Profile Service payload; its challenge is the enrollment token,
    /// which the device echoes back in phases 2 and 3.
    pub async fn profile_service(&self, caller: &Caller, token: &str) -> Result<Vec<u8>, EnrollError> {
        let settings = self.settings().await?;
        let payload = ota::profile_service(&settings, token, Uuid::new_v4()).map_err(profile_error)?;
        let body = mobileconfig(payload, Some(&self.config.signer)).map_err(profile_error)?;
        tracing::info!(actor = %caller.actor, "served the OTA profile service");
        Ok(body)
    }

    /// Phases 2 and 3: the device's signed attributes, verified.
    pub fn read_phase(&self, body: &[u8]) -> Result<Phase, EnrollError> {
        let signed = self.signed_by(body)?;
        let content = match &signed {
            Signed::Enrolled(s) => &s.content,
            Signed::Device(s) => &s.content,
        };
        let attributes = parse_attributes(content).map_err(|e| EnrollError::invalid(e.to_string()))?;
        Ok(Phase { signed, attributes })
    }

    /// The profile for a phase: the SCEP profile (phase 2), or the enrollment profile
    /// encrypted to the SCEP identity (phase 3).
    pub async fn phase_profile(&self, caller: &Caller, phase: Phase) -> Result<Vec<u8>, EnrollError> {
        let Phase { signed, attributes } = phase;
        let mut settings = self.settings().await?;
        let ids = PayloadIds::random();
        let profile = match signed {
            Signed::Enrolled(signed) => {
                let fingerprint = crate::pki::fingerprint_sha256(&signed.signer_cert_der);
                tracing::info!(actor = %caller.actor, udid = %attributes.udid, %fingerprint, "OTA phase 3: encrypted enrollment profile");
                // The profile is encrypted to this certificate, which needs an RSA key: checked
                // before a challenge is issued, so a refusal records nothing.
                if !crate::pki::has_rsa_key(&signed.signer_cert_der) {
                    return Err(EnrollError::invalid(
                        "phase 3 must be signed with the SCEP identity (an RSA key): the profile is encrypted to it",
                    ));
                }
                // Its SCEP payload is the MDM identity the device enrolls for next: one more
                // one-time challenge.
                settings.challenge = Some(self.scep_challenge(caller, Some(&attributes.udid)).await?);
                encrypted_enrollment_profile(&settings, &ids, &signed.signer_cert_der).map_err(profile_error)?
            }
            Signed::Device(signed) => {
                tracing::info!(actor = %caller.actor, udid = %attributes.udid, product = ?attributes.product, signer = %signed.signer.subject, key = %signed.key, device_ca = %signed.issued_by, "OTA phase 2: SCEP profile");
                let challenge = self.scep_challenge(caller, Some(&attributes.udid)).await?;
                scep_profile(&settings, &attributes.udid, Some(&challenge), &ids).map_err(profile_error)?
            }
        };
        mobileconfig(profile, Some(&self.config.signer)).map_err(profile_error)
    }

    /// The CMS structure is refused as invalid; a signer that is not trusted for either phase
    /// as untrusted, naming its key and issuer.
    fn signed_by(&self, body: &[u8]) -> Result<Signed, EnrollError> {
        let invalid = |e: &dyn std::fmt::Display| {
            EnrollError::invalid_body(format!(
                "the body must be the device attributes in a CMS SignedData: {e}"
            ))
        };
        match verify_attached(body) {
            Ok(signed) => match self.anchors.verify_leaf(&signed.signer_cert_der, Utc::now()) {
                Ok(_) => return Ok(Signed::Enrolled(signed)),
                // Not issued by a CA of ours: phase 2, whose signer must chain to a device CA.
                Err(PkiError::UnknownIssuer(_)) => {}
                Err(e) => return Err(EnrollError::Untrusted(e.to_string())),
            },
            // A key or algorithm only Apple's device chain may use (RSA-1024) is checked there.
            Err(
                SignatureError::WeakKey(_) | SignatureError::BadSignature | SignatureError::UnsupportedAlgorithm(_),
            ) => {}
            Err(e) => return Err(invalid(&e)),
        }
        match verify_device_signed(body, &self.config.device_cas) {
            Ok(signed) => Ok(Signed::Device(signed)),
            Err(AppleIdentityError::Cms(e)) => Err(invalid(&e)),
            Err(e) => Err(EnrollError::Untrusted(e.to_string())),
        }
    }
}
