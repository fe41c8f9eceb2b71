use std::process::Command;

use plist::Value;

use super::*;
use crate::pki::test_support::ca;

pub(crate) fn settings() -> EnrollmentSettings {
    EnrollmentSettings {
        base_url: "https://mdm.example.com:8443".to_owned(),
        topic: "com.apple.mgmt.External.13818cd9-434f-4216-9404-c412d3903eb6".to_owned(),
        challenge: Some("static-challenge".to_owned()),
        ca_cert_der: ca().cert_der().to_vec(),
        organization: "Example Inc".to_owned(),
    }
}

fn payload<'a>(profile: &'a Dictionary, payload_type: &str) -> &'a Dictionary {
    payload_of(profile, payload_type).unwrap_or_else(|| panic!("no {payload_type} payload"))
}

#[test]
fn enrollment_profile_has_the_three_payloads_apple_requires() {
    let ids = PayloadIds::random();
    let profile = enrollment_profile(&settings(), &ids).expect("builds and validates");
    assert_eq!(profile["PayloadType"].as_string(), Some("Configuration"));
    assert_eq!(profile["PayloadRemovalDisallowed"].as_boolean(), Some(false));
    assert_eq!(
        profile["PayloadIdentifier"].as_string(),
        Some("com.example.mdm.annal.enroll")
    );

    let mdm = payload(&profile, "com.apple.mdm");
    let scep = payload(&profile, "com.apple.security.scep");
    assert_eq!(mdm["IdentityCertificateUUID"], scep["PayloadUUID"]);
    assert_eq!(mdm["ServerURL"].as_string(), Some("https://mdm.example.com:8443/mdm"));
    assert_eq!(mdm["CheckInURL"].as_string(), Some("https://mdm.example.com:8443/mdm"));
    assert_eq!(mdm["AccessRights"].as_signed_integer(), Some(8191));
    assert_eq!(mdm["SignMessage"].as_boolean(), Some(true));
    assert_eq!(mdm["CheckOutWhenRemoved"].as_boolean(), Some(true));
    assert_eq!(mdm["ServerCapabilities"].as_array().map(Vec::len), Some(2));

    let content = scep["PayloadContent"].as_dictionary().expect("SCEP content");
    assert_eq!(content["URL"].as_string(), Some("https://mdm.example.com:8443/scep"));
    assert_eq!(content["Challenge"].as_string(), Some("static-challenge"));
    assert_eq!(content["Keysize"].as_signed_integer(), Some(2048));
    assert_eq!(content["Key Type"].as_string(), Some("RSA"));
    assert_eq!(content["Key Usage"].as_signed_integer(), Some(5));

    let root = payload(&profile, "com.apple.security.root");
    assert_eq!(root["PayloadContent"].as_data(), Some(ca().cert_der()));
}

#[test]
fn broken_profiles_are_refused_with_the_key_path() {
    let profile = enrollment_profile(&settings(), &PayloadIds::random()).expect("builds");
    let broken = |edit: &dyn Fn(&mut Dictionary)| {
        let mut p = profile.clone();
        edit(&mut p);
        validate_profile(&p, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let mdm = |p: &mut Dictionary, edit: &dyn Fn(&mut Dictionary)| {
        if let Some(Value::Array(items)) = p.get_mut("PayloadContent") {
            if let Some(Value::Dictionary(d)) = items.get_mut(2) {
                edit(d);
            }
        }
    };
    assert_eq!(
        broken(&|p| mdm(p, &|d| {
            d.remove("Topic");
        })),
        "`PayloadContent[2].Topic`: missing required key"
    );
    assert_eq!(
        broken(&|p| mdm(p, &|d| {
            d.insert("AccessRights".into(), "all".into());
        })),
        "`PayloadContent[2].AccessRights`: wrong type: expected <integer> got string"
    );
    assert_eq!(
        broken(&|p| mdm(p, &|d| {
            d.insert("ServerCapabilities".into(), Value::Array(vec!["com.apple.mdm.nope".into()]));
        })),
        "`PayloadContent[2].ServerCapabilities[0]`: value not allowed: \"com.apple.mdm.nope\" (allowed: com.apple.mdm.per-user-connections, com.apple.mdm.bootstraptoken, com.apple.mdm.token)"
    );
    assert_eq!(
        broken(&|p| {
            p.insert("PayloadType".into(), "Profile".into());
        }),
        "`PayloadType`: value not allowed: \"Profile\" (allowed: Configuration)"
    );
    assert!(broken(&|p| mdm(p, &|d| {
        d.insert("PayloadType".into(), "com.apple.wifi.managed".into());
    }))
    .starts_with("`PayloadContent[2].PayloadType`: payload type \"com.apple.wifi.managed\" is not one Annal checks"));
    assert_eq!(
        broken(&|p| {
            p.insert("Unexpected".into(), true.into());
        }),
        "`Unexpected`: unknown key"
    );
}

#[test]
fn settings_are_checked_before_building() {
    let mut s = settings();
    s.base_url = "http://mdm.example.com".to_owned();
    assert!(matches!(
        enrollment_profile(&s, &PayloadIds::random()),
        Err(ProfileError::BaseUrl(_))
    ));
    s.base_url = "https://mdm.example.com/".to_owned();
    assert!(matches!(
        enrollment_profile(&s, &PayloadIds::random()),
        Err(ProfileError::BaseUrl(_))
    ));
    let mut s = settings();
    s.topic = "com.example.push".to_owned();
    assert!(matches!(
        enrollment_profile(&s, &PayloadIds::random()),
        Err(ProfileError::Topic(_))
    ));
}

/// The server identity as `annal serve` makes it: an ECDSA TLS certificate from Annal's CA.
pub(crate) fn server_signer() -> CmsSigner {
    let (chain_pem, key_pem) = ca()
        .issue_server_tls(&["mdm.example.com".to_owned()], &[])
        .expect("server identity");
    CmsSigner::from_pem(&chain_pem, key_pem.as_bytes()).expect("signer")
}

#[test]
fn openssl_verifies_the_signed_profile_and_gets_the_exact_plist_back() {
    let profile = enrollment_profile(&settings(), &PayloadIds::random()).expect("builds");
    let xml = to_xml(profile.clone()).expect("xml");
    let signed = mobileconfig(profile, Some(&server_signer())).expect("signs");

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("enroll.mobileconfig"), &signed).expect("write");
    std::fs::write(dir.path().join("ca.pem"), ca().cert_pem()).expect("write ca");
    // `-purpose any`: the signer is the server's TLS certificate (serverAuth), as MDM servers
    // usually sign profiles; S/MIME purpose checks do not apply to profiles.
    let out = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "enroll.mobileconfig",
            "-CAfile",
            "ca.pem",
        ])
        .args(["-purpose", "any", "-out", "content.plist"])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.path().join("content.plist")).expect("content"), xml);

    // Unsigned: the plain XML plist.
    let unsigned = mobileconfig(
        enrollment_profile(&settings(), &PayloadIds::random()).expect("builds"),
        None,
    )
    .expect("xml");
    assert!(unsigned.starts_with(b"<?xml"));
}
