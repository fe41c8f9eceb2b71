//! SCEP round trips between the client and server halves, refusals, and a no-panic property
//! over arbitrary input.

use chrono::Utc;
use proptest::prelude::*;
use x509_parser::extensions::ParsedExtension;

use super::client::{pkcs_req, renewal_req, CertRepOutcome, PendingRequest};
use super::*;
use crate::pki::identity::parse_cert;
use crate::pki::test_support::{anchors, ca, identity, other_ca};
use crate::pki::KeyKind;

/// Server side as `http::scep` runs it, minus the challenge lookup: open, issue, answer.
fn serve(request: &[u8]) -> Vec<u8> {
    let msg = parse_pki_message(request).expect("a PKIMessage");
    let reply = match open_request(&msg, ca(), &anchors(), Utc::now()) {
        Ok(req) => {
            let cert = ca().issue_from_csr(&req.csr_der, 365).expect("issue");
            return cert_rep(
                ca(),
                &msg.transaction_id,
                &msg.sender_nonce,
                CertRepReply::Issued {
                    certificate: &cert,
                    recipient_cert_der: &msg.signer_cert_der,
                    cipher: req.cipher,
                },
                Utc::now(),
            )
            .expect("CertRep");
        }
        Err(refusal) => CertRepReply::Failed(refusal.info),
    };
    cert_rep(ca(), &msg.transaction_id, &msg.sender_nonce, reply, Utc::now()).expect("CertRep")
}

fn issued(pending: &PendingRequest, reply: &[u8]) -> crate::pki::DeviceIdentity {
    match pending.read_cert_rep(reply, ca().cert_der()).expect("a CertRep") {
        CertRepOutcome::Issued(id) => id,
        other => panic!("expected a certificate, got {other:?}"),
    }
}

fn refusal_of(request: &[u8]) -> Refusal {
    let msg = parse_pki_message(request).expect("a PKIMessage");
    open_request(&msg, ca(), &anchors(), Utc::now()).expect_err("refused")
}

#[test]
fn enrolls_with_every_cipher() {
    for cipher in [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesEde3Cbc,
    ] {
        let pending = pkcs_req(ca().cert_der(), "CN=device-1,O=Annal", Some("s3cret"), cipher).expect("request");
        let msg = parse_pki_message(&pending.der).expect("parses");
        assert_eq!(msg.message_type, Some(MessageType::PkcsReq));
        let req = open_request(&msg, ca(), &anchors(), Utc::now()).expect("opens");
        assert_eq!(req.cipher, cipher);
        assert_eq!(req.csr.challenge.as_deref(), Some("s3cret"));
        assert!(req.renewing.is_none());
        assert!(
            !format!("{req:?}").contains("s3cret"),
            "the challenge must not be in Debug output"
        );

        let id = issued(&pending, &serve(&pending.der));
        let verified = anchors()
            .verify_leaf(&id.cert_der, Utc::now())
            .expect("issued by the CA");
        // RFC 4514 strings list the most specific RDN first; x509-parser prints in DER order.
        assert_eq!(verified.subject, "O=Annal, CN=device-1");
        let cert = parse_cert(&id.cert_der).expect("cert");
        let days = (verified.not_after - verified.not_before).num_days();
        assert!((365..=366).contains(&days), "{days}");
        let mut client_auth = false;
        let mut usage = false;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::ExtendedKeyUsage(eku) => client_auth = eku.client_auth && !eku.server_auth,
                ParsedExtension::KeyUsage(ku) => usage = ku.digital_signature() && ku.key_encipherment(),
                ParsedExtension::BasicConstraints(bc) => assert!(!bc.ca),
                _ => {}
            }
        }
        assert!(client_auth && usage, "{cipher:?}");
    }
}

#[test]
fn renewal_is_signed_with_the_current_identity() {
    let current = identity(KeyKind::Rsa2048);
    let pending = renewal_req(ca().cert_der(), current, ContentCipher::Aes128Cbc).expect("request");
    let msg = parse_pki_message(&pending.der).expect("parses");
    assert_eq!(msg.message_type, Some(MessageType::RenewalReq));
    let req = open_request(&msg, ca(), &anchors(), Utc::now()).expect("opens");
    let renewing = req.renewing.expect("a renewal");
    assert_eq!(renewing.cert_der, current.cert_der);
    assert_eq!(req.csr.challenge, None);

    let renewed = issued(&pending, &serve(&pending.der));
    assert_ne!(renewed.key_pkcs8_der, current.key_pkcs8_der, "a renewal gets a new key");
    let verified = anchors().verify_leaf(&renewed.cert_der, Utc::now()).expect("verifies");
    assert_eq!(verified.subject, renewing.subject);
}

#[test]
fn renewal_without_a_certificate_from_this_ca_is_bad_cert_id() {
    let foreign = other_ca()
        .issue_device_identity("device-RSA", KeyKind::Rsa2048, 30)
        .expect("identity");
    let pending = renewal_req(ca().cert_der(), &foreign, ContentCipher::Aes128Cbc).expect("request");
    assert_eq!(refusal_of(&pending.der).info, FailInfo::BadCertId);
}

/// A request of `message_type` for `subject` with a new key, signed by the CA's identity with a
/// `signer` key (not something the public client functions build).
fn signed_by_identity(message_type: MessageType, subject: &str, signer: KeyKind) -> Vec<u8> {
    let name = std::str::FromStr::from_str(subject).expect("name");
    let key = crate::pki::ca::generate_pkcs8(KeyKind::Rsa2048).expect("key");
    let signer = identity(signer).clone();
    client::request(
        ca().cert_der(),
        message_type,
        name,
        None,
        signer,
        key,
        ContentCipher::Aes128Cbc,
    )
    .expect("request")
    .der
}

#[test]
fn renewal_cannot_change_the_subject() {
    let refusal = refusal_of(&signed_by_identity(
        MessageType::RenewalReq,
        "CN=someone-else",
        KeyKind::Rsa2048,
    ));
    assert_eq!(refusal.info, FailInfo::BadRequest);
    assert!(refusal.reason.contains("subject"), "{refusal}");
}

/// The certificate goes back encrypted to the signer's key by RSA key transport: an ECDSA
/// signer is refused before anything is consumed or issued, not answered 500 afterwards.
#[test]
fn a_request_signed_with_an_ecdsa_key_is_bad_alg() {
    let refusal = refusal_of(&signed_by_identity(
        MessageType::PkcsReq,
        "CN=device-1",
        KeyKind::EcdsaP256,
    ));
    assert_eq!(refusal.info, FailInfo::BadAlg, "{refusal}");
}

#[test]
fn envelope_to_another_ca_is_bad_message_check() {
    let pending = pkcs_req(other_ca().cert_der(), "CN=x", Some("c"), ContentCipher::Aes128Cbc).expect("request");
    assert_eq!(refusal_of(&pending.der).info, FailInfo::BadMessageCheck);
}

#[test]
fn a_changed_byte_in_the_signature_is_bad_message_check() {
    let pending = pkcs_req(ca().cert_der(), "CN=x", Some("c"), ContentCipher::Aes128Cbc).expect("request");
    let mut der = pending.der.clone();
    // The signature is the last OCTET STRING of the message.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert_eq!(refusal_of(&der).info, FailInfo::BadMessageCheck);
}

/// The CertRep FAILURE (badRequest) the server answers `msg` with.
fn bad_request_reply(msg: &PkiMessage) -> Vec<u8> {
    let reply = CertRepReply::Failed(FailInfo::BadRequest);
    cert_rep(ca(), &msg.transaction_id, &msg.sender_nonce, reply, Utc::now()).expect("CertRep")
}

#[test]
fn a_failure_cert_rep_is_read_back_by_the_client() {
    let pending = pkcs_req(ca().cert_der(), "CN=x", Some("c"), ContentCipher::Aes128Cbc).expect("request");
    let reply = bad_request_reply(&parse_pki_message(&pending.der).expect("parses"));
    let read = pending.read_cert_rep(&reply, ca().cert_der()).expect("reads");
    assert!(
        matches!(read, CertRepOutcome::Failed(Some(FailInfo::BadRequest))),
        "{read:?}"
    );
    // Another CA's answer is not accepted.
    assert!(pending.read_cert_rep(&reply, other_ca().cert_der()).is_err());
}

#[test]
fn other_message_types_are_refused_with_bad_request() {
    let refusal = refusal_of(&signed_by_identity(MessageType::CertPoll, "CN=x", KeyKind::Rsa2048));
    assert_eq!(refusal.info, FailInfo::BadRequest);
}

#[test]
fn garbage_is_not_a_pki_message() {
    for bytes in [&b""[..], b"hello", &[0x30, 0x00], &[0x30, 0x80, 0x00, 0x00]] {
        assert!(matches!(parse_pki_message(bytes), Err(ScepError::NotPkiMessage(_))));
    }
    // A detached Mdm-Signature is a SignedData but carries no SCEP attributes.
    let mdm = identity(KeyKind::EcdsaP256)
        .sign_mdm_der(b"body", crate::pki::MdmDigest::Sha256, Utc::now())
        .expect("sign");
    let err = parse_pki_message(&mdm).expect_err("no messageType");
    assert!(err.to_string().contains("messageType"), "{err}");
}

/// A PKCSReq whose transactionID is sent as a UTF8String (some clients do), signed by the CA's
/// RSA identity; the envelope is not read by the parser.
fn request_with_utf8_transaction_id(id: &str) -> Vec<u8> {
    use crate::pki::cms_build::{attribute, signed_data, Content, SigningKey};
    let extra = vec![
        attrs::printable(attrs::MESSAGE_TYPE, MessageType::PkcsReq.code()).expect("messageType"),
        attribute(attrs::TRANSACTION_ID, &der::asn1::Utf8StringRef::new(id).expect("utf8")).expect("attribute"),
        attrs::nonce(attrs::SENDER_NONCE, &[7; 16]).expect("senderNonce"),
    ];
    let signer = identity(KeyKind::Rsa2048);
    let key = SigningKey::from_pkcs8(&signer.key_pkcs8_der).expect("key");
    signed_data(
        &signer.cert_der,
        &[],
        &key,
        Content::Attached(b"envelope"),
        extra,
        Utc::now(),
    )
    .expect("signed")
}

/// Regression: a transactionID that the CertRep cannot echo as a PrintableString used to parse;
/// the server then failed to build its answer (HTTP 500), after consuming the one-time
/// challenge and recording the certificate for a valid request. It is now "not a PKIMessage".
#[test]
fn a_transaction_id_the_cert_rep_cannot_echo_is_refused() {
    for id in ["tx_1", "tx@1", "d\u{e9}j\u{e0}"] {
        let err = parse_pki_message(&request_with_utf8_transaction_id(id)).expect_err(id);
        assert!(
            matches!(&err, ScepError::NotPkiMessage(m) if m.contains("transactionID")),
            "{id}: {err}"
        );
    }
    // PrintableString characters in a UTF8String are accepted, and answered.
    let msg = parse_pki_message(&request_with_utf8_transaction_id("tx-1 (ok)")).expect("parses");
    let answer = parse_pki_message(&bad_request_reply(&msg)).expect("a CertRep");
    assert_eq!(answer.transaction_id, "tx-1 (ok)");
}

fn valid_request() -> &'static [u8] {
    static DER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DER.get_or_init(|| {
        pkcs_req(ca().cert_der(), "CN=x", Some("c"), ContentCipher::Aes128Cbc)
            .expect("request")
            .der
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_pki_message(&bytes);
    }

    /// Mutations of a real request reach deeper: past the parse into the envelope and CSR.
    #[test]
    fn mutated_requests_never_panic(index in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut der = valid_request().to_vec();
        let i = index.index(der.len());
        if cut { der.truncate(i) } else { der[i] = byte }
        if let Ok(msg) = parse_pki_message(&der) {
            let _ = open_request(&msg, ca(), &anchors(), Utc::now());
        }
    }
}
