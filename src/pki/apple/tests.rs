//! Device identities under Apple's chain. No Apple-signed capture is public, so a test chain of
//! the same shape (a root, an RSA-1024 "Apple iPhone Device CA", RSA-1024 leaves, SHA-1
//! certificate signatures) is made with the `openssl` CLI, which also signs the bodies
//! (`cms -sign -md sha1`, DER and BER `-stream`). The shipped Apple certificates are checked as
//! data. Skipped (with a message) only when no `openssl` binary is on the PATH.

use std::path::Path;

use super::*;
use crate::pki::codec::pem_encode;
use crate::pki::interop_tests::{openssl, openssl_missing};
use crate::pki::test_support::ca;
use crate::pki::{fingerprint_sha256, verify_attached};

const BODY: &[u8] =
    b"<plist><dict><key>UDID</key><string>0000-TEST</string><key>CHALLENGE</key><string>x</string></dict></plist>";
const TEST_DEVICE_CA: &str = "Apple iPhone Device CA (test)";

fn run(dir: &Path, command: &str) {
    let args: Vec<&str> = command.split(' ').collect();
    let out = openssl(dir, &args);
    assert!(
        out.status.success(),
        "openssl {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read")
}

/// A root and an RSA-1024 device CA under it, in `dir` (root.pem, device-ca.pem/.key).
fn test_chain(dir: &Path) -> AppleDeviceCa {
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .expect("write");
    run(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj /O=Test/CN=Test-Root-CA -days 3650 -out root.pem",
    );
    run(
        dir,
        "req -newkey rsa:1024 -nodes -keyout device-ca.key -subj /CN=placeholder -out device-ca.csr",
    );
    // The subject has spaces: set it in the signing step through a config-free -subj.
    let out = openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "device-ca.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "1",
            "-days",
            "3650",
            "-sha1",
            "-extfile",
            "ca.ext",
            "-subj",
            "/C=US/O=Apple Inc./OU=Apple iPhone/CN=Apple iPhone Device CA (test)",
            "-out",
            "device-ca.pem",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    AppleDeviceCa::from_pem_bundle(&(read(dir, "device-ca.pem") + &read(dir, "root.pem"))).expect("test chain")
}

/// An RSA-1024 leaf `name` (.pem/.key) issued by `issuer` (.pem/.key) with SHA-1.
fn leaf(dir: &Path, name: &str, issuer: &str) {
    run(
        dir,
        &format!("req -newkey rsa:1024 -nodes -keyout {name}.key -subj /CN={name} -out {name}.csr"),
    );
    run(
        dir,
        &format!("x509 -req -in {name}.csr -CA {issuer}.pem -CAkey {issuer}.key -set_serial 7 -days 365 -sha1 -out {name}.pem"),
    );
}

/// `openssl cms -sign` of BODY by `name`, attached, `md`, BER when `stream`.
fn sign(dir: &Path, name: &str, md: &str, stream: bool) -> Vec<u8> {
    std::fs::write(dir.join("body"), BODY).expect("write");
    let streaming = if stream { "-stream" } else { "-noindef" };
    run(
        dir,
        &format!("cms -sign -nodetach -binary -in body -signer {name}.pem -inkey {name}.key -md {md} {streaming} -outform DER -out {name}.sig"),
    );
    std::fs::read(dir.join(format!("{name}.sig"))).expect("read")
}

#[test]
fn an_rsa_1024_leaf_under_the_device_ca_verifies_with_sha1_and_sha256_in_der_and_ber() {
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cas = test_chain(dir.path());
    assert_eq!(cas.chain_names(), TEST_DEVICE_CA);
    leaf(dir.path(), "UDID-1024", "device-ca");
    for (md, stream) in [("sha1", false), ("sha1", true), ("sha256", false), ("sha256", true)] {
        let case = format!("{md} stream={stream}");
        let body = sign(dir.path(), "UDID-1024", md, stream);
        assert_eq!(body[1] == 0x80, stream, "{case}");
        let signed = verify_device_signed(&body, &cas).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(signed.content, BODY, "{case}");
        assert_eq!(
            (signed.key.as_str(), signed.issued_by.as_str()),
            ("RSA-1024", TEST_DEVICE_CA)
        );
        assert!(signed.signer.subject.contains("UDID-1024"), "{}", signed.signer.subject);
        assert_eq!(
            signed.signer.fingerprint_sha256,
            fingerprint_sha256(&signed.signer_cert_der)
        );

        // Outside this path the 2048-bit minimum holds, and says so.
        let err = verify_attached(&body).err();
        assert!(
            matches!(&err, Some(SignatureError::WeakKey(k)) if k == "RSA-1024"),
            "{case}: {err:?}"
        );

        let mut tampered = body.clone();
        let at = tampered.windows(7).position(|w| w == b"0000-TE").expect("content");
        tampered[at] = b'1';
        let err = verify_device_signed(&tampered, &cas).err();
        assert!(
            matches!(err, Some(AppleIdentityError::Cms(SignatureError::DigestMismatch))),
            "{case}: {err:?}"
        );
    }
}

#[test]
fn the_same_rsa_1024_key_under_annals_ca_is_refused_naming_the_key_size() {
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cas = test_chain(dir.path());
    std::fs::write(dir.path().join("annal.pem"), ca().cert_pem()).expect("write");
    std::fs::write(
        dir.path().join("annal.key"),
        pem_encode("PRIVATE KEY", ca().key_pkcs8_der()),
    )
    .expect("write");
    leaf(dir.path(), "UDID-ANNAL", "annal");
    let body = sign(dir.path(), "UDID-ANNAL", "sha1", true);
    let err = verify_device_signed(&body, &cas)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let annal_ca = parse_cert(ca().cert_der()).expect("ca").subject().to_string();
    assert_eq!(
        err,
        format!("signer key RSA-1024 is accepted only for certificates under {TEST_DEVICE_CA}; this one is issued by {annal_ca}")
    );
    let err = verify_attached(&body).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("RSA-1024") && err.contains("2048"), "{err}");

    // As an Mdm-Signature (detached DER from openssl) the key is refused by name too, although
    // Annal's CA issued it.
    run(
        dir.path(),
        "cms -sign -binary -in body -signer UDID-ANNAL.pem -inkey UDID-ANNAL.key -outform DER -out detached.sig",
    );
    let header = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(dir.path().join("detached.sig")).expect("read"),
    );
    let err = crate::pki::verify_mdm_signature(&header, BODY, &crate::pki::test_support::anchors(), chrono::Utc::now());
    assert!(
        matches!(&err, Err(SignatureError::WeakKey(k)) if k == "RSA-1024"),
        "{err:?}"
    );
}

#[test]
fn a_leaf_under_an_unknown_ca_or_a_forged_device_ca_is_refused_naming_the_chain() {
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cas = test_chain(dir.path());
    run(
        dir.path(),
        "req -x509 -newkey rsa:2048 -nodes -keyout self.key -subj /CN=Some-Other-CA -days 30 -out self.pem",
    );
    let body = sign(dir.path(), "self", "sha256", false);
    let err = verify_device_signed(&body, &cas)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        format!("the signer certificate is issued by CN=Some-Other-CA, which does not chain to {TEST_DEVICE_CA}")
    );
    let apple = AppleDeviceCa::apple().expect("shipped chain");
    let err = verify_device_signed(&body, apple)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.ends_with("does not chain to Apple iPhone Device CA"), "{err}");

    // Another key under the device CA's exact name: the certificate signature gives it away.
    run(
        dir.path(),
        "req -newkey rsa:1024 -nodes -keyout forged.key -subj /CN=x -out forged.csr",
    );
    let out = openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "forged.csr",
            "-signkey",
            "forged.key",
            "-days",
            "30",
            "-subj",
            "/C=US/O=Apple Inc./OU=Apple iPhone/CN=Apple iPhone Device CA (test)",
            "-out",
            "forged.pem",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    leaf(dir.path(), "UDID-FORGED", "forged");
    let body = sign(dir.path(), "UDID-FORGED", "sha1", false);
    let err = verify_device_signed(&body, &cas).err();
    assert!(
        matches!(err, Some(AppleIdentityError::BadCertificateSignature { .. })),
        "{err:?}"
    );
}

/// SHA-256 fingerprints as PROVENANCE.md records them.
const SHIPPED: [(&str, &str); 3] = [
    (
        APPLE_ROOT_CA_PEM,
        "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024",
    ),
    (
        APPLE_IPHONE_CERTIFICATION_AUTHORITY_PEM,
        "e4e2936d3c076ec4aea8ac37277524950ca005894b39bba2d347fa33155ae5fa",
    ),
    (
        APPLE_IPHONE_DEVICE_CA_PEM,
        "76f27d00e1333bc88de0e2916c38c9a7f2b75774c25a794c092a80e3c4c66cce",
    ),
];

#[test]
fn the_shipped_apple_certificates_parse_and_chain_to_apple_root_ca() {
    let mut ders = Vec::new();
    for (pem, fingerprint) in SHIPPED {
        let der = crate::pki::codec::pem_find(pem, "CERTIFICATE").expect("PEM");
        assert_eq!(fingerprint_sha256(&der), fingerprint);
        ders.push(der);
    }
    let [root, iphone_ca, device_ca] = [&ders[0], &ders[1], &ders[2]].map(|d| parse_cert(d).expect("parses"));
    assert_eq!(common_name(&root), "Apple Root CA");
    assert_eq!(common_name(&iphone_ca), "Apple iPhone Certification Authority");
    assert_eq!(common_name(&device_ca), "Apple iPhone Device CA");
    assert_eq!(key_description(device_ca.public_key()), "RSA-1024");
    assert!(signed_by(&root, &root).is_ok() && signed_by(&iphone_ca, &root).is_ok());
    assert!(signed_by(&device_ca, &iphone_ca).is_ok());
    assert!(signed_by(&device_ca, &root).is_err());
    assert_eq!(
        AppleDeviceCa::apple().expect("chain").chain_names(),
        "Apple iPhone Device CA"
    );
    // Without the intermediate there is no chain.
    let err = AppleDeviceCa::new(&ders[2], &[ders[0].clone()]).err();
    assert!(matches!(err, Some(AppleIdentityError::Chain(_))), "{err:?}");

    // OpenSSL agrees (dates aside: the intermediates expired in 2014 and 2022).
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("root.pem"), APPLE_ROOT_CA_PEM).expect("write");
    std::fs::write(dir.path().join("chain.pem"), APPLE_IPHONE_CERTIFICATION_AUTHORITY_PEM).expect("write");
    std::fs::write(dir.path().join("device.pem"), APPLE_IPHONE_DEVICE_CA_PEM).expect("write");
    let verify = |extra: &[&str]| {
        let args = [
            &["verify", "-CAfile", "root.pem", "-untrusted", "chain.pem"][..],
            extra,
            &["device.pem"],
        ]
        .concat();
        openssl(dir.path(), &args)
    };
    assert!(verify(&["-no_check_time"]).status.success());
    let dated = verify(&[]);
    assert!(!dated.status.success(), "the shipped device CA is expired");
    assert!(
        String::from_utf8_lossy(&dated.stdout).contains("expired")
            || String::from_utf8_lossy(&dated.stderr).contains("expired")
    );
}
