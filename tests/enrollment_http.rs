//! Enrollment over real HTTPS against a real `annal serve`: enrollment tokens from the admin
//! API, the signed profile at GET /enroll (checked by `openssl cms -verify`), and the three
//! over-the-air phases with simulated device answers, CMS-signed as a device signs them.

mod common;

use std::process::Command;

use annal::pki::{verify_attached, DeviceIdentity, KeyKind, TrustAnchors};
use annal::testkit::sim::Client;
use chrono::Utc;
use common::admin::{call, get};
use common::openssl;
use common::server::Server;
use hyper::Method;
use plist::{Dictionary, Value};
use serde_json::json;

const TOPIC: &str = "com.apple.mgmt.External.13818cd9-434f-4216-9404-c412d3903eb6";

async fn start() -> (Server, tempfile::TempDir) {
    let secrets = tempfile::tempdir().expect("tmp");
    let challenge = secrets.path().join("challenge");
    common::write_private(&challenge, "static-challenge\n");
    let challenge = challenge.to_string_lossy().into_owned();
    // A stand-in for Apple's chain: a root and an RSA-1024 device CA under it (SHA-1), given
    // to the server with --ota-device-ca; phase 2 signers are issued by it.
    let dir = secrets.path();
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj /CN=Test-Root -days 30 -out root.pem",
    );
    std::fs::write(dir.join("ca.ext"), "basicConstraints=critical,CA:true\n").expect("ext");
    openssl(
        dir,
        "req -newkey rsa:1024 -nodes -keyout device-ca.key -subj /CN=Test-iPhone-Device-CA -out device-ca.csr",
    );
    openssl(
        dir,
        "x509 -req -in device-ca.csr -CA root.pem -CAkey root.key -set_serial 1 -days 30 -sha1 -extfile ca.ext -out device-ca.pem",
    );
    let bundle = dir.join("device-ca-bundle.pem");
    let pem = [dir.join("device-ca.pem"), dir.join("root.pem")].map(|p| std::fs::read_to_string(p).expect("pem"));
    std::fs::write(&bundle, pem.concat()).expect("bundle");
    let bundle = bundle.to_string_lossy().into_owned();
    let args = [
        "--topic",
        TOPIC,
        "--base-url",
        "https://mdm.example.com",
        "--scep-challenge-file",
        &challenge,
        "--ota-device-ca",
        &bundle,
    ];
    (Server::start(&args).await, secrets)
}

/// GET `path`; returns the status and body.
async fn fetch(client: &Client, path: &str) -> (u16, Vec<u8>) {
    let a = client.get(path).await.expect("GET");
    (a.status.as_u16(), a.body.to_vec())
}

/// Checks a signed profile the server sent (signer issued by its CA) and returns the plist.
fn opened(server: &Server, body: &[u8]) -> Dictionary {
    let signed = verify_attached(body).expect("a CMS SignedData that verifies");
    let anchors = TrustAnchors::new(vec![server.ca().cert_der().to_vec()]).expect("anchors");
    anchors
        .verify_leaf(&signed.signer_cert_der, Utc::now())
        .expect("signed by the server identity from Annal's CA");
    plist::from_bytes(&signed.content).expect("a plist dictionary")
}

fn payload_of<'a>(profile: &'a Dictionary, payload_type: &str) -> &'a Dictionary {
    annal::pki::profile::payload_of(profile, payload_type).unwrap_or_else(|| panic!("no {payload_type}"))
}

fn attributes(udid: &str, challenge: &str) -> Vec<u8> {
    let mut d = Dictionary::new();
    for (k, v) in [
        ("UDID", udid),
        ("CHALLENGE", challenge),
        ("PRODUCT", "iPhone15,2"),
        ("VERSION", "22A3354"),
    ] {
        d.insert(k.into(), v.into());
    }
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &Value::Dictionary(d)).expect("xml");
    out
}

async fn post_signed(client: &Client, identity: &DeviceIdentity, content: &[u8]) -> (u16, Vec<u8>) {
    post(client, identity.sign_attached(content, &[]).expect("device signs")).await
}

async fn post(client: &Client, body: Vec<u8>) -> (u16, Vec<u8>) {
    let a = client
        .send(
            Method::POST,
            "/enroll/ota",
            Some("application/pkcs7-signature"),
            &[],
            body,
        )
        .await
        .expect("POST");
    (a.status.as_u16(), a.body.to_vec())
}

#[tokio::test]
async fn tokens_guard_a_signed_profile_and_the_three_ota_phases() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let (server, secrets) = start().await;
    let client = server.client();
    let admin = server.api_key();

    assert_eq!(fetch(&client, "/enroll").await.0, 401, "no token");
    assert_eq!(fetch(&client, "/enroll?token=annal_0123456789abcdef_nope").await.0, 403);

    let (status, created) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&admin),
        Some(json!({"name": "lobby"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(
        created["enroll_url"],
        format!("https://mdm.example.com/enroll?token={token}")
    );
    let (status, bad) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&admin),
        Some(json!({"name": "a b"})),
    )
    .await;
    assert_eq!((status, bad["error"]["path"].as_str()), (400, Some("name")));

    // The token opens the profile and nothing else: not the audit trail (which now names keys and
    // tokens), not a cancel, not a destructive command even with its reason and count.
    assert_eq!(get(&client, "/v1/devices", &token).await.0, 403);
    assert_eq!(get(&client, "/v1/audit", &token).await.0, 403);
    let cancel = call(&client, Method::DELETE, "/v1/devices/X/commands/Y", Some(&token), None).await;
    assert_eq!(cancel.0, 403, "{}", cancel.1);
    let wipe =
        json!({"enrollments": ["X"], "command": {"RequestType": "EraseDevice"}, "reason": "r", "confirm_count": 1});
    let wiped = call(&client, Method::POST, "/v1/commands", Some(&token), Some(wipe)).await;
    assert_eq!(wiped.0, 403, "{}", wiped.1);
    let answer = client.get(&format!("/enroll?token={token}")).await.expect("GET");
    assert_eq!(answer.status.as_u16(), 200);
    assert_eq!(answer.content_type(), Some("application/x-apple-aspen-config"));
    let profile = opened(&server, &answer.body);
    let mdm = payload_of(&profile, "com.apple.mdm");
    assert_eq!(mdm["Topic"].as_string(), Some(TOPIC));
    assert_eq!(mdm["ServerURL"].as_string(), Some("https://mdm.example.com/mdm"));
    let scep = payload_of(&profile, "com.apple.security.scep")["PayloadContent"]
        .as_dictionary()
        .expect("scep");
    assert_eq!(scep["Challenge"].as_string(), Some("static-challenge"));

    // openssl agrees: the signature verifies to Annal's CA and the content is the plist.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("enroll.mobileconfig"), &answer.body).expect("write");
    std::fs::write(dir.path().join("ca.pem"), server.ca().cert_pem()).expect("ca");
    let verified = openssl(
        dir.path(),
        "cms -verify -inform DER -in enroll.mobileconfig -CAfile ca.pem -purpose any",
    );
    assert_eq!(
        plist::from_bytes::<Dictionary>(&verified).expect("plist")["PayloadUUID"],
        profile["PayloadUUID"]
    );

    // Phase 1: the profile service asks for attributes, with the token as its challenge.
    let (status, body) = fetch(&client, &format!("/enroll/ota?token={token}")).await;
    assert_eq!(status, 200);
    let service = opened(&server, &body);
    assert_eq!(service["PayloadType"].as_string(), Some("Profile Service"));
    let content = service["PayloadContent"].as_dictionary().expect("content");
    assert_eq!(content["URL"].as_string(), Some("https://mdm.example.com/enroll/ota"));
    let challenge = content["Challenge"].as_string().expect("challenge").to_owned();

    // Phase 2: attributes signed by the device's identity, RSA-1024 under the (stand-in)
    // device CA as Apple's are, the CMS made by `openssl cms -sign -stream -md sha1`: BER.
    let ca_dir = secrets.path().display().to_string();
    let apple_device = |udid: &str, challenge: &str| -> Vec<u8> {
        std::fs::write(dir.path().join("attrs.plist"), attributes(udid, challenge)).expect("write");
        openssl(
            dir.path(),
            &format!("req -newkey rsa:1024 -nodes -keyout dev.key -subj /CN={udid} -out dev.csr"),
        );
        openssl(
            dir.path(),
            &format!("x509 -req -in dev.csr -CA {ca_dir}/device-ca.pem -CAkey {ca_dir}/device-ca.key -set_serial 9 -days 30 -sha1 -out dev.pem"),
        );
        openssl(
            dir.path(),
            "cms -sign -nodetach -stream -md sha1 -binary -in attrs.plist -signer dev.pem -inkey dev.key -outform DER -out signed.der",
        );
        let signed = std::fs::read(dir.path().join("signed.der")).expect("signed");
        assert_eq!(&signed[..2], [0x30, 0x80], "BER, indefinite length");
        signed
    };
    let (status, body) = post(&client, apple_device("UDID-OTA-1", &challenge)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let identity_profile = opened(&server, &body);
    let scep = payload_of(&identity_profile, "com.apple.security.scep")["PayloadContent"]
        .as_dictionary()
        .expect("scep");
    assert!(format!("{:?}", scep["Subject"]).contains("UDID-OTA-1"));
    assert_eq!(scep["URL"].as_string(), Some("https://mdm.example.com/scep"));

    // Phase 3: signed with the identity Annal's CA issued (what SCEP gives the device).
    let scep_identity = server
        .ca()
        .issue_device_identity("UDID-OTA-1", KeyKind::Rsa2048, 30)
        .expect("id");
    let (status, body) = post_signed(&client, &scep_identity, &attributes("UDID-OTA-1", &challenge)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let final_profile = opened(&server, &body);
    let encrypted = final_profile["EncryptedPayloadContent"]
        .as_data()
        .expect("encrypted payloads");
    std::fs::write(dir.path().join("env.der"), encrypted).expect("write");
    std::fs::write(dir.path().join("device.pem"), scep_identity.to_pem()).expect("write");
    let decrypted = openssl(dir.path(), "cms -decrypt -inform DER -in env.der -inkey device.pem");
    let payloads: Vec<Value> = plist::from_bytes(&decrypted).expect("payload array");
    let mdm = payloads[2].as_dictionary().expect("mdm");
    assert_eq!(
        (mdm["PayloadType"].as_string(), mdm["Topic"].as_string()),
        (Some("com.apple.mdm"), Some(TOPIC))
    );

    // Refusals: a body that is not signed attributes, a wrong challenge.
    let a = client
        .send(Method::POST, "/enroll/ota", None, &[], b"junk".to_vec())
        .await
        .expect("POST");
    assert_eq!(a.status.as_u16(), 400);
    let (status, _) = post(&client, apple_device("UDID-OTA-2", "annal_0123456789abcdef_x")).await;
    assert_eq!(status, 403);
    // A signer under no device CA, and an RSA-1024 one under Annal's CA, are refused by name.
    openssl(
        dir.path(),
        "req -x509 -newkey rsa:2048 -nodes -keyout self.key -subj /CN=Not-A-Device-CA -days 30 -out self.pem",
    );
    openssl(
        dir.path(),
        "cms -sign -nodetach -binary -in attrs.plist -signer self.pem -inkey self.key -outform DER -out self.der",
    );
    let (status, body) = post(&client, std::fs::read(dir.path().join("self.der")).expect("read")).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains(
            "issued by CN=Not-A-Device-CA, which does not chain to Apple iPhone Device CA or Test-iPhone-Device-CA"
        ),
        "{text}"
    );
    std::fs::write(dir.path().join("annal-ca.pem"), server.ca().cert_pem()).expect("write");
    std::fs::copy(
        server.data_dir.join("ca").join("ca.key"),
        dir.path().join("annal-ca.key"),
    )
    .expect("copy");
    openssl(
        dir.path(),
        "req -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak -out weak.csr",
    );
    openssl(
        dir.path(),
        "x509 -req -in weak.csr -CA annal-ca.pem -CAkey annal-ca.key -set_serial 3 -days 30 -sha256 -out weak.pem",
    );
    openssl(
        dir.path(),
        "cms -sign -nodetach -binary -in attrs.plist -signer weak.pem -inkey weak.key -outform DER -out weak.der",
    );
    let (status, body) = post(&client, std::fs::read(dir.path().join("weak.der")).expect("read")).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("signer key RSA-1024 is accepted only for certificates under Apple iPhone Device CA or Test-iPhone-Device-CA; this one is issued by"),
        "{text}"
    );

    // A revoked token opens nothing.
    let token_id = created["token_id"].as_str().expect("id");
    let (status, _) = call(
        &client,
        Method::DELETE,
        &format!("/v1/enrollment-tokens/{token_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(fetch(&client, &format!("/enroll?token={token}")).await.0, 403);
    let (status, _) = post(&client, apple_device("UDID-OTA-1", &challenge)).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &client,
        Method::DELETE,
        "/v1/enrollment-tokens/ffffffffffffffff",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn without_a_topic_enroll_is_unavailable() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let a = client
        .send(
            Method::GET,
            "/enroll",
            None,
            &[("Authorization", &format!("Bearer {admin}"))],
            Vec::new(),
        )
        .await
        .expect("GET");
    assert_eq!(a.status.as_u16(), 503);
}

#[tokio::test]
async fn enroll_profile_cli_writes_a_signed_profile_and_refuses_a_bad_topic() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    // A server's first start makes the CA and the server identity the CLI signs with.
    let server = Server::start(&[]).await;
    let data_dir = server.data_dir.to_string_lossy().into_owned();
    let out_file = server
        .data_dir
        .join("enroll.mobileconfig")
        .to_string_lossy()
        .into_owned();
    let annal = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_annal"))
            .args([
                "enroll",
                "profile",
                "--data-dir",
                &data_dir,
                "--base-url",
                "https://mdm.example.com",
            ])
            .args(extra)
            .output()
            .expect("annal runs")
    };
    let out = annal(&["--topic", TOPIC, "--challenge", "c1", "--out", &out_file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(server.data_dir.join("ca-copy.pem"), server.ca().cert_pem()).expect("ca");
    let line = format!("cms -verify -inform DER -in {out_file} -CAfile {data_dir}/ca-copy.pem -purpose any");
    let profile: Dictionary = plist::from_bytes(&openssl(&server.data_dir, &line)).expect("plist");
    assert_eq!(payload_of(&profile, "com.apple.mdm")["Topic"].as_string(), Some(TOPIC));

    // The file carries the challenge: only its owner may read it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "profile mode {:o}", mode & 0o777);
    // No challenge: no device could enroll with it, so it is refused unless asked for.
    let unchallenged = annal(&["--topic", TOPIC, "--unsigned"]);
    assert!(!unchallenged.status.success());
    assert!(String::from_utf8_lossy(&unchallenged.stderr).contains("no SCEP challenge"));
    let unsigned = annal(&["--topic", TOPIC, "--unsigned", "--no-challenge"]);
    assert!(unsigned.status.success() && unsigned.stdout.starts_with(b"<?xml"));
    // The [enroll] table of --config gives it the same challenge file `serve` reads.
    let challenge_file = server.data_dir.join("scep-challenge");
    std::fs::write(&challenge_file, "from-the-config-file\n").unwrap();
    std::fs::set_permissions(&challenge_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = server.data_dir.join("annal.toml");
    std::fs::write(
        &config,
        format!(
            "[enroll]\nscep_challenge_file = {:?}\n",
            challenge_file.display().to_string()
        ),
    )
    .unwrap();
    let configured = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "enroll",
            "profile",
            "--data-dir",
            &data_dir,
        ])
        .args(["--base-url", "https://mdm.example.com", "--topic", TOPIC, "--unsigned"])
        .output()
        .expect("annal runs");
    assert!(
        configured.status.success(),
        "{}",
        String::from_utf8_lossy(&configured.stderr)
    );
    assert!(String::from_utf8_lossy(&configured.stdout).contains("from-the-config-file"));
    let bad = annal(&["--topic", "com.example.push"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("com.apple.mgmt."));

    // Without --topic: the installed push certificate's topic, read from the log.
    let none = annal(&["--unsigned", "--no-challenge"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no push certificate is installed"));
    let (cert, key) = common::push::push_cert(&server.data_dir, "push", TOPIC, 30);
    let installed = common::push::install(&server, &cert, &key, &[]);
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let from_log = annal(&["--unsigned", "--challenge", "c2"]);
    assert!(
        from_log.status.success(),
        "{}",
        String::from_utf8_lossy(&from_log.stderr)
    );
    let profile: Dictionary = plist::from_bytes(&from_log.stdout).expect("plist");
    assert_eq!(payload_of(&profile, "com.apple.mdm")["Topic"].as_string(), Some(TOPIC));
}
