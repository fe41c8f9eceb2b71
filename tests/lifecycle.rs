//! A real `annal serve` reloading its TLS certificate without a restart (SIGHUP, and a change
//! of the files), keeping the old one when the new pair is broken; and SIGTERM during traffic
//! losing no acknowledged write.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annal::store::EventStore;
use common::server::{device, enroll, Server};
use hyper::Method;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;

/// The leaf certificate a new TLS connection to `base` is shown.
async fn served_certificate(base: &str, ca_der: &[u8]) -> Vec<u8> {
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

/// A fresh server certificate from the server's CA: (cert PEM, key PEM).
fn issue(data_dir: &Path) -> (String, String) {
    let ca = annal::pki::Ca::load_or_init(&data_dir.join("ca")).unwrap();
    ca.issue_server_tls(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
        .unwrap()
}

async fn wait_for_certificate(server: &Server, want: &[u8], within: Duration) -> bool {
    let ca = server.ca();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if served_certificate(&server.base, ca.cert_der()).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_a_broken_pair_keeps_the_old_one() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    let first = issue(dir.path());
    std::fs::write(&cert, &first.0).unwrap();
    common::write_private(&key, &first.1);
    let store = format!("sqlite:{}", dir.path().join("annal.db").display());
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start_with(
        dir.path(),
        &store,
        &["--tls-cert", &c, "--tls-key", &k, "--tls-reload-interval-secs", "0"],
    )
    .await;
    let ca = server.ca();
    assert_eq!(served_certificate(&server.base, ca.cert_der()).await, der_of(&first.0));

    let second = issue(dir.path());
    std::fs::write(&cert, &second.0).unwrap();
    std::fs::write(&key, &second.1).unwrap();
    // Without a signal (and with the file check off) nothing changes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_certificate(&server.base, ca.cert_der()).await, der_of(&first.0));
    server.signal("HUP");
    assert!(
        wait_for_certificate(&server, &der_of(&second.0), Duration::from_secs(10)).await,
        "SIGHUP did not load the new certificate"
    );

    // A certificate with another certificate's key, then a file that is no certificate: both
    // refused, the second pair stays in service.
    let third = issue(dir.path());
    std::fs::write(&cert, &third.0).unwrap();
    std::fs::write(&key, &first.1).unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_certificate(&server.base, ca.cert_der()).await, der_of(&second.0));
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_certificate(&server.base, ca.cert_der()).await, der_of(&second.0));
    let client = server.client();
    assert_eq!(client.get("/healthz").await.unwrap().status.as_u16(), 200);

    let key_api = server.api_key();
    let text = common::admin::get_text(&client, "/metrics", &key_api).await.1;
    assert!(
        text.contains("annal_tls_reloads_total{outcome=\"refused\"} 2"),
        "{text}"
    );
    assert!(text.contains("annal_tls_reloads_total{outcome=\"ok\"} 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_certificate_files_are_picked_up_without_a_signal() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = Server::start(&["--tls-reload-interval-secs", "1"]).await;
    // The default certificate, issued by Annal's CA into <data-dir>/tls/, is watched too.
    let next = issue(&server.data_dir);
    let tls = server.data_dir.join("tls");
    std::fs::write(tls.join("server.key"), &next.1).unwrap();
    std::fs::write(tls.join("server.pem"), &next.0).unwrap();
    assert!(
        wait_for_certificate(&server, &der_of(&next.0), Duration::from_secs(10)).await,
        "the changed files were not reloaded"
    );
}

/// Admin writes run at full speed while SIGTERM arrives: every one the server answered 2xx is
/// in the log afterwards, the process exits 0 within the grace period, and the read models
/// were saved up to the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_traffic_loses_no_acknowledged_write() {
    let mut server = Server::start(&[]).await;
    let client = server.client();
    let key = server.api_key();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        // A device per writer: writes to one enrollment are serialized by its stream version.
        let d = device(&server, w);
        enroll(&client, &d).await;
        let (client, key, udid, acknowledged) = (server.client(), key.clone(), d.udid.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let mut refused = 0;
            for n in 0.. {
                let uuid = format!("SIGTERM-{w}-{n}");
                let body =
                    json!({"enrollments": [udid], "command": {"RequestType": "ProfileList"}, "command_uuid": uuid});
                let auth = format!("Bearer {key}");
                let sent = client
                    .send(
                        Method::POST,
                        "/v1/commands",
                        Some("application/json"),
                        &[("Authorization", &auth)],
                        serde_json::to_vec(&body).unwrap(),
                    )
                    .await;
                match sent {
                    // 200: queued for every enrollment named (207 would report some not queued).
                    Ok(a) if a.status.as_u16() == 200 => acknowledged.lock().unwrap().push(uuid),
                    Ok(_) => refused += 1,
                    Err(_) => break,
                }
                if refused > 1000 {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let took = tokio::task::block_in_place(|| server.terminate());
    assert!(took < Duration::from_secs(12), "shutdown took {took:?}");
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 20, "too little traffic: {}", acknowledged.len());
    eprintln!(
        "{} writes acknowledged; SIGTERM to exit took {took:?}",
        acknowledged.len()
    );

    let store = annal::store::SqliteStore::open(server.data_dir.join("annal.db")).unwrap();
    let mut logged = std::collections::HashSet::new();
    let mut from = 1;
    loop {
        let page = store.read_all(from, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        for e in &page {
            let data = String::from_utf8_lossy(&e.data);
            if let Some(start) = data.find("SIGTERM-") {
                let uuid: String = data[start..].chars().take_while(|c| *c != '"').collect();
                logged.insert(uuid);
            }
        }
    }
    let lost: Vec<&String> = acknowledged.iter().filter(|u| !logged.contains(*u)).collect();

    assert!(lost.is_empty(), "acknowledged but not in the log: {lost:?}");
    let head = store.head().await.unwrap().position;

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["projections", "status", "--json", "--store", &server.store_url])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["checkpoint"], head,
        "the read models were saved up to the head: {status}"
    );
}
