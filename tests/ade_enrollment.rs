//! Automated Device Enrollment over real HTTPS: a device POSTs its MachineInfo, CMS-signed by
//! `openssl cms -sign` (DER, and BER with `-stream`), to the enrollment URL and gets the
//! enrollment profile; the request is an event; refusals are precise 4xx that append nothing.

mod common;

use std::path::Path;

use annal::pki::{verify_attached, TrustAnchors};
use annal::store::open;
use annal::testkit::sim::Client;
use chrono::Utc;
use common::admin::call;
use common::openssl;
use common::server::Server;
use hyper::Method;
use plist::{Dictionary, Value};
use serde_json::json;

const TOPIC: &str = "com.apple.mgmt.External.13818cd9-434f-4216-9404-c412d3903eb6";
const UDID: &str = "00008030-001A2B3C4D5E6F70";

fn machine_info(entries: &[(&str, &str)]) -> Vec<u8> {
    let d: Dictionary = entries.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
    let mut out = Vec::new();
    Value::Dictionary(d).to_writer_xml(&mut out).expect("plist");
    out
}

/// `content` signed by a device key the way `openssl cms -sign` does (`extra`: `-stream` for
/// BER with indefinite lengths).
fn signed(dir: &Path, content: &[u8], extra: &str) -> Vec<u8> {
    std::fs::write(dir.join("info.plist"), content).expect("write");
    if !dir.join("dev.pem").exists() && !dir.join("dev.csr").exists() {
        openssl(
            dir,
            "req -x509 -newkey rsa:2048 -nodes -keyout dev.key -subj /CN=Apple-iPhone-Device -days 30 -out dev.pem",
        );
    }
    openssl(
        dir,
        &format!("cms -sign -nodetach -binary {extra} -in info.plist -signer dev.pem -inkey dev.key -outform DER -out signed.der"),
    );
    std::fs::read(dir.join("signed.der")).expect("signed")
}

async fn post(client: &Client, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let a = client
        .send(Method::POST, path, Some("application/pkcs7-signature"), &[], body)
        .await
        .expect("POST");
    (a.status.as_u16(), a.body.to_vec())
}

async fn head(server: &Server) -> u64 {
    let store = open(&server.store_url.parse().unwrap()).await.unwrap();
    store.head().await.unwrap().position
}

#[tokio::test]
async fn an_ade_device_posts_its_signed_machine_info_and_gets_the_enrollment_profile() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&["--topic", TOPIC, "--base-url", "https://mdm.example.com"]).await;
    let client = server.client();
    let admin = server.api_key();
    let (status, created) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&admin),
        Some(json!({"name": "dep-profile"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let url = format!("/enroll?token={}", created["token"].as_str().expect("token"));
    let dir = tempfile::tempdir().expect("tmp");
    let info = machine_info(&[
        ("UDID", UDID),
        ("SERIAL", "F9FXK0ABCDEF"),
        ("PRODUCT", "iPhone16,1"),
        ("VERSION", "22B83"),
        ("OS_VERSION", "18.1"),
        ("LANGUAGE", "en-US"),
    ]);
    let der = signed(dir.path(), &info, "");

    // Refusals first: none of them appends anything.
    let before = head(&server).await;
    assert_eq!(post(&client, "/enroll", der.clone()).await.0, 401, "no token");
    assert_eq!(
        post(&client, "/enroll?token=annal_0123456789abcdef_nope", der.clone())
            .await
            .0,
        403
    );
    let (status, text) = post(&client, &url, info.clone()).await;
    assert_eq!(status, 400, "an unsigned plist");
    assert!(
        String::from_utf8_lossy(&text).contains("CMS SignedData"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    // The signed plist altered on the way: the digest no longer matches.
    let mut tampered = der.clone();
    let at = tampered
        .windows(UDID.len())
        .position(|w| w == UDID.as_bytes())
        .expect("the content is in the CMS");
    tampered[at] ^= 1;
    let (status, text) = post(&client, &url, tampered).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&text));
    let (status, text) = post(
        &client,
        &url,
        signed(dir.path(), &machine_info(&[("SERIAL", "F9FX")]), ""),
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&text).contains("missing key UDID"));
    assert_eq!(head(&server).await, before, "a refused request appended an event");

    // DER, and BER as `-stream` writes it (indefinite lengths, chunked content).
    for (form, body) in [("DER", der), ("BER", signed(dir.path(), &info, "-stream"))] {
        let (status, profile) = post(&client, &url, body).await;
        assert_eq!(status, 200, "{form}: {}", String::from_utf8_lossy(&profile));
        let opened = verify_attached(&profile).expect("a signed profile");
        TrustAnchors::new(vec![server.ca().cert_der().to_vec()])
            .expect("anchors")
            .verify_leaf(&opened.signer_cert_der, Utc::now())
            .expect("signed by the server identity");
        let profile: Dictionary = plist::from_bytes(&opened.content).expect("plist");
        let mdm = annal::pki::profile::payload_of(&profile, "com.apple.mdm").expect("MDM payload");
        assert_eq!(mdm["Topic"].as_string(), Some(TOPIC));
        assert_eq!(mdm["ServerURL"].as_string(), Some("https://mdm.example.com/mdm"));
        let scep = annal::pki::profile::payload_of(&profile, "com.apple.security.scep").expect("SCEP payload");
        let challenge = scep["PayloadContent"].as_dictionary().expect("content")["Challenge"].as_string();
        assert!(
            challenge.is_some_and(|c| c.len() == 64),
            "a one-time challenge: {challenge:?}"
        );
    }

    let store = open(&server.store_url.parse().unwrap()).await.unwrap();
    let events = store.read_stream(&format!("machine-info-{UDID}"), 1, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(
        (e.event_type.as_str(), e.actor.as_str()),
        ("MachineInfoReceived", "api-key:dep-profile")
    );
    let data: serde_json::Value = serde_json::from_slice(&e.data).unwrap();
    assert_eq!(data["serial_number"], "F9FXK0ABCDEF");
    assert_eq!(data["os_version"], "18.1");
    assert_eq!(data["product"], "iPhone16,1");
    assert_eq!(data["signer_subject"], "CN=Apple-iPhone-Device");
    // A self-made certificate is not Apple's device CA: the log says the UDID is only a claim.
    assert_eq!(data["signer_apple"], false);
    assert!(e
        .raw
        .as_deref()
        .is_some_and(|raw| raw.windows(UDID.len()).any(|w| w == UDID.as_bytes())));
}

/// A device CA shaped like Apple's (RSA-1024, SHA-1) given to the server with
/// `--ota-device-ca`, and a device identity under it: the MachineInfo is then Apple's word, and
/// the profile's one-time challenge is tied to its UDID.
#[tokio::test]
async fn a_machine_info_signed_under_the_device_ca_ties_the_challenge_to_the_udid() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    openssl(
        d,
        "req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj /CN=Test-Root -days 30 -out root.pem",
    );
    std::fs::write(d.join("ca.ext"), "basicConstraints=critical,CA:true\n").expect("ext");
    openssl(
        d,
        "req -newkey rsa:1024 -nodes -keyout device-ca.key -subj /CN=Test-iPhone-Device-CA -out device-ca.csr",
    );
    openssl(
        d,
        "x509 -req -in device-ca.csr -CA root.pem -CAkey root.key -set_serial 1 -days 30 -sha1 -extfile ca.ext -out device-ca.pem",
    );
    let pem = [d.join("device-ca.pem"), d.join("root.pem")].map(|p| std::fs::read_to_string(p).expect("pem"));
    std::fs::write(d.join("bundle.pem"), pem.concat()).expect("bundle");
    openssl(
        d,
        &format!("req -newkey rsa:1024 -nodes -keyout dev.key -subj /CN={UDID} -out dev.csr"),
    );
    openssl(
        d,
        "x509 -req -in dev.csr -CA device-ca.pem -CAkey device-ca.key -set_serial 9 -days 30 -sha1 -out dev.pem",
    );
    let bundle = d.join("bundle.pem").to_string_lossy().into_owned();
    let server = Server::start(&[
        "--topic",
        TOPIC,
        "--base-url",
        "https://mdm.example.com",
        "--ota-device-ca",
        &bundle,
    ])
    .await;
    let client = server.client();
    let (status, created) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&server.api_key()),
        Some(json!({"name": "dep"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let url = format!("/enroll?token={}", created["token"].as_str().expect("token"));
    // BER (`-stream`) with SHA-1, as an old device's identity signs.
    let body = signed(
        d,
        &machine_info(&[("UDID", UDID), ("SERIAL", "F9FXK0ABCDEF")]),
        "-stream -md sha1",
    );
    let (status, profile) = post(&client, &url, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&profile));

    let store = open(&server.store_url.parse().unwrap()).await.unwrap();
    let events = store.read_stream(&format!("machine-info-{UDID}"), 1, 10).await.unwrap();
    let data: serde_json::Value = serde_json::from_slice(&events[0].data).unwrap();
    assert_eq!(data["signer_apple"], true, "{data}");
    assert_eq!(data["signer_issuer"], "CN=Test-iPhone-Device-CA");
    // The challenge the profile carries was issued for this UDID.
    let opened = verify_attached(&profile).expect("signed profile");
    let profile: Dictionary = plist::from_bytes(&opened.content).expect("plist");
    let scep = annal::pki::profile::payload_of(&profile, "com.apple.security.scep").expect("SCEP payload");
    let challenge = scep["PayloadContent"].as_dictionary().expect("content")["Challenge"]
        .as_string()
        .expect("challenge")
        .to_owned();
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(challenge.as_bytes()));
    let issued = store
        .read_stream(&format!("scep-challenge-{digest}"), 1, 1)
        .await
        .unwrap();
    let issued: serde_json::Value = serde_json::from_slice(&issued[0].data).unwrap();
    assert_eq!(issued["udid"], UDID, "{issued}");
}
