//! Who an `Mdm-Signature` header says signed, and whether that certificate is trusted, before
//! the body it signs has been read: a request signed by a stranger is refused without the
//! server buffering (or hashing) a byte of its body. The signature over the body is verified
//! afterwards by [`super::verify_mdm_signature`], which checks the same certificate again (from
//! the trusted-leaf cache).

use chrono::{DateTime, Utc};

use super::cms_raw::{der_form, parse_signed_data};
use super::identity::VerifiedIdentity;
use super::mdm_signature::{decode_base64, find_signer_cert};
use super::{SignatureError, TrustAnchors};

/// The identity of the one signer of the header's CMS SignedData, when its certificate (embedded
/// in the CMS) chains to `anchors` and is valid at `now`. Proves nothing about the body.
pub fn trusted_signer(
    header_b64: &str,
    anchors: &TrustAnchors,
    now: DateTime<Utc>,
) -> Result<VerifiedIdentity, SignatureError> {
    let encoded = decode_base64(header_b64)?;
    // Devices send BER here too (indefinite lengths): read it as `verify_mdm_signature` will.
    let der = der_form(&encoded)?;
    let sd = parse_signed_data(&der)?;
    let signer = match sd.signers.as_slice() {
        [] => return Err(SignatureError::NoSigner),
        [one] => one,
        many => return Err(SignatureError::MultipleSigners(many.len())),
    };
    let (cert_der, _) = find_signer_cert(&sd.certificates, &signer.info.sid)?;
    anchors.verify_leaf(cert_der, now).map_err(SignatureError::Untrusted)
}
