//! Automated Device Enrollment: a device assigned to this server in Apple Business/School
//! Manager sends its MachineInfo plist, CMS-signed (DER or BER) by its Apple-issued identity,
//! and gets the enrollment profile.
//!
//! The enrollment token is what authorizes the profile, exactly as for `GET /enroll`: a
//! MachineInfo signed by anyone gets nothing more than the token already grants. The signature
//! must verify (a body altered on the way is refused), and whether its signer chains to
//! Apple's device CA is recorded with the request, so the log tells an Apple device's own word
//! from a claim.

use annal_schemas::events::ade::MachineInfoReceived;
use bytes::Bytes;

use super::error::profile_error;
use super::{EnrollError, Enrolling};
use crate::domain::access::Caller;
use crate::mdm::parse_machine_info;
use crate::pki::apple::{verify_device_signed, AppleIdentityError};
use crate::pki::profile::{enrollment_profile, mobileconfig, PayloadIds};
use crate::pki::{certificate_info, verify_attached, SignatureError};

impl Enrolling<'_> {
    /// Records the signed MachineInfo (before anything is served) and makes the profile.
    pub async fn machine_info(&self, caller: &Caller, body: Bytes) -> Result<Vec<u8>, EnrollError> {
        // Apple's word on the UDID (a signer under Apple's device CA, whose RSA-1024 keys are
        // accepted there only), or only the device's claim (any signature that verifies).
        let (content, signer_cert_der, signer_apple) = match verify_device_signed(&body, &self.config.device_cas) {
            Ok(apple) => (apple.content, apple.signer_cert_der, true),
            Err(AppleIdentityError::Cms(e)) => return Err(signature_refusal(e)),
            Err(_) => {
                let signed = verify_attached(&body).map_err(signature_refusal)?;
                (signed.content, signed.signer_cert_der, false)
            }
        };
        let info = parse_machine_info(&content)
            .map_err(|e| EnrollError::invalid_body(format!("the signed content is not a MachineInfo plist: {e}")))?;
        let signer = certificate_info(&signer_cert_der)
            .map_err(|e| EnrollError::invalid(format!("the signer certificate cannot be read: {e}")))?;
        // A challenge is tied to the UDID only when Apple vouches for it.
        let mut settings = self.settings().await?;
        let vouched_udid = signer_apple.then_some(info.udid.as_str());
        settings.challenge = Some(self.scep_challenge(caller, vouched_udid).await?);
        let profile = enrollment_profile(&settings, &PayloadIds::random()).map_err(profile_error)?;
        let profile = mobileconfig(profile, Some(&self.config.signer)).map_err(profile_error)?;
        let event = MachineInfoReceived {
            udid: info.udid,
            serial_number: info.serial,
            product: info.product,
            version: info.version,
            os_version: info.os_version,
            imei: info.imei,
            meid: info.meid,
            language: info.language,
            signer_fingerprint_sha256: signer.fingerprint_sha256,
            signer_subject: signer.subject,
            signer_issuer: signer.issuer,
            signer_apple,
        };
        crate::service::machine_info::record(self.store, &caller.actor, &event, body.to_vec())
            .await
            .map_err(|e| EnrollError::Unavailable(e.to_string()))?;
        tracing::info!(actor = %caller.actor, udid = %event.udid, signer_apple, "ADE: served the enrollment profile");
        Ok(profile)
    }
}

/// A body that is not a signed plist is malformed (400); a signature that does not verify is
/// a refusal (403): the body is not what the device signed.
fn signature_refusal(e: SignatureError) -> EnrollError {
    match e {
        SignatureError::BadSignature | SignatureError::DigestMismatch | SignatureError::WeakKey(_) => {
            EnrollError::Untrusted(format!("MachineInfo: {e}"))
        }
        other => EnrollError::invalid_body(format!(
            "the body must be a CMS SignedData holding the MachineInfo plist: {other}"
        )),
    }
}
