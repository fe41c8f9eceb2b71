use chrono::{Duration, Utc};
use rcgen::{CertificateParams, DistinguishedName, DnType};

use super::*;
use crate::pki::ca::{generate_pkcs8, rcgen_key};
use crate::pki::codec::set_validity;
use crate::pki::test_support::{ca, identity};
use crate::pki::KeyKind;

/// A customer CSR made the way `openssl req -new` makes one (RSA 2048, SHA-256).
fn customer_csr() -> Vec<u8> {
    let key_der = generate_pkcs8(KeyKind::Rsa2048).expect("key");
    let key = rcgen_key(&key_der, KeyKind::Rsa2048).expect("rcgen key");
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "Customer MDM push");
    params.serialize_request(&key).expect("csr").der().to_vec()
}

fn vendor() -> &'static crate::pki::DeviceIdentity {
    identity(KeyKind::Rsa2048)
}

fn sign(csr: &[u8]) -> Result<PushCertRequest, VendorError> {
    let chain = vec![ca().cert_pem().as_bytes().to_vec()];
    sign_push_cert_request(
        csr,
        &vendor().cert_der,
        vendor().key_pem().as_bytes(),
        &chain,
        Utc::now(),
    )
}

#[test]
fn signed_request_reads_back_and_verifies_with_the_vendor_key() {
    let csr = customer_csr();
    let request = sign(&csr).expect("signs");
    assert_eq!(request.csr_der, csr);

    let encoded = request.encode().expect("encodes");
    let xml = B64.decode(&encoded).expect("base64 of the plist");
    let dict: plist::Dictionary = plist::from_bytes(&xml).expect("plist");
    assert_eq!(
        dict.get(CSR_KEY).and_then(|v| v.as_string()),
        Some(B64.encode(&csr).as_str())
    );

    let back = PushCertRequest::decode(encoded.as_bytes()).expect("decodes");
    assert_eq!(back, request);
    let summary = back.verify().expect("verifies");
    assert_eq!(summary.csr_subject, "CN=Customer MDM push");
    // Vendor certificate first, then the chain given.
    assert_eq!(
        summary.chain_subjects,
        vec!["CN=device-Rsa2048".to_owned(), "CN=Annal CA, O=Annal".to_owned()]
    );

    // The signature is RSA PKCS#1 v1.5 SHA-256 over the CSR DER, by the vendor's public key.
    let cert = parse_cert(&vendor().cert_der).expect("cert");
    let public = UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    public.verify(&csr, &back.signature).expect("vendor signature");

    let mut tampered = back.clone();
    tampered.signature[10] ^= 1;
    assert!(matches!(tampered.verify(), Err(VendorError::BadSignature)));
}

#[test]
fn accepts_a_pem_csr_and_a_der_chain() {
    let csr = customer_csr();
    let pem = pem_encode("CERTIFICATE REQUEST", &csr);
    let chain = vec![ca().cert_der().to_vec()];
    let request = sign_push_cert_request(
        pem.as_bytes(),
        vendor().cert_pem().as_bytes(),
        &vendor().key_pkcs8_der,
        &chain,
        Utc::now(),
    )
    .expect("signs");
    assert_eq!(request.csr_der, csr);
    assert_eq!(request.verify().expect("verifies").chain_subjects.len(), 2);
}

#[test]
fn refuses_a_csr_whose_signature_does_not_verify() {
    let mut csr = customer_csr();
    let last = csr.len() - 1;
    csr[last] ^= 0x55;
    assert!(
        matches!(sign(&csr), Err(VendorError::CsrSignature)),
        "{:?}",
        sign(&csr).err()
    );
    assert!(matches!(sign(b"not a csr"), Err(VendorError::Csr(_))));
}

#[test]
fn refuses_a_key_of_another_certificate_and_a_non_rsa_key() {
    let csr = customer_csr();
    let other = ca()
        .issue_device_identity("other", KeyKind::Rsa2048, 30)
        .expect("other");
    let err = sign_push_cert_request(&csr, &vendor().cert_der, &other.key_pkcs8_der, &[], Utc::now()).err();
    assert!(matches!(err, Some(VendorError::KeyMismatch)), "{err:?}");
    let ec = identity(KeyKind::EcdsaP256);
    let err = sign_push_cert_request(&csr, &ec.cert_der, &ec.key_pkcs8_der, &[], Utc::now()).err();
    assert!(matches!(err, Some(VendorError::NotRsa)), "{err:?}");
}

#[test]
fn refuses_an_expired_vendor_certificate() {
    let key_der = generate_pkcs8(KeyKind::Rsa2048).expect("key");
    let key = rcgen_key(&key_der, KeyKind::Rsa2048).expect("rcgen key");
    let mut params = CertificateParams::default();
    let now = Utc::now();
    set_validity(&mut params, now - Duration::days(400), now - Duration::days(35));
    let cert = params.self_signed(&key).expect("cert");
    let err = sign_push_cert_request(&customer_csr(), cert.der(), &key_der, &[], now).err();
    assert!(matches!(err, Some(VendorError::Expired(_))), "{err:?}");
}

#[test]
fn decode_names_what_is_wrong() {
    let err = |bytes: &[u8]| {
        PushCertRequest::decode(bytes)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err(b"%%%").contains("neither"));
    let no_sig = B64.encode(b"<plist version=\"1.0\"><dict><key>PushCertRequestCSR</key><string>AA==</string><key>PushCertCertificateChain</key><string>x</string></dict></plist>");
    assert!(
        err(no_sig.as_bytes()).contains("`PushCertSignature`"),
        "{}",
        err(no_sig.as_bytes())
    );
}
