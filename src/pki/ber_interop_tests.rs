//! BER CMS from a third-party encoder: `openssl cms -sign -stream` writes indefinite lengths and
//! a chunked eContent, as Apple devices do in `Mdm-Signature` and over-the-air enrollment bodies.
//! Each is checked against `openssl cms -sign` (DER) over the same body, and tampering still
//! fails. Skipped (with a message) only when no `openssl` binary is on the PATH.

use std::path::Path;

use base64::Engine as _;
use chrono::Utc;

use super::ber::testing::der_to_ber;
use super::interop_tests::{openssl, openssl_missing};
use super::test_support::{anchors, identity};
use super::{verify_attached, verify_mdm_signature, DeviceIdentity, KeyKind, MdmDigest, SignatureError};

/// Long enough for OpenSSL to stream it in several OCTET STRING chunks; CRLF and a non-ASCII
/// byte so any canonicalisation would break the signature.
fn body() -> Vec<u8> {
    b"<?xml version=\"1.0\"?>\r\n<plist><dict><key>UDID</key><string>0000-\xc3\xa9</string></dict></plist>\n"
        .repeat(150)
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// `openssl cms -sign` over `body` by `id`, attached; BER when `stream`.
fn openssl_sign(dir: &Path, id: &DeviceIdentity, body: &[u8], md: &str, stream: bool, extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("dev.pem"), id.cert_pem()).expect("write dev.pem");
    std::fs::write(dir.join("dev.key"), id.key_pem()).expect("write dev.key");
    std::fs::write(dir.join("body"), body).expect("write body");
    let mut args = vec![
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-in",
        "body",
        "-signer",
        "dev.pem",
        "-inkey",
        "dev.key",
        "-md",
        md,
    ];
    args.extend(["-outform", "DER", "-out", "sig.der"]);
    args.push(if stream { "-stream" } else { "-noindef" });
    args.extend_from_slice(extra);
    let out = openssl(dir, &args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("sig.der")).expect("read sig.der")
}

const ID_DATA: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// Removes the streamed eContent (`[0] { OCTET STRING { chunks } }`, all indefinite) from
/// OpenSSL's BER output: the detached form a device sends as `Mdm-Signature`. The signature
/// does not cover the eContent's encoding, so it stays valid.
fn detach(ber: &[u8]) -> Vec<u8> {
    let oid = ber.windows(ID_DATA.len()).position(|w| w == ID_DATA).expect("id-data");
    let start = oid + ID_DATA.len();
    assert_eq!(&ber[start..start + 4], [0xa0, 0x80, 0x24, 0x80], "a streamed eContent");
    let mut at = start + 4;
    let mut chunks = 0;
    while ber[at..at + 2] != [0, 0] {
        assert_eq!(ber[at], 0x04, "an OCTET STRING chunk");
        let (len, octets) = match ber[at + 1] {
            short if short < 0x80 => (short as usize, 0),
            long => {
                let n = (long & 0x7f) as usize;
                let len = ber[at + 2..at + 2 + n].iter().fold(0usize, |l, b| l << 8 | *b as usize);
                (len, n)
            }
        };
        at += 2 + octets + len;
        chunks += 1;
    }
    assert!(chunks > 1, "OpenSSL streamed the body in one chunk; make it longer");
    assert_eq!(&ber[at..at + 4], [0, 0, 0, 0]);
    [&ber[..start], &ber[at + 4..]].concat()
}

#[test]
fn openssl_stream_signatures_verify_attached_like_der_ones() {
    if openssl_missing() {
        return;
    }
    let body = body();
    let cases: [(KeyKind, &str, &[&str]); 4] = [
        (KeyKind::Rsa2048, "sha256", &[]),
        (KeyKind::Rsa2048, "sha1", &[]),
        (KeyKind::EcdsaP256, "sha256", &[]),
        (KeyKind::Rsa2048, "sha256", &["-noattr"]),
    ];
    for (kind, md, extra) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = identity(kind);
        for stream in [true, false] {
            let case = format!("{kind:?} {md} {extra:?} stream={stream}");
            let signed = openssl_sign(dir.path(), id, &body, md, stream, extra);
            assert_eq!(signed[1] == 0x80, stream, "{case}: BER only when streamed");
            let verified = verify_attached(&signed).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(verified.content, body, "{case}");
            // The embedded certificate keeps its bytes, hence its fingerprint.
            assert_eq!(verified.signer_cert_der, id.cert_der, "{case}");

            // One changed byte of the content inside the (chunked) eContent.
            let mut tampered = signed.clone();
            let at = tampered
                .windows(8)
                .position(|w| w == &body[..8])
                .expect("content inside");
            tampered[at + 3] ^= 0x20;
            let err = verify_attached(&tampered).err();
            let refused = if extra.contains(&"-noattr") {
                matches!(err, Some(SignatureError::BadSignature))
            } else {
                matches!(err, Some(SignatureError::DigestMismatch))
            };
            assert!(refused, "{case}: {err:?}");
        }
    }
}

#[test]
fn openssl_stream_signatures_verify_detached_as_mdm_signature() {
    if openssl_missing() {
        return;
    }
    let body = body();
    let cases: [(KeyKind, &str, &[&str]); 3] = [
        (KeyKind::Rsa2048, "sha256", &[]),
        (KeyKind::EcdsaP256, "sha1", &[]),
        (KeyKind::Rsa2048, "sha256", &["-noattr"]),
    ];
    for (kind, md, extra) in cases {
        let case = format!("{kind:?} {md} {extra:?}");
        let dir = tempfile::tempdir().expect("temp dir");
        let id = identity(kind);
        let header = b64(&detach(&openssl_sign(dir.path(), id, &body, md, true, extra)));
        let verified =
            verify_mdm_signature(&header, &body, &anchors(), Utc::now()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(verified.cert_der, id.cert_der, "{case}");

        let mut changed = body.clone();
        changed[40] ^= 0x01;
        let err = verify_mdm_signature(&header, &changed, &anchors(), Utc::now()).err();
        assert!(
            matches!(err, Some(SignatureError::DigestMismatch | SignatureError::BadSignature)),
            "{case}: {err:?}"
        );
    }
}

#[test]
fn our_signatures_reencoded_as_ber_verify_with_the_same_identity() {
    let body = body();
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let id = identity(kind);
        let der = id.sign_mdm_der(&body, MdmDigest::Sha256, Utc::now()).expect("sign");
        // Every length indefinite, the signed attributes included: verification must use
        // their DER form (RFC 5652 §5.4), not the bytes sent.
        let ber = der_to_ber(&der, 5).expect("re-encode");
        assert_ne!(ber, der);
        let verified = verify_mdm_signature(&b64(&ber), &body, &anchors(), Utc::now()).expect("BER verifies");
        assert_eq!(verified.cert_der, id.cert_der, "{kind:?}");
        assert!(matches!(
            verify_mdm_signature(&b64(&ber), &body[1..], &anchors(), Utc::now()),
            Err(SignatureError::DigestMismatch)
        ));

        let attached = der_to_ber(&id.sign_attached(&body, &[]).expect("sign"), 100).expect("re-encode");
        let signed = verify_attached(&attached).expect("BER verifies");
        assert_eq!(
            (signed.content, signed.signer_cert_der),
            (body.clone(), id.cert_der.clone())
        );
    }
}

#[test]
fn a_malformed_ber_signature_says_what_is_wrong() {
    let body = body();
    let der = identity(KeyKind::EcdsaP256)
        .sign_mdm_der(&body, MdmDigest::Sha256, Utc::now())
        .expect("sign");
    let ber = der_to_ber(&der, 64).expect("re-encode");
    let cut = &ber[..ber.len() - 3];
    let err = verify_mdm_signature(&b64(cut), &body, &anchors(), Utc::now())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("not a CMS SignedData: truncated at byte"), "{err}");
    let mut trailing = ber.clone();
    trailing.extend_from_slice(b"xyz");
    let err = verify_attached(&trailing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("3 trailing bytes"), "{err}");
}
