//! `annal sim --device-profile real` (the CLI, as an operator runs it) against a real
//! `annal serve`: devices that look like real Apple devices on the wire (RSA-2048 identities,
//! Mdm-Signature with signed attributes on every request and never a TLS client certificate,
//! BER signatures on every third message, no Content-Type on the command channel, a new
//! connection every fourth request) enroll, take every command and acknowledge it, with no
//! errors, and every device message is recorded as proven by its Mdm-Signature.
//!
//! `real_profile_with_der_signatures_and_a_typed_command_channel` turns off the two parts a
//! server accepts only with the BER and body-dispatch changes (issue 14 items 2 and 1);
//! `real_profile_with_ber_signatures` needs the first, `real_profile_with_a_bare_command_channel`
//! the second, and `the_full_real_profile` both.

mod common;

use std::process::Command;

use annal::pki::{Ca, KeyKind};
use annal::store::open;
use annal::testkit::sim::ber::{indefinite, CMS_OUTER_LEVELS};
use annal::testkit::sim::{udid_of, VirtualDevice};
use common::admin::get;
use common::server::Server;
use serde_json::Value;

const DEVICES: usize = 4;
const ROUNDS: usize = 3;

/// Runs `annal sim` with `extra` against `server`; returns its JSON report.
fn sim(server: &Server, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["sim", "--server", &server.base, "--json"])
        .args(["--devices", &DEVICES.to_string(), "--rounds", &ROUNDS.to_string()])
        .args(["--concurrency", "2", "--not-now-percent", "25"])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(extra)
        .env("ANNAL_LOG", "warn")
        .output()
        .expect("run annal sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "annal sim {extra:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("sim --json: {e}: {stdout}"))
}

/// The report, the log and the inventory of a run: every device enrolled and answered every
/// command, nothing failed, every device message was proven by an Mdm-Signature.
async fn assert_real_devices_served(server: &Server, report: &Value) {
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["devices"], DEVICES as u64);
    assert_eq!(report["acknowledged"], (DEVICES * ROUNDS) as u64, "{report}");
    assert!(
        report["not_now"].as_u64() > Some(0),
        "some commands were answered NotNow first"
    );
    assert!(
        report["reconnects"].as_u64() > Some(0),
        "the devices opened new connections: {report}"
    );

    let store = open(&server.store_url.parse().expect("url")).await.expect("store");
    let events = store.read_all(1, 100_000).await.expect("read");
    let mut proofs = std::collections::BTreeMap::<String, usize>::new();
    for e in &events {
        let data: Value = serde_json::from_slice(&e.data).unwrap_or(Value::Null);
        if let Some(proof) = data["identity"]["proof"].as_str() {
            *proofs.entry(proof.to_owned()).or_default() += 1;
        }
    }
    // Authenticate, TokenUpdate, Idle polls and results all carry the proof they came with.
    assert_eq!(proofs.keys().collect::<Vec<_>>(), ["mdm-signature"], "{proofs:?}");
    assert!(proofs["mdm-signature"] >= DEVICES * (2 + 2 * ROUNDS), "{proofs:?}");

    let client = server.client();
    let key = server.api_key();
    for i in 0..DEVICES {
        let udid = udid_of(i);
        let stream = format!("enrollment-{udid}");
        let of = |t: &str| {
            events
                .iter()
                .filter(|e| e.stream == stream && e.event_type == t)
                .count()
        };
        assert_eq!(
            (of("Authenticate"), of("IdentityBound"), of("TokenUpdate")),
            (1, 1, 1),
            "{udid}"
        );
        assert_eq!(of("CommandQueued"), ROUNDS, "{udid}");
        assert_eq!(of("CommandAcknowledged"), ROUNDS, "{udid}");
        let (status, device) = get(&client, &format!("/v1/devices/{udid}"), &key).await;
        assert_eq!(status, 200, "{device}");
        assert_eq!(device["state"], "enrolled", "{device}");
        assert_eq!(device["pending_commands"], 0, "{device}");
        assert_eq!(device["serial_number"], format!("SIM{i:09}"));
    }
}

/// On a server without the BER and body-dispatch changes: the rest of the real profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_profile_with_der_signatures_and_a_typed_command_channel() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let report = sim(
        &server,
        &[
            "--device-profile",
            "real",
            "--ber-every",
            "0",
            "--omit-content-type=false",
            "--mtls",
        ],
    );
    assert_eq!(report["ber_signatures"], 0);
    assert_real_devices_served(&server, &report).await;
}

/// The real profile with its BER signatures and a typed command channel. Needs the BER change
/// (issue 14 item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_profile_with_ber_signatures() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let report = sim(&server, &["--device-profile", "real", "--omit-content-type=false"]);
    assert!(report["ber_signatures"].as_u64() > Some(0), "{report}");
    assert_real_devices_served(&server, &report).await;
}

/// The real profile with DER signatures and no Content-Type on the command channel. Needs the
/// dispatch-by-body change (issue 14 item 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_profile_with_a_bare_command_channel() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let report = sim(&server, &["--device-profile", "real", "--ber-every", "0"]);
    assert_eq!(report["ber_signatures"], 0);
    assert_real_devices_served(&server, &report).await;
}

/// Everything real devices do, BER signatures and a bare command channel included. Needs the
/// BER (issue 14 item 2) and no-Content-Type dispatch (item 1) changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_real_profile() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let report = sim(&server, &["--device-profile", "real"]);
    assert!(report["ber_signatures"].as_u64() > Some(0), "{report}");
    assert_real_devices_served(&server, &report).await;
}

/// The simulator's BER signatures are CMS that a third-party verifier (OpenSSL) accepts over
/// the body, and refuses over any other body.
#[test]
fn ber_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = Ca::load_or_init(&dir.path().join("ca")).expect("CA");
    let identity = ca
        .issue_device_identity("ber-device", KeyKind::Rsa2048, 1)
        .expect("identity");
    let device = VirtualDevice::new(0, identity);
    let body = device.authenticate("com.apple.mgmt.External.ber");
    let der = device.sign_der(&body).expect("sign");
    let ber = indefinite(&der, CMS_OUTER_LEVELS).expect("BER");
    assert_eq!(&ber[..2], &[0x30, 0x80], "the outer SEQUENCE has an indefinite length");
    let (sig, content, other) = (
        dir.path().join("sig"),
        dir.path().join("body"),
        dir.path().join("other"),
    );
    std::fs::write(&sig, &ber).expect("write");
    std::fs::write(&content, &body).expect("write");
    std::fs::write(&other, [&body[..], b" "].concat()).expect("write");
    let verify = |content: &std::path::Path| {
        Command::new("openssl")
            .args([
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-binary",
                "-noverify",
                "-out",
                "/dev/null",
            ])
            .arg("-in")
            .arg(&sig)
            .arg("-content")
            .arg(content)
            .output()
            .expect("openssl is installed (the SCEP interop tests need it too)")
    };
    let out = verify(&content);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !verify(&other).status.success(),
        "a signature over other bytes verified"
    );
}
