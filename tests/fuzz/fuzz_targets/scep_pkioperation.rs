//! SCEP PKIOperation bodies (`POST /scep?operation=PKIOperation`): any bytes are refused as "not
//! a PKIMessage" (HTTP 400) or parsed; a parsed message can always be answered with a CertRep
//! (the server answers every refusal with one), and a request the server opens has a signature
//! that verifies and, for a renewal, a signer from Annal's CA. A parsed message re-encoded in BER
//! parses to the same message.
#![no_main]

use annal::pki::ber::testing::der_to_ber;
use annal::pki::scep::{cert_rep, open_request, parse_pki_message, CertRepReply, FailInfo, MessageType};
use annal_fuzz::fixture;
use chrono::Utc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = parse_pki_message(data) else { return };
    assert!(
        (1..=256).contains(&msg.transaction_id.len()),
        "transactionID length unchecked"
    );
    if let Some(ber) = der_to_ber(data, 16) {
        match parse_pki_message(&ber) {
            Ok(again) => {
                assert_eq!(
                    (
                        again.message_type,
                        &again.transaction_id,
                        &again.signer_cert_der,
                        &again.content
                    ),
                    (
                        msg.message_type,
                        &msg.transaction_id,
                        &msg.signer_cert_der,
                        &msg.content
                    ),
                    "the BER form parses differently"
                );
            }
            // Chunking an OCTET STRING at the deepest allowed level nests one level more.
            Err(e) if e.to_string().contains("nested deeper") => {}
            Err(e) => panic!("the BER form is refused: {e}"),
        }
    }
    let now = Utc::now();
    match open_request(&msg, fixture::ca(), fixture::anchors(), now) {
        Ok(request) => {
            assert!(msg.verify().is_ok(), "opened a request whose signature does not verify");
            assert_eq!(Some(request.message_type), msg.message_type);
            if request.message_type == MessageType::RenewalReq {
                assert!(request.renewing.is_some(), "a renewal without a current identity");
            }
            if request.renewing.is_some() {
                let fresh = fixture::fresh_anchors().verify_leaf(&msg.signer_cert_der, now);
                assert!(
                    fresh.is_ok(),
                    "renewal signer not trusted by a fresh anchor set: {fresh:?}"
                );
            }
        }
        Err(refusal) => {
            // What the server answers: a CertRep FAILURE echoing the request's identifiers.
            let reply = cert_rep(
                fixture::ca(),
                &msg.transaction_id,
                &msg.sender_nonce,
                CertRepReply::Failed(refusal.info),
                now,
            );
            let reply = match reply {
                Ok(der) => der,
                Err(e) => panic!("a parsed PKIMessage cannot be answered ({}): {e}", refusal.info.name()),
            };
            let answer = match parse_pki_message(&reply) {
                Ok(answer) => answer,
                Err(e) => panic!("the CertRep does not parse: {e}"),
            };
            assert_eq!(answer.message_type, Some(MessageType::CertRep));
            assert_eq!(answer.transaction_id, msg.transaction_id);
            assert_eq!(answer.recipient_nonce.as_deref(), Some(msg.sender_nonce.as_slice()));
            assert_eq!(answer.fail_info.as_deref(), Some(refusal.info.code()));
            assert!(FailInfo::from_code(refusal.info.code()).is_some());
        }
    }
});
