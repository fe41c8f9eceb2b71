//! Push fixtures: push certificates made by the openssl CLI (as admins make them), the mock APNs,
//! and `annal push-cert` run as an admin runs it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use annal::testkit::apns_mock::{MockApns, Received};

use super::server::Server;

/// A self-signed push certificate (RSA 2048) for `topic`, valid `days` days, made by the openssl
/// CLI; returns the certificate and key paths.
pub fn push_cert(dir: &Path, name: &str, topic: &str, days: u32) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let subject = format!("/UID={topic}/CN=APSP:{name}/C=US");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", &subject])
        .args(["-days", &days.to_string()])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A push certificate that expired in 2020 (openssl 3.0's `req` cannot backdate: rcgen, ECDSA).
pub fn expired_push_cert(dir: &Path, topic: &str) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        topic,
    );
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 2, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("expired.pem"), dir.join("expired.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Runs `annal <args>` against the server's store and data directory.
pub fn annal(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .args(["--store", &server.store_url])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run annal")
}

/// Installs a push certificate with the CLI; asserts it succeeded.
pub fn install(server: &Server, cert: &Path, key: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "push-cert",
        "install",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    annal(server, &args)
}

/// The mock APNs, with its CA written where `annal serve --apns-ca-file` can read it.
pub async fn mock(dir: &Path) -> (MockApns, PathBuf) {
    let mock = MockApns::start(&dir.join("mock-ca"), true).await.expect("mock APNs");
    let ca = dir.join("mock-ca.pem");
    std::fs::write(&ca, &mock.ca_pem).unwrap();
    (mock, ca)
}

/// `annal serve` options that point pushes at the mock, with short retry and suspension times.
pub fn serve_args(mock: &MockApns, ca: &Path) -> Vec<String> {
    vec![
        "--apns-url".into(),
        mock.base_url(),
        "--apns-ca-file".into(),
        ca.display().to_string(),
        "--push-backoff-max-secs".into(),
        "1".into(),
        "--push-suspend-secs".into(),
        "2".into(),
    ]
}

/// Waits until the mock has received `n` requests; returns them.
pub async fn wait_received(mock: &MockApns, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = mock.received();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "the mock received {} of {n} pushes",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
