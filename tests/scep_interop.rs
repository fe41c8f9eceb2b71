//! A real third-party SCEP client against a real `annal serve`: Debian's `scep` package
//! (micromdm's scepclient), over HTTPS, with one-time challenges from the admin API.
//! scepclient missing is a failure, not a skip: `ops/install-test-deps.sh` installs it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use annal::pki::{certificate_info, fingerprint_sha256, TrustAnchors};
use common::admin::{call, get_text};
use common::server::Server;
use hyper::Method;
use serde_json::Value;

fn scepclient(server: &Server, dir: &Path, cn: &str, challenge: &str) -> Output {
    let found = Command::new("scepclient").arg("-version").output();
    assert!(
        found.is_ok(),
        "scepclient is not installed: run ops/install-test-deps.sh (Debian package `scep`)"
    );
    Command::new("scepclient")
        .arg("-server-url")
        .arg(format!("{}/scep", server.base))
        .args(["-challenge", challenge, "-cn", cn, "-organization", "Annal interop"])
        .arg("-private-key")
        .arg(dir.join("key.pem"))
        .arg("-certificate")
        .arg(dir.join("cert.pem"))
        // Go reads its trust roots from SSL_CERT_FILE: Annal's CA issued the server certificate.
        .env("SSL_CERT_FILE", server.data_dir.join("ca").join("ca.pem"))
        .output()
        .expect("run scepclient")
}

async fn challenge(server: &Server) -> String {
    let key = server.api_key();
    let (status, body) = call(
        &server.client(),
        Method::POST,
        "/v1/scep/challenges",
        Some(&key),
        Some(serde_json::json!({"expires_in_seconds": 600})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["challenge"].as_str().expect("challenge").to_owned()
}

/// `data` of every event of `event_type`, from the admin API's NDJSON export.
async fn events(server: &Server, event_type: &str) -> Vec<Value> {
    let (status, text) = get_text(
        &server.client(),
        &format!("/v1/events?types={event_type}&limit=1000"),
        &server.api_key(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("NDJSON line"))
        .map(|v| v["data"].clone())
        .collect()
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// scepclient with `challenge` gets a CertRep FAILURE badRequest and writes no certificate.
fn assert_refused(server: &Server, dir: &Path, challenge: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let out = scepclient(server, dir, "refused-device", challenge);
    let text = output_text(&out);
    assert!(!dir.join("cert.pem").exists(), "a certificate was issued:\n{text}");
    assert!(text.contains("badRequest"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scepclient_enrolls_with_a_one_time_challenge() {
    let server = Server::start(&[]).await;
    let ca = server.ca();
    let dirs = tempfile::tempdir().unwrap();
    let first = dirs.path().join("first");
    std::fs::create_dir_all(&first).unwrap();

    let one_time = challenge(&server).await;
    let out = scepclient(&server, &first, "interop-device-1", &one_time);
    assert!(out.status.success(), "scepclient failed:\n{}", output_text(&out));

    // The certificate it received verifies against Annal's CA and is what Annal recorded.
    let pem = std::fs::read_to_string(first.join("cert.pem")).expect("scepclient wrote its certificate");
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents;
    let anchors = TrustAnchors::new(vec![ca.cert_der().to_vec()]).unwrap();
    let verified = anchors
        .verify_leaf(&der, chrono::Utc::now())
        .expect("verifies against the CA");
    assert!(verified.subject.contains("CN=interop-device-1"), "{}", verified.subject);
    let issued = events(&server, "CertificateIssued").await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0]["profile"], "scep");
    assert_eq!(issued[0]["certificate"]["fingerprint_sha256"], fingerprint_sha256(&der));
    assert_eq!(
        issued[0]["certificate"]["serial_hex"],
        certificate_info(&der).unwrap().serial_hex
    );
    // The challenge itself is nowhere in the log; its consumption is.
    let consumed = events(&server, "ScepChallengeConsumed").await;
    assert_eq!(consumed.len(), 1);
    let (_, all) = get_text(&server.client(), "/v1/events?limit=1000", &server.api_key()).await;
    assert!(!all.contains(&one_time), "the challenge leaked into the log");

    // The same challenge a second time: refused, nothing issued.
    assert_refused(&server, &dirs.path().join("second"), &one_time);

    // A wrong challenge: refused, and recorded nothing at all.
    let (_, before) = get_text(&server.client(), "/v1/events?limit=1000", &server.api_key()).await;
    assert_refused(&server, &dirs.path().join("third"), "not-the-challenge");
    let (_, after) = get_text(&server.client(), "/v1/events?limit=1000", &server.api_key()).await;
    assert_eq!(before, after, "a refused request appended events");
    assert_eq!(events(&server, "CertificateIssued").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn scepclient_enrolls_with_the_static_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("challenge");
    common::write_private(&file, "static-secret\n");
    let server = Server::start(&["--scep-challenge-file", file.to_str().unwrap()]).await;
    for n in 1..=2 {
        let out_dir = dir.path().join(format!("d{n}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = scepclient(&server, &out_dir, &format!("static-{n}"), "static-secret");
        assert!(out.status.success(), "{}", output_text(&out));
        assert!(out_dir.join("cert.pem").exists());
    }
    assert_eq!(events(&server, "CertificateIssued").await.len(), 2);
    assert!(events(&server, "ScepChallengeConsumed").await.is_empty());
}
