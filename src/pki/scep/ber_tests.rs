//! A PKIOperation in BER: indefinite lengths and chunked OCTET STRINGs in the PKIMessage and in
//! the EnvelopedData inside it (Go's pkcs7 and streaming encoders send such), opened like DER.

use chrono::Utc;
use der::Decode;
use x509_cert::Certificate;

use super::client::request_encoded;
use super::*;
use crate::pki::ber::testing::der_to_ber;
use crate::pki::ca::generate_pkcs8;
use crate::pki::test_support::{anchors, ca, identity};
use crate::pki::KeyKind;

#[test]
fn a_ber_pki_message_around_a_ber_envelope_opens() {
    let current = identity(KeyKind::Rsa2048);
    let subject = Certificate::from_der(&current.cert_der)
        .expect("cert")
        .tbs_certificate()
        .subject()
        .clone();
    let key = generate_pkcs8(KeyKind::Rsa2048).expect("key");
    let pending = request_encoded(
        ca().cert_der(),
        MessageType::RenewalReq,
        subject,
        None,
        current.clone(),
        key,
        ContentCipher::Aes256Cbc,
        |envelope| der_to_ber(&envelope, 16).expect("BER envelope"),
    )
    .expect("request");
    let ber = der_to_ber(&pending.der, 32).expect("BER PKIMessage");
    assert_eq!(&ber[..2], [0x30, 0x80]);

    for body in [&pending.der, &ber] {
        let msg = parse_pki_message(body).expect("parses");
        assert_eq!(msg.message_type, Some(MessageType::RenewalReq));
        assert_eq!(msg.transaction_id, pending.transaction_id);
        assert_eq!(msg.signer_cert_der, current.cert_der, "the signer keeps its bytes");
        msg.verify()
            .expect("the signature verifies over the BER envelope as sent");
        let request = open_request(&msg, ca(), &anchors(), Utc::now()).expect("opens");
        assert_eq!(request.cipher, ContentCipher::Aes256Cbc);
        assert!(request.renewing.is_some());
        assert!(!request.csr_der.is_empty());
    }

    // A cut-off BER body is "not a PKIMessage" with the reason, not a DER complaint.
    let err = parse_pki_message(&ber[..ber.len() - 2]).expect_err("truncated");
    let text = err.to_string();
    assert!(text.contains("truncated at byte"), "{text}");
}
