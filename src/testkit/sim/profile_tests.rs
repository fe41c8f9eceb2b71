use std::str::FromStr;

use chrono::Utc;
use plist::{Dictionary, Value};
use x509_cert::name::Name;

use super::*;
use crate::pki::profile::{enrollment_profile, mobileconfig, EnrollmentSettings, PayloadIds};
use crate::pki::test_support::{anchors, ca, other_ca};
use crate::pki::CmsSigner;

const TOPIC: &str = "com.apple.mgmt.External.13818cd9-434f-4216-9404-c412d3903eb6";

fn settings() -> EnrollmentSettings {
    EnrollmentSettings {
        base_url: "https://mdm.example.com:8443".to_owned(),
        topic: TOPIC.to_owned(),
        challenge: Some("one-time".to_owned()),
        ca_cert_der: ca().cert_der().to_vec(),
        organization: "Example, Inc".to_owned(),
    }
}

fn signer(ca: &crate::pki::Ca) -> CmsSigner {
    let (chain, key) = ca
        .issue_server_tls(&["mdm.example.com".to_owned()], &[])
        .expect("server identity");
    CmsSigner::from_pem(&chain, key.as_bytes()).expect("signer")
}

fn profile() -> Dictionary {
    enrollment_profile(&settings(), &PayloadIds::random()).expect("profile")
}

#[test]
fn reads_a_signed_annal_profile() {
    let body = mobileconfig(profile(), Some(&signer(ca()))).expect("signed");
    let read = read_profile(&body, &anchors(), Utc::now()).expect("reads");
    assert_eq!(read.roots, vec![ca().cert_der().to_vec()]);
    assert_eq!(read.scep.url, "https://mdm.example.com:8443/scep");
    assert_eq!(read.scep.challenge.as_deref(), Some("one-time"));
    assert_eq!(
        read.mdm,
        MdmSettings {
            server_url: "https://mdm.example.com:8443/mdm".to_owned(),
            checkin_url: "https://mdm.example.com:8443/mdm".to_owned(),
            topic: TOPIC.to_owned(),
            sign_message: true,
        }
    );
    assert_eq!(scep_subject(&read.scep.subject, "UDID-1"), "CN=UDID-1,O=Example\\, Inc");
}

#[test]
fn refuses_an_untrusted_signer_a_changed_byte_and_an_unsigned_profile() {
    let body = mobileconfig(profile(), Some(&signer(other_ca()))).expect("signed");
    assert!(matches!(
        read_profile(&body, &anchors(), Utc::now()),
        Err(ProfileReadError::Untrusted(_))
    ));

    let mut body = mobileconfig(profile(), Some(&signer(ca()))).expect("signed");
    let at = body
        .windows(8)
        .position(|w| w == b"/mdm</st")
        .expect("ServerURL in the content");
    body[at + 1] = b'x';
    assert!(matches!(
        read_profile(&body, &anchors(), Utc::now()),
        Err(ProfileReadError::Signature(_))
    ));

    let unsigned = mobileconfig(profile(), None).expect("xml");
    assert!(matches!(
        read_profile(&unsigned, &anchors(), Utc::now()),
        Err(ProfileReadError::Signature(_))
    ));
}

#[test]
fn the_mdm_identity_must_be_the_scep_payload_and_the_key_rsa_2048() {
    let payloads = |p: &Dictionary| -> Vec<Value> { p["PayloadContent"].as_array().expect("payloads").clone() };
    let mut p = profile();
    let mut content = payloads(&p);
    content[2].as_dictionary_mut().expect("mdm").insert(
        "IdentityCertificateUUID".into(),
        "00000000-0000-0000-0000-000000000000".into(),
    );
    p.insert("PayloadContent".into(), Value::Array(content));
    assert!(matches!(enrollment_of(&p), Err(ProfileReadError::IdentityMismatch(_))));

    let mut p = profile();
    let mut content = payloads(&p);
    content[1].as_dictionary_mut().expect("scep")["PayloadContent"]
        .as_dictionary_mut()
        .expect("content")
        .insert("Keysize".into(), 4096.into());
    p.insert("PayloadContent".into(), Value::Array(content));
    assert!(matches!(enrollment_of(&p), Err(ProfileReadError::KeyType(_))));

    let mut p = profile();
    let mut content = payloads(&p);
    content.remove(1);
    p.insert("PayloadContent".into(), Value::Array(content));
    assert!(matches!(
        enrollment_of(&p),
        Err(ProfileReadError::MissingPayload("SCEP"))
    ));
}

#[test]
fn the_scep_subject_names_the_device_and_parses_back() {
    let rdn = |t: &str, v: &str| vec![(t.to_owned(), v.to_owned())];
    let subject = vec![rdn("O", "#1 \"Annal\"; a+b=c "), rdn("CN", "generic")];
    let text = scep_subject(&subject, "0000SIM0-0000000000000001");
    let name = Name::from_str(&text).expect("RFC 4514");
    assert_eq!(name.to_string(), text, "the parsed name writes back the same string");
    assert!(text.starts_with("CN=0000SIM0-0000000000000001,O=\\#1 "));
    // No CN in the payload: one is added.
    assert_eq!(scep_subject(&[rdn("O", "Annal")], "U"), "CN=U,O=Annal");
}
