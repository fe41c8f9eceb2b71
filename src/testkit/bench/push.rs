//! `annal bench push`: MDM pushes per second from the APNs client to the local mock over one
//! HTTP/2 connection, and the time to fan one command out to many enrollments through the admin
//! API of a real `annal serve`, until every device has been pushed and every push recorded.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_projections::synthetic::FakeDevice;
use annal_schemas::NewEvent;
use futures::StreamExt;
use serde::Serialize;

use super::mdm::{spawn_server, BenchError};
use crate::push::{ApnsClient, ApnsConfig, PushCertificate};
use crate::secrets::DataKey;
use crate::store::{EventStore, ExpectedVersion, SqliteStore};
use crate::testkit::apns_mock::MockApns;
use crate::testkit::sim::Client;

pub const TOPIC: &str = "com.apple.mgmt.External.bench";

#[derive(Debug, Clone, Serialize)]
pub struct ClientBenchResult {
    pub pushes: u64,
    pub concurrency: usize,
    pub seconds: f64,
    pub pushes_per_second: f64,
    /// TLS connections the mock accepted (1: every push multiplexed on one connection).
    pub connections: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FanOutResult {
    pub enrollments: usize,
    /// POST /v1/commands calls (the API takes up to 10,000 enrollments per call).
    pub api_calls: usize,
    /// Until every enqueue was answered (the commands are durable).
    pub enqueue_seconds: f64,
    /// Until the mock had received a push for every enrollment.
    pub pushed_seconds: f64,
    /// Until every push's attempt and answer were in the log.
    pub recorded_seconds: f64,
    pub pushes_per_second: f64,
}

/// A push certificate like Apple's (RSA 2048, the topic in the subject's UID), self-signed.
pub fn bench_certificate() -> Result<PushCertificate, BenchError> {
    let err = |e: String| BenchError::Io(std::io::Error::other(e));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| err(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        TOPIC,
    );
    params.distinguished_name.push(rcgen::DnType::CommonName, "APSP:bench");
    let cert = params.self_signed(&key).map_err(|e| err(e.to_string()))?;
    PushCertificate::from_pem(&cert.pem(), &key.serialize_pem()).map_err(|e| err(e.to_string()))
}

/// `pushes` pushes through one client with `concurrency` in flight.
pub async fn client_throughput(dir: &Path, pushes: u64, concurrency: usize) -> Result<ClientBenchResult, BenchError> {
    let mock = MockApns::start(dir, false).await?;
    let cert = bench_certificate()?;
    let mut config = ApnsConfig::new(mock.base_url());
    config.extra_roots = vec![mock.ca_der.clone()];
    config.only_extra_roots = true;
    config.concurrency = concurrency;
    let client = Arc::new(ApnsClient::new(&cert, &config).map_err(|e| BenchError::Io(std::io::Error::other(e)))?);
    // The TLS handshake happens once, outside the timed run.
    let _ = client.push("00", "warm-up").await;
    let started = Instant::now();
    // As many pushes in flight as the client allows, no more: latency is then the request's own
    // time on the connection, not time spent waiting for a permit.
    let mut latencies: Vec<Duration> = futures::stream::iter(0..pushes)
        .map(|i| {
            let client = client.clone();
            async move {
                let sent = Instant::now();
                let ok = client
                    .push(&format!("{i:064x}"), "8a6c0b0e-5f3c-4c1e-9a56-7b7e0f7c9d11")
                    .await
                    .is_ok_and(|a| a.status == 200);
                ok.then(|| sent.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|d| async move { d })
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(ClientBenchResult {
        pushes: latencies.len() as u64,
        concurrency,
        seconds,
        pushes_per_second: latencies.len() as f64 / seconds,
        connections: mock.connections(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

/// Enrolled devices written straight into a new store (Authenticate + TokenUpdate each, the
/// PushMagic sealed with the data key the server will use).
async fn enroll_fleet(
    data_dir: &Path,
    enrollments: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<String>, BenchError> {
    let key =
        DataKey::load_or_init(&data_dir.join("secrets.key")).map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(data_dir.join("annal.db")).map_err(|e| BenchError::Io(std::io::Error::other(e)))?);
    let mut ids = Vec::with_capacity(enrollments);
    for chunk in (0..enrollments as u64).collect::<Vec<_>>().chunks(1000) {
        let appends = chunk.iter().map(|n| {
            let device = FakeDevice::new(*n);
            let mut authenticate = device.authenticate(1);
            authenticate.topic = TOPIC.to_owned();
            let mut token = device.token_update();
            token.topic = TOPIC.to_owned();
            token.token_hex = format!("{n:064x}");
            let magic = key.seal(format!("magic-{n}").as_bytes());
            let store = store.clone();
            let stream = crate::domain::enrollment::stream_name(&device.key());
            async move {
                token.push_magic = magic.map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
                let events = vec![NewEvent::new("bench", &authenticate), NewEvent::new("bench", &token)];
                store
                    .append(&stream, ExpectedVersion::NoStream, events)
                    .await
                    .map_err(|e| BenchError::Io(std::io::Error::other(e)))
            }
        });
        for r in futures::future::join_all(appends).await {
            r?;
        }
        ids.extend(chunk.iter().map(|n| FakeDevice::new(*n).key()));
        progress(ids.len() as u64);
    }
    let cert = bench_certificate()?;
    crate::push::installed::install(store.as_ref(), &key, &cert, &Default::default(), false, "bench")
        .await
        .map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
    Ok(ids)
}

/// One DeviceInformation command to `enrollments` devices through a real server, pushed to the mock.
pub async fn fan_out(
    exe: &Path,
    data_dir: &Path,
    enrollments: usize,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<FanOutResult, BenchError> {
    let mock = MockApns::start(&data_dir.join("mock-ca"), false).await?;
    let ca_file = data_dir.join("mock-ca.pem");
    std::fs::write(&ca_file, &mock.ca_pem)?;
    let ids = enroll_fleet(data_dir, enrollments, &|n| progress("enrolling", n)).await?;
    let store_url = format!("sqlite:{}", data_dir.join("annal.db").display());
    let extra = [
        "--apns-url",
        &mock.base_url(),
        "--apns-ca-file",
        ca_file.to_str().unwrap_or_default(),
    ];
    let (server, base) = spawn_server(exe, data_dir, &store_url, &extra).await?;
    let ca = crate::pki::Ca::load_or_init(&data_dir.join("ca"))?;
    let client = Client::new(&base, ca.cert_der()).map_err(crate::testkit::sim::SimError::from)?;
    let auth = format!(
        "Bearer {}",
        std::fs::read_to_string(data_dir.join("admin-api-key"))?.trim()
    );
    // A second handle on the server's SQLite file, to watch the log grow.
    let store = SqliteStore::open(data_dir.join("annal.db")).map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
    // Wait for the server to load the certificate from the log (it re-reads every 5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .send(
                hyper::Method::GET,
                "/v1/push-certificate",
                None,
                &[("Authorization", &auth)],
                Vec::new(),
            )
            .await
            .map_err(crate::testkit::sim::SimError::from)?;
        if String::from_utf8_lossy(&status.body).contains("\"installed\":true") {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::NotReady);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = head(&store).await;
    let started = Instant::now();
    let chunks: Vec<&[String]> = ids.chunks(10_000).collect();
    for chunk in &chunks {
        let body = serde_json::json!({
            "enrollments": chunk,
            "command": {"RequestType": "DeviceInformation", "Queries": ["UDID", "OSVersion"]},
        });
        let answer = client
            .send(
                hyper::Method::POST,
                "/v1/commands",
                Some("application/json"),
                &[("Authorization", &auth)],
                serde_json::to_vec(&body).unwrap_or_default(),
            )
            .await
            .map_err(crate::testkit::sim::SimError::from)?;
        if !answer.status.is_success() {
            return Err(BenchError::Io(std::io::Error::other(format!(
                "enqueue answered {}",
                answer.status
            ))));
        }
    }
    let enqueue_seconds = started.elapsed().as_secs_f64();
    let target = enrollments as u64;
    while mock.count() < target {
        progress("pushing", mock.count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pushed_seconds = started.elapsed().as_secs_f64();
    // Each enrollment: CommandQueued, then PushAttempted + PushAccepted.
    let want = before + 3 * target;
    while head(&store).await < want {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recorded_seconds = started.elapsed().as_secs_f64();
    drop(server);
    Ok(FanOutResult {
        enrollments,
        api_calls: chunks.len(),
        enqueue_seconds,
        pushed_seconds,
        recorded_seconds,
        pushes_per_second: target as f64 / pushed_seconds,
    })
}

async fn head(store: &SqliteStore) -> u64 {
    store.head().await.map(|h| h.position).unwrap_or(0)
}
