use std::process::Command;

use super::*;
use crate::pki::profile::tests::settings;
use crate::pki::test_support::identity;
use crate::pki::KeyKind;

#[test]
fn profile_service_asks_for_the_attributes_with_the_challenge() {
    let p = profile_service(&settings(), "tok", Uuid::new_v4()).expect("builds");
    assert_eq!(p["PayloadType"].as_string(), Some("Profile Service"));
    let content = p["PayloadContent"].as_dictionary().expect("content");
    assert_eq!(
        content["URL"].as_string(),
        Some("https://mdm.example.com:8443/enroll/ota")
    );
    assert_eq!(content["Challenge"].as_string(), Some("tok"));
    assert_eq!(content["DeviceAttributes"].as_array().map(Vec::len), Some(6));
}

#[test]
fn attributes_need_udid_and_challenge() {
    let ok = br#"<plist version="1.0"><dict><key>UDID</key><string>U1</string><key>CHALLENGE</key><string>c</string><key>PRODUCT</key><string>iPhone15,2</string></dict></plist>"#;
    let a = parse_attributes(ok).expect("parses");
    assert_eq!((a.udid.as_str(), a.product.as_deref()), ("U1", Some("iPhone15,2")));
    let no_udid = br#"<plist version="1.0"><dict><key>CHALLENGE</key><string>c</string></dict></plist>"#;
    assert_eq!(parse_attributes(no_udid), Err(AttributesError::Missing("UDID")));
    assert!(matches!(parse_attributes(b"junk"), Err(AttributesError::NotPlist(_))));
}

#[test]
fn scep_profile_is_valid_and_names_the_udid() {
    let p = scep_profile(&settings(), "UDID-1", Some("one-time"), &PayloadIds::random()).expect("valid");
    let items = p["PayloadContent"].as_array().expect("payloads");
    assert_eq!(items.len(), 2);
    let scep = items[1].as_dictionary().expect("scep")["PayloadContent"]
        .as_dictionary()
        .expect("content");
    assert_eq!(scep["Challenge"].as_string(), Some("one-time"));
    let subject = format!("{:?}", scep["Subject"]);
    assert!(subject.contains("UDID-1"), "{subject}");
}

#[test]
fn encrypted_profile_opens_with_the_device_key_to_the_enrollment_payloads() {
    let device = identity(KeyKind::Rsa2048);
    let ids = PayloadIds::random();
    let p = encrypted_enrollment_profile(&settings(), &ids, &device.cert_der).expect("builds");
    assert!(!p.contains_key("PayloadContent"));
    let enveloped = p["EncryptedPayloadContent"].as_data().expect("data");

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("env.der"), enveloped).expect("write");
    std::fs::write(dir.path().join("id.pem"), device.to_pem()).expect("write");
    let out = Command::new("openssl")
        .args([
            "cms", "-decrypt", "-inform", "DER", "-in", "env.der", "-inkey", "id.pem",
        ])
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let payloads: Vec<Value> = plist::from_bytes(&out.stdout).expect("a payload array");
    let types: Vec<&str> = payloads
        .iter()
        .filter_map(|p| p.as_dictionary()?.get("PayloadType")?.as_string())
        .collect();
    assert_eq!(
        types,
        ["com.apple.security.root", "com.apple.security.scep", "com.apple.mdm"]
    );
}
