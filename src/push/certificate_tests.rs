//! Push certificates in every form admins bring them, made by the openssl CLI as Keychain
//! Access and OpenSSL users make them.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};

use super::certificate::{CertificateError, Expiry, PushCertificate};

const TOPIC: &str = "com.apple.mgmt.External.6d4c9a4e-0f8f-4f5c-9a7d-1b2c3d4e5f60";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed stand-in for Apple's push certificate: RSA 2048, the topic in the UID.
fn make_cert(dir: &Path, subject: &str) {
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj",
            subject, "-days", "365",
        ],
    );
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("file written by openssl")
}

fn apple_subject() -> String {
    format!("/UID={TOPIC}/CN=APSP:6d4c9a4e/C=US")
}

#[test]
fn pem_with_pkcs8_and_pkcs1_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_cert(dir.path(), &apple_subject());
    openssl(
        dir.path(),
        &["rsa", "-in", "key.pem", "-traditional", "-out", "key1.pem"],
    );
    let cert = read(dir.path(), "cert.pem");
    for key in ["key.pem", "key1.pem"] {
        let text = String::from_utf8(read(dir.path(), key)).expect("PEM");
        assert!(text.contains(if key == "key1.pem" {
            "RSA PRIVATE KEY"
        } else {
            "BEGIN PRIVATE KEY"
        }));
        let loaded = PushCertificate::load(&cert, Some(text.as_bytes()), "").expect("loads");
        assert_eq!(loaded.topic, TOPIC);
        assert!(loaded.info.subject.contains("APSP:6d4c9a4e"));
        assert_eq!(loaded.chain.len(), 1);
        // The PEM the log keeps reads back to the same certificate.
        let (certs, key) = loaded.to_pem();
        let again = PushCertificate::from_pem(&certs, &key).expect("round trip");
        assert_eq!(again.info.fingerprint_sha256, loaded.info.fingerprint_sha256);
    }
    // Certificate and key in one file.
    let mut both = read(dir.path(), "cert.pem");
    both.extend(read(dir.path(), "key.pem"));
    assert_eq!(PushCertificate::load(&both, None, "").expect("one file").topic, TOPIC);
}

#[test]
fn pkcs12_modern_and_legacy_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_cert(dir.path(), &apple_subject());
    let base = [
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-passout",
        "pass:s3cret",
    ];
    openssl(dir.path(), &[&base[..], &["-out", "aes.p12"]].concat());
    // What Keychain Access and `openssl -legacy` write: RC2-40 for the certificate, 3DES for the key.
    openssl(dir.path(), &[&base[..], &["-legacy", "-out", "rc2.p12"]].concat());
    openssl(
        dir.path(),
        &[
            &base[..],
            &[
                "-certpbe",
                "PBE-SHA1-3DES",
                "-keypbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
                "-out",
                "3des.p12",
            ],
        ]
        .concat(),
    );
    for file in ["aes.p12", "rc2.p12", "3des.p12"] {
        let bytes = read(dir.path(), file);
        let loaded = PushCertificate::load(&bytes, None, "s3cret").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded.topic, TOPIC, "{file}");
        assert!(matches!(
            PushCertificate::load(&bytes, None, "wrong"),
            Err(CertificateError::Pkcs12(_))
        ));
    }
}

#[test]
fn refuses_a_key_of_another_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_cert(dir.path(), &apple_subject());
    openssl(dir.path(), &["genrsa", "-out", "other.pem", "2048"]);
    let err = PushCertificate::load(&read(dir.path(), "cert.pem"), Some(&read(dir.path(), "other.pem")), "")
        .expect_err("mismatched key");
    assert!(matches!(err, CertificateError::KeyMismatch), "{err}");
}

#[test]
fn refuses_a_certificate_without_an_mdm_topic() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_cert(dir.path(), "/CN=not a push certificate");
    let err = PushCertificate::load(&read(dir.path(), "cert.pem"), Some(&read(dir.path(), "key.pem")), "")
        .expect_err("no topic");
    assert!(matches!(err, CertificateError::NoTopic), "{err}");
    let err = PushCertificate::load(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", None, "");
    assert!(err.is_err());
}

#[test]
fn expiry_warns_thirty_days_ahead() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_cert(dir.path(), &apple_subject());
    let cert =
        PushCertificate::load(&read(dir.path(), "cert.pem"), Some(&read(dir.path(), "key.pem")), "").expect("loads");
    let end = cert.info.not_after;
    assert!(matches!(cert.expiry(Utc::now()), Expiry::Valid { days_left } if days_left >= 363));
    assert_eq!(
        cert.expiry(end - Duration::days(29) - Duration::hours(1)),
        Expiry::ExpiringSoon { days_left: 29 }
    );
    assert_eq!(cert.expiry(end - Duration::days(31)), Expiry::Valid { days_left: 31 });
    assert_eq!(cert.expiry(end), Expiry::Expired);
    assert_eq!(
        cert.expiry(cert.info.not_before - Duration::seconds(1)),
        Expiry::NotYetValid
    );
    assert!(!format!("{cert:?}").contains("PRIVATE"));
}
