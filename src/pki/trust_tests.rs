//! Tests of `TrustAnchors`: accepted leaves, refusals, the leaf cache, PEM loading.

use chrono::Utc;

use super::test_support::{anchors, identity, other_ca};
use super::{KeyKind, PkiError, TrustAnchors};

#[test]
fn accepts_leaves_of_both_key_kinds() {
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let id = identity(kind);
        let verified = anchors().verify_leaf(&id.cert_der, Utc::now()).expect("trusted");
        assert_eq!(verified.cert_der, id.cert_der);
        assert_eq!(
            verified.fingerprint_sha256,
            crate::pki::fingerprint_sha256(&id.cert_der)
        );
        assert_eq!(verified.fingerprint_sha256.len(), 64);
        assert_eq!(verified.subject, format!("CN=device-{kind:?}"));
        assert_eq!(verified.issuer, "CN=Annal CA, O=Annal");
        assert_eq!(verified.serial_hex.len(), 32);
        let info = verified.to_certificate_info();
        assert_eq!(
            (info.not_before, info.not_after),
            (verified.not_before, verified.not_after)
        );
    }
}

#[test]
fn refuses_other_ca_expired_and_future_certificates() {
    let foreign = other_ca()
        .issue_device_identity("intruder", KeyKind::EcdsaP256, 30)
        .expect("issue");
    // Same subject name as Annal's CA, different key: the signature check catches it.
    let err = anchors().verify_leaf(&foreign.cert_der, Utc::now()).err();
    assert!(matches!(err, Some(PkiError::BadCertificateSignature)), "{err:?}");

    let leaf = &identity(KeyKind::EcdsaP256).cert_der;
    let later = Utc::now() + chrono::Duration::days(400);
    assert!(matches!(anchors().verify_leaf(leaf, later), Err(PkiError::Expired(_))));
    let earlier = Utc::now() - chrono::Duration::days(1);
    assert!(matches!(
        anchors().verify_leaf(leaf, earlier),
        Err(PkiError::NotYetValid(_))
    ));
}

#[test]
fn refuses_unknown_issuers_and_tampering() {
    let leaf = &identity(KeyKind::Rsa2048).cert_der;
    // An anchor set whose only member is some other certificate: nobody issued the leaf.
    let wrong = TrustAnchors::new(vec![identity(KeyKind::EcdsaP256).cert_der.clone()]).expect("anchors");
    assert!(matches!(
        wrong.verify_leaf(leaf, Utc::now()),
        Err(PkiError::UnknownIssuer(_))
    ));

    let mut tampered = leaf.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01; // inside the signature value
    assert!(matches!(
        anchors().verify_leaf(&tampered, Utc::now()),
        Err(PkiError::BadCertificateSignature)
    ));
    assert!(matches!(
        anchors().verify_leaf(b"junk", Utc::now()),
        Err(PkiError::Certificate(_))
    ));
}

#[test]
fn cached_leaves_are_still_checked_for_validity() {
    let anchors = anchors();
    let leaf = &identity(KeyKind::Rsa2048).cert_der;
    let first = anchors.verify_leaf(leaf, Utc::now()).expect("trusted");
    assert_eq!(anchors.cached_leaves(), 1);
    assert_eq!(anchors.verify_leaf(leaf, Utc::now()).expect("cached"), first);
    let later = Utc::now() + chrono::Duration::days(400);
    assert!(matches!(anchors.verify_leaf(leaf, later), Err(PkiError::Expired(_))));
    let earlier = Utc::now() - chrono::Duration::days(1);
    assert!(matches!(
        anchors.verify_leaf(leaf, earlier),
        Err(PkiError::NotYetValid(_))
    ));
    // Refused certificates are not cached.
    let foreign = other_ca()
        .issue_device_identity("x", KeyKind::EcdsaP256, 1)
        .expect("issue");
    assert!(anchors.verify_leaf(&foreign.cert_der, Utc::now()).is_err());
    assert_eq!(anchors.cached_leaves(), 1);
}

#[test]
fn loads_anchors_from_pem_and_merges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("external.pem");
    std::fs::write(&path, other_ca().cert_pem()).expect("write");
    let external = TrustAnchors::from_pem_file(&path).expect("load");
    let foreign = other_ca()
        .issue_device_identity("external", KeyKind::Rsa2048, 30)
        .expect("issue");
    let both = anchors().merged(external);
    assert_eq!(both.cert_ders().count(), 2);
    both.verify_leaf(&foreign.cert_der, Utc::now())
        .expect("external CA trusted");
    both.verify_leaf(&identity(KeyKind::EcdsaP256).cert_der, Utc::now())
        .expect("Annal CA trusted");

    std::fs::write(&path, "no certificates here").expect("write");
    assert!(matches!(TrustAnchors::from_pem_file(&path), Err(PkiError::NoAnchors)));
    assert!(matches!(TrustAnchors::new(vec![]), Err(PkiError::NoAnchors)));
}

#[test]
fn device_identity_anchors_refuse_a_server_certificate() {
    let (chain_pem, _) = super::test_support::ca()
        .issue_server_tls(&["mdm.example.com".to_owned()], &[])
        .expect("server certificate");
    let server_der = crate::pki::codec::pem_decode_all(&chain_pem)
        .expect("pem")
        .into_iter()
        .map(|(_, der)| der)
        .next()
        .expect("leaf");
    // Any leaf of the CA, for anchors that are not about devices (a profile signer).
    assert!(anchors().verify_leaf(&server_der, Utc::now()).is_ok());
    let devices = anchors().requiring_client_auth();
    let err = devices.verify_leaf(&server_der, Utc::now()).unwrap_err();
    assert!(
        matches!(&err, PkiError::NotClientAuth(ekus) if ekus == "serverAuth"),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a device identity"), "{err}");
    assert_eq!(devices.cached_leaves(), 0, "a refused leaf is not cached");
    // clientAuth passes.
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        assert!(devices.verify_leaf(&identity(kind).cert_der, Utc::now()).is_ok());
    }
}

/// Apple's own device identities name no extended key usage: a certificate for any purpose.
#[test]
fn a_leaf_without_extended_key_usage_is_a_device_identity() {
    use crate::pki::ca::rcgen_key;
    let ca = super::test_support::ca();
    let ca_key = rcgen_key(ca.key_pkcs8_der(), KeyKind::EcdsaP256)
        .or_else(|_| rcgen_key(ca.key_pkcs8_der(), KeyKind::Rsa2048))
        .expect("CA key");
    let ca_pem = crate::pki::codec::pem_encode("CERTIFICATE", ca.cert_der());
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "apple-like device");
    assert!(params.extended_key_usages.is_empty());
    let leaf = params.signed_by(&leaf_key, &issuer).expect("signed");
    let verified = anchors()
        .requiring_client_auth()
        .verify_leaf(leaf.der(), Utc::now())
        .expect("no EKU: a device identity");
    assert_eq!(verified.subject, "CN=apple-like device");
}

#[test]
fn a_pinned_certificate_is_trusted_alone_not_its_issuer() {
    use sha2::{Digest, Sha256};
    let old_ca = other_ca();
    let imported = old_ca
        .issue_device_identity("imported", KeyKind::EcdsaP256, 30)
        .expect("issue");
    let sibling = old_ca
        .issue_device_identity("sibling", KeyKind::EcdsaP256, 30)
        .expect("issue");
    let pin: [u8; 32] = Sha256::digest(&imported.cert_der).into();
    let trust = anchors().requiring_client_auth().pinning([pin]);
    assert_eq!(trust.pinned(), 1);
    let verified = trust.verify_leaf(&imported.cert_der, Utc::now()).expect("pinned");
    assert_eq!(verified.cert_der, imported.cert_der);
    // Annal's own leaves still verify by their chain.
    trust
        .verify_leaf(&identity(KeyKind::EcdsaP256).cert_der, Utc::now())
        .expect("anchored");
    // The same CA's other certificate is refused, as it was before the pin.
    assert!(trust.verify_leaf(&sibling.cert_der, Utc::now()).is_err());
    // A pinned certificate is still bound by its validity.
    let later = Utc::now() + chrono::Duration::days(400);
    assert!(matches!(
        trust.verify_leaf(&imported.cert_der, later),
        Err(PkiError::Expired(_))
    ));
}
