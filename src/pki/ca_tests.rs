//! Tests of Annal's CA: files on disk, the CA certificate, and what it issues.

use std::fs;
use std::net::IpAddr;

use chrono::Utc;
use x509_parser::extensions::GeneralName;

use super::algorithms::KeyAlg;
use super::codec::pem_find;
use super::identity::parse_cert;
use super::test_support::{ca, other_ca};
use super::{Ca, DeviceIdentity, KeyKind, PkiError, TrustAnchors};

#[test]
fn init_then_load_gives_the_same_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let created = Ca::load_or_init(dir.path()).expect("init");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir.path().join("ca.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let loaded = Ca::load_or_init(dir.path()).expect("load");
    assert_eq!(created.cert_der(), loaded.cert_der());
    assert!(loaded.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    // The reloaded key still issues certificates that chain to the same CA.
    let id = loaded
        .issue_device_identity("reloaded", KeyKind::EcdsaP256, 1)
        .expect("issue");
    let anchors = TrustAnchors::new(vec![created.cert_der().to_vec()]).expect("anchors");
    anchors
        .verify_leaf(&id.cert_der, Utc::now())
        .expect("chains to the original CA");
}

#[test]
fn refuses_half_a_ca_and_a_foreign_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("ca.pem"), ca().cert_pem()).expect("write");
    assert!(matches!(Ca::load_or_init(dir.path()), Err(PkiError::IncompleteCa(_))));

    let other = tempfile::tempdir().expect("temp dir");
    Ca::load_or_init(other.path()).expect("init");
    fs::copy(other.path().join("ca.key"), dir.path().join("ca.key")).expect("copy");
    assert!(matches!(Ca::load_or_init(dir.path()), Err(PkiError::KeyMismatch)));
}

#[test]
fn ca_certificate_is_a_ten_year_rsa_ca() {
    let cert = parse_cert(ca().cert_der()).expect("parses");
    assert!(cert.is_ca());
    assert!(cert.key_usage().expect("ku").expect("present").value.key_cert_sign());
    assert_eq!(KeyAlg::from_spki(cert.public_key()), Ok(KeyAlg::Rsa));
    let years = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / (365 * 86400);
    assert_eq!(years, 10);
    assert_ne!(ca().cert_der(), other_ca().cert_der());
}

#[test]
fn device_identity_is_a_client_certificate() {
    for kind in [KeyKind::EcdsaP256, KeyKind::Rsa2048] {
        let id = ca().issue_device_identity("device-1", kind, 30).expect("issue");
        let cert = parse_cert(&id.cert_der).expect("parses");
        assert_eq!(cert.subject().to_string(), "CN=device-1");
        assert_eq!(
            cert.issuer().as_raw(),
            parse_cert(ca().cert_der()).expect("ca").subject().as_raw()
        );
        let eku = cert.extended_key_usage().expect("eku").expect("present").value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(cert
            .key_usage()
            .expect("ku")
            .expect("present")
            .value
            .digital_signature());
        assert!(!cert.is_ca());
        assert_eq!(cert.raw_serial().len(), 16);
        let days = (cert.validity().not_after.timestamp() - Utc::now().timestamp()) / 86400;
        assert!((29..=30).contains(&days), "{days}");
        let round_trip = DeviceIdentity::from_pem(&id.to_pem()).expect("from_pem");
        assert_eq!(round_trip, id);
    }
    let a = ca()
        .issue_device_identity("same", KeyKind::EcdsaP256, 1)
        .expect("issue");
    let b = ca()
        .issue_device_identity("same", KeyKind::EcdsaP256, 1)
        .expect("issue");
    assert_ne!(
        parse_cert(&a.cert_der).expect("a").raw_serial(),
        parse_cert(&b.cert_der).expect("b").raw_serial()
    );
}

#[test]
fn server_tls_has_names_and_chain() {
    let ip: IpAddr = "127.0.0.1".parse().expect("ip");
    let (chain, key) = ca()
        .issue_server_tls(&["mdm.example.test".to_owned()], &[ip])
        .expect("issue");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let leaf = pem_find(&chain, "CERTIFICATE").expect("leaf");
    let cert = parse_cert(&leaf).expect("parses");
    assert!(
        cert.extended_key_usage()
            .expect("eku")
            .expect("present")
            .value
            .server_auth
    );
    let san = cert.subject_alternative_name().expect("san").expect("present").value;
    assert!(san.general_names.contains(&GeneralName::DNSName("mdm.example.test")));
    assert!(san.general_names.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
    assert!(ca().issue_server_tls(&["b\u{e4}d.example".to_owned()], &[]).is_err());
}

#[test]
fn a_new_ca_is_named_apart_from_the_one_it_replaces() {
    let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let subject = |dir: &std::path::Path| {
        let ca = Ca::load_or_init(dir).expect("init");
        crate::pki::certificate_info(ca.cert_der()).expect("info").subject
    };
    let (first, second) = (subject(a.path()), subject(b.path()));
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert!(first.starts_with(&format!("CN=Annal CA {today} ")), "{first}");
    assert_ne!(first, second, "two CAs made the same day must not share a name");
}
