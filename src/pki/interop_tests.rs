//! Interop with a third-party CMS implementation: the `openssl` command-line tool signs
//! Mdm-Signature values that our verifier must accept, and verifies the ones `sign_mdm` makes.
//! The tests are skipped (with a message) only when no `openssl` binary is on the PATH.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use chrono::Utc;

use super::test_support::{anchors, ca, identity};
use super::{verify_mdm_signature, DeviceIdentity, KeyKind, MdmDigest, SignatureError};

/// CRLF and a non-ASCII byte: any canonicalisation of the body would break the signature.
const BODY: &[u8] = b"<?xml version=\"1.0\"?>\r\n<plist><dict><key>MessageType</key><string>Authenticate\xc3\xa9</string></dict></plist>\n";

pub(super) fn openssl_missing() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: no `openssl` binary on PATH; CMS interop with OpenSSL was not checked");
    }
    !found
}

pub(super) fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl")
}

/// Writes the CA certificate, the identity's certificate and key, and the body into `dir`.
fn write_files(dir: &Path, id: &DeviceIdentity) {
    std::fs::write(dir.join("ca.pem"), ca().cert_pem()).expect("write ca.pem");
    std::fs::write(dir.join("dev.pem"), id.cert_pem()).expect("write dev.pem");
    std::fs::write(dir.join("dev.key"), id.key_pem()).expect("write dev.key");
    std::fs::write(dir.join("body"), BODY).expect("write body");
}

#[test]
fn we_verify_signatures_made_by_openssl() {
    if openssl_missing() {
        return;
    }
    // (key, -md, extra flags): SHA-1 and SHA-256, with and without signed attributes, and a
    // signer identified by subjectKeyIdentifier instead of issuer and serial.
    let cases: [(KeyKind, &str, &[&str]); 7] = [
        (KeyKind::Rsa2048, "sha1", &[]),
        (KeyKind::Rsa2048, "sha256", &[]),
        (KeyKind::EcdsaP256, "sha256", &[]),
        (KeyKind::EcdsaP256, "sha1", &[]),
        (KeyKind::Rsa2048, "sha256", &["-noattr"]),
        (KeyKind::Rsa2048, "sha1", &["-noattr"]),
        (KeyKind::EcdsaP256, "sha256", &["-keyid"]),
    ];
    for (kind, md, extra) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = identity(kind);
        write_files(dir.path(), id);
        let mut args = vec![
            "cms", "-sign", "-binary", "-in", "body", "-signer", "dev.pem", "-inkey", "dev.key",
        ];
        args.extend(["-outform", "DER", "-out", "sig.der", "-md", md]);
        args.extend_from_slice(extra);
        let out = openssl(dir.path(), &args);
        assert!(
            out.status.success(),
            "openssl cms -sign {md} {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let der = std::fs::read(dir.path().join("sig.der")).expect("read sig.der");
        let header = base64::engine::general_purpose::STANDARD.encode(der);
        let case = format!("{kind:?} {md} {extra:?}");
        let verified =
            verify_mdm_signature(&header, BODY, &anchors(), Utc::now()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(verified.cert_der, id.cert_der, "{case}");

        let mut changed = BODY.to_vec();
        changed[0] = b' ';
        let err = verify_mdm_signature(&header, &changed, &anchors(), Utc::now()).err();
        let expected = if extra.contains(&"-noattr") {
            // Without signed attributes there is no messageDigest: the signature itself fails.
            matches!(err, Some(SignatureError::BadSignature))
        } else {
            matches!(err, Some(SignatureError::DigestMismatch))
        };
        assert!(expected, "{case}: {err:?}");
    }
}

#[test]
fn openssl_verifies_signatures_made_by_sign_mdm() {
    if openssl_missing() {
        return;
    }
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = identity(kind);
        write_files(dir.path(), id);
        let header = id.sign_mdm(BODY, MdmDigest::Sha256).expect("sign");
        let der = base64::engine::general_purpose::STANDARD
            .decode(header)
            .expect("base64");
        std::fs::write(dir.path().join("sig.der"), der).expect("write sig.der");

        let verify = |content: &str| {
            let args = [
                "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der", "-content", content,
            ];
            let args = [
                &args[..],
                &["-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"],
            ]
            .concat();
            openssl(dir.path(), &args)
        };
        let out = verify("body");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("Verification successful"),
            "{kind:?}: {stderr}"
        );

        // The same signature over a different body must fail in OpenSSL too.
        std::fs::write(dir.path().join("other"), b"another body").expect("write other");
        assert!(
            !verify("other").status.success(),
            "{kind:?}: openssl accepted a changed body"
        );
    }
}
