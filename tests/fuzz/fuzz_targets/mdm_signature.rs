//! `Mdm-Signature` (a detached CMS SignedData over the request body, base64 in a header) and
//! attached SignedData (a device's answer to the profile service). Any header and body are
//! refused with an error or verified; a verdict of "signed" must not survive a change to the
//! body, nor depend on the trust anchors' leaf cache, nor on the CMS arriving in BER instead of
//! DER. Attached signatures also go through the Apple device-identity check (OTA phase 2).
#![no_main]

use annal::pki::apple::{verify_device_signed, AppleDeviceCa};
use annal::pki::ber::testing::der_to_ber;
use annal::pki::{verify_attached, verify_mdm_signature, SignatureError};
use annal_fuzz::fixture;
use annal_fuzz::signature_input::split;
use base64::Engine as _;
use chrono::Utc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = split(data) else { return };
    let now = Utc::now();
    match verify_mdm_signature(&input.header, input.body, fixture::anchors(), now) {
        Ok(identity) => {
            // The signature covers the body: one more byte and it no longer verifies.
            let mut other = input.body.to_vec();
            other.push(b'\n');
            let forged = verify_mdm_signature(&input.header, &other, fixture::anchors(), now);
            assert!(
                matches!(
                    forged,
                    Err(SignatureError::DigestMismatch | SignatureError::BadSignature)
                ),
                "a signature verified for a body it does not cover: {forged:?}"
            );
            // The cached verdict is the one a fresh check gives.
            let fresh = verify_mdm_signature(&input.header, input.body, &fixture::fresh_anchors(), now);
            assert_eq!(
                fresh.as_ref().ok(),
                Some(&identity),
                "the leaf cache changed the verdict"
            );
            // The same CMS in BER (indefinite lengths, chunked OCTET STRINGs) verifies the same.
            if let Some(ber) = input.der.and_then(|der| der_to_ber(der, 7)) {
                let header = base64::engine::general_purpose::STANDARD.encode(ber);
                match verify_mdm_signature(&header, input.body, fixture::anchors(), now) {
                    Ok(again) => assert_eq!(again, identity, "the BER form names another signer"),
                    // Chunking an OCTET STRING at the deepest allowed level nests one level more.
                    Err(SignatureError::NotSignedData(e)) if e.contains("nested deeper") => {}
                    Err(e) => panic!("the BER form of a verified signature is refused: {e}"),
                }
            }
        }
        Err(SignatureError::Untrusted(_)) => {
            // Nothing untrusted may have entered the cache: a fresh set refuses it the same way.
            let fresh = verify_mdm_signature(&input.header, input.body, &fixture::fresh_anchors(), now);
            assert!(
                matches!(fresh, Err(SignatureError::Untrusted(_))),
                "cache disagrees: {fresh:?}"
            );
        }
        Err(_) => {}
    }
    if let Some(der) = input.der {
        attached(der, now);
    }
});

/// An attached signature with content is never accepted as a detached `Mdm-Signature`.
fn attached(der: &[u8], now: chrono::DateTime<Utc>) {
    if let Ok(apple) = AppleDeviceCa::apple() {
        if let Ok(signed) = verify_device_signed(der, apple) {
            assert_eq!(signed.issued_by, "Apple iPhone Device CA");
        }
    }
    let Ok(signed) = verify_attached(der) else { return };
    if signed.content.is_empty() {
        return;
    }
    let header = base64::engine::general_purpose::STANDARD.encode(der);
    let detached = verify_mdm_signature(&header, &signed.content, fixture::anchors(), now);
    assert!(
        matches!(detached, Err(SignatureError::NotDetached)),
        "attached content accepted as Mdm-Signature: {detached:?}"
    );
}
