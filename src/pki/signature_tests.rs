//! Refusals (and tolerances) of `verify_mdm_signature`, plus an ignored timing print.

use base64::Engine as _;
use chrono::Utc;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfos};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};

use super::test_support::{anchors, identity, other_ca};
use super::{verify_mdm_signature, KeyKind, MdmDigest, PkiError, SignatureError, VerifiedIdentity};

const BODY: &[u8] = b"<plist><dict><key>UDID</key><string>0000-1111</string></dict></plist>";

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn verify(header: &str, body: &[u8]) -> Result<VerifiedIdentity, SignatureError> {
    verify_mdm_signature(header, body, &anchors(), Utc::now())
}

/// Re-encodes a valid signature after `edit` changed its SignedData.
fn edited(edit: impl FnOnce(&mut SignedData)) -> String {
    let der = identity(KeyKind::EcdsaP256)
        .sign_mdm_der(BODY, MdmDigest::Sha256, Utc::now())
        .expect("sign");
    let mut ci = ContentInfo::from_der(&der).expect("ci");
    let mut sd: SignedData = ci.content.decode_as().expect("sd");
    edit(&mut sd);
    ci.content = Any::encode_from(&sd).expect("encode");
    b64(&ci.to_der().expect("encode"))
}

#[test]
fn tolerates_folded_base64_and_reports_the_signer() {
    let header = identity(KeyKind::Rsa2048)
        .sign_mdm(BODY, MdmDigest::Sha256)
        .expect("sign");
    let folded: String = header
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\r\n ");
    let unpadded = header.trim_end_matches('=');
    for h in [folded.as_str(), unpadded] {
        let id = verify(h, BODY).expect("verifies");
        assert_eq!(id.cert_der, identity(KeyKind::Rsa2048).cert_der);
    }
}

#[test]
fn a_changed_body_is_a_digest_mismatch() {
    let header = identity(KeyKind::Rsa2048)
        .sign_mdm(BODY, MdmDigest::Sha256)
        .expect("sign");
    let mut body = BODY.to_vec();
    body[10] ^= 0x20;
    assert!(matches!(verify(&header, &body), Err(SignatureError::DigestMismatch)));
    assert!(matches!(verify(&header, b""), Err(SignatureError::DigestMismatch)));
}

#[test]
fn untrusted_and_expired_signers_are_refused() {
    let foreign = other_ca()
        .issue_device_identity("intruder", KeyKind::EcdsaP256, 30)
        .expect("issue");
    let header = foreign.sign_mdm(BODY, MdmDigest::Sha256).expect("sign");
    assert!(matches!(
        verify(&header, BODY),
        Err(SignatureError::Untrusted(PkiError::BadCertificateSignature))
    ));

    let header = identity(KeyKind::EcdsaP256)
        .sign_mdm(BODY, MdmDigest::Sha256)
        .expect("sign");
    let later = Utc::now() + chrono::Duration::days(366);
    let err = verify_mdm_signature(&header, BODY, &anchors(), later).err();
    assert!(
        matches!(err, Some(SignatureError::Untrusted(PkiError::Expired(_)))),
        "{err:?}"
    );
}

#[test]
fn malformed_headers_are_refused() {
    assert!(matches!(
        verify("not base64 at all!", BODY),
        Err(SignatureError::BadBase64)
    ));
    assert!(matches!(verify("", BODY), Err(SignatureError::NotSignedData(_))));
    assert!(matches!(
        verify(&b64(b"hello world"), BODY),
        Err(SignatureError::NotSignedData(_))
    ));
    let err = verify(&b64(&identity(KeyKind::Rsa2048).cert_der), BODY).err();
    assert!(matches!(err, Some(SignatureError::NotSignedData(_))), "{err:?}");
}

#[test]
fn signer_count_certificate_and_detachment_are_checked() {
    let none = edited(|sd| sd.signer_infos = SignerInfos::try_from(Vec::new()).expect("empty"));
    assert!(matches!(verify(&none, BODY), Err(SignatureError::NoSigner)));

    let two = edited(|sd| {
        let mut second = sd.signer_infos.0.iter().next().expect("signer").clone();
        second.signature = OctetString::new(vec![1, 2, 3]).expect("octets");
        sd.signer_infos.0.insert(second).expect("insert");
    });
    assert!(matches!(verify(&two, BODY), Err(SignatureError::MultipleSigners(2))));

    let no_cert = edited(|sd| sd.certificates = None);
    assert!(matches!(
        verify(&no_cert, BODY),
        Err(SignatureError::SignerCertificateMissing)
    ));

    let attached = edited(|sd| {
        let content = OctetString::new(BODY).expect("octets");
        sd.encap_content_info.econtent = Some(Any::encode_from(&content).expect("any"));
    });
    assert!(matches!(verify(&attached, BODY), Err(SignatureError::NotDetached)));
}

#[test]
fn a_forged_signature_or_algorithm_is_refused() {
    let forged = edited(|sd| {
        let mut signers: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        let mut sig = signers[0].signature.as_bytes().to_vec();
        let mid = sig.len() / 2;
        sig[mid] ^= 0x01;
        signers[0].signature = OctetString::new(sig).expect("octets");
        sd.signer_infos = SignerInfos::try_from(signers).expect("signers");
    });
    assert!(matches!(verify(&forged, BODY), Err(SignatureError::BadSignature)));

    let md5 = edited(|sd| {
        let mut signers: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        signers[0].digest_alg.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
        sd.signer_infos = SignerInfos::try_from(signers).expect("signers");
    });
    assert!(matches!(
        verify(&md5, BODY),
        Err(SignatureError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn errors_do_not_echo_the_body() {
    let header = identity(KeyKind::Rsa2048)
        .sign_mdm(BODY, MdmDigest::Sha256)
        .expect("sign");
    let secret_body = b"top-secret-body-bytes";
    let err = verify(&header, secret_body)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.is_empty() && !err.contains("top-secret"));
}

/// Prints the per-message cost of verification; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    let anchors = anchors();
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let header = identity(kind).sign_mdm(BODY, MdmDigest::Sha256).expect("sign");
        let n = 2000;
        let start = std::time::Instant::now();
        for _ in 0..n {
            verify_mdm_signature(&header, BODY, &anchors, Utc::now()).expect("verifies");
        }
        println!("{kind:?}: {:?} per verify_mdm_signature", start.elapsed() / n);
    }
}
