//! `annal bench scale`: a log of N enrolled devices (annal-projections'
//! `synthetic::enrolled_device`: enrollment, inventory, two answered commands each) appended to a
//! fresh store, then what a large fleet costs a real `annal serve` process:
//! - resident memory per enrolled device (the server's VmRSS after start-up, less an empty
//!   server's, over N);
//! - start-up time, spawn to /readyz 200: cold (no read models: the whole log is folded) and
//!   warm (from the persisted read models and their checkpoint);
//! - projection rebuild speed (events/s), the `annal projections rebuild` code;
//! - the device loop (Idle → command → Acknowledged) with simulated devices that enroll over
//!   HTTP on top of the fleet (`bench mdm`'s machinery).
//!
//! It also checks what a large fleet must not break: every device is listed by the API (all
//! pages), the warm server lists exactly what the cold one did, and the documents the cold
//! server saved equal those a rebuild writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_projections::synthetic::{enrolled_device, enrolled_device_with_status};
use annal_projections::Projections;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::mdm::{admin_key, drive, spawn_server_within, BenchError, MdmBenchResult, ServerProcess};
use super::projections::load;
use crate::pki::Ca;
use crate::readmodel::projector::{persisted_position, rebuild, ProjectorError, RebuildReport};
use crate::readmodel::ReadModelDb;
use crate::store::{EventStore, StoreUrl};
use crate::testkit::sim::{Client, SimConfig};

/// Devices generated and appended per chunk: the log is never held whole.
const CHUNK: u64 = 5_000;

#[derive(Debug, Clone)]
pub struct ScaleConfig {
    /// The `annal` executable to run as the server.
    pub exe: PathBuf,
    /// The server's data directory (CA, keys; the SQLite files when the store is there).
    pub data_dir: PathBuf,
    /// Where the log goes; it must be empty.
    pub store_url: String,
    pub devices: u64,
    /// Simulated devices that enroll over HTTP and run the device loop on the warm server
    /// (0: not measured).
    pub loop_devices: usize,
    pub loop_rounds: usize,
    pub loop_concurrency: usize,
    /// How long a start-up may take before the run fails.
    pub ready_within: Duration,
    /// Each device's log ends with a DDM status report, and the warm server gets one
    /// declaration set assigned to every device (`DdmChange`).
    pub ddm: bool,
}

/// A declaration set assigned to the whole fleet at once.
#[derive(Debug, Clone, Serialize)]
pub struct DdmChange {
    /// The assignment's answer to every device having its `DDM-<token>` sync queued.
    pub seconds: f64,
    pub queued: u64,
    pub devices_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StartUp {
    /// Spawn to the first /readyz 200.
    pub seconds: f64,
    /// VmRSS once ready.
    pub rss_bytes: u64,
    /// (rss − the empty server's rss) ÷ devices.
    pub bytes_per_device: f64,
    /// Devices the API listed, every page read.
    pub listed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub devices: u64,
    pub events: u64,
    pub load_seconds: f64,
    pub load_events_per_sec: f64,
    pub empty_rss_bytes: u64,
    pub cold: StartUp,
    pub warm: StartUp,
    pub rebuild: RebuildReport,
    pub rebuild_events_per_sec: f64,
    /// The warm server listed the same devices, field for field, as the cold one.
    pub warm_lists_as_cold: bool,
    /// The documents the cold server saved at shutdown equal those a rebuild wrote.
    pub saved_equals_rebuilt: bool,
    /// The device loop on the warm server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_loop: Option<MdmBenchResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ddm_change: Option<DdmChange>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(transparent)]
    Server(#[from] BenchError),
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    ReadModel(#[from] crate::readmodel::ReadModelError),
    #[error("{0}")]
    Failed(String),
}

/// Progress of a long phase: `(phase, done, total)`.
pub type Progress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

pub async fn run(config: &ScaleConfig, progress: Progress) -> Result<ScaleReport, ScaleError> {
    let url: StoreUrl = config
        .store_url
        .parse()
        .map_err(|e: crate::store::StoreError| ScaleError::Failed(e.to_string()))?;
    // The first start on the empty log makes the CA, the data key and the admin key, and gives
    // the baseline every per-device figure is measured from.
    progress("empty server", 0, 1);
    let (server, _) = spawn(config).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let empty_rss_bytes = rss(server.pid())?;
    stopped(server)?;

    let store = crate::store::open(&url).await?;
    let load_started = Instant::now();
    append_fleet(store.clone(), config.devices, config.ddm, &progress).await?;
    let load_seconds = load_started.elapsed().as_secs_f64();
    let events = store.head().await?.position;
    drop(store);

    progress("cold start", 0, 1);
    let (cold, cold_listing) = start_and_list(config, empty_rss_bytes, &progress).await?;
    let db = crate::readmodel::open(&url, &config.data_dir).await?;
    let saved = digest(db.as_ref()).await?;

    let store = crate::store::open(&url).await?;
    let rebuild_progress = progress.clone();
    let report = rebuild(store.clone(), db.as_ref(), |n| rebuild_progress("rebuild", n, events)).await?;
    drop((store, db));
    let db = crate::readmodel::open(&url, &config.data_dir).await?;
    let rebuilt = digest(db.as_ref()).await?;
    drop(db);

    progress("warm start", 0, 1);
    let (warm, warm_listing, device_loop, ddm_change) = warm_run(config, empty_rss_bytes, &progress).await?;
    Ok(ScaleReport {
        devices: config.devices,
        events,
        load_seconds,
        load_events_per_sec: events as f64 / load_seconds.max(1e-9),
        empty_rss_bytes,
        cold,
        warm,
        rebuild_events_per_sec: report.events as f64 / report.read_and_fold_seconds.max(1e-9),
        rebuild: report,
        warm_lists_as_cold: warm_listing == cold_listing,
        saved_equals_rebuilt: saved == rebuilt,
        device_loop,
        ddm_change,
    })
}

/// Generates and appends the fleet, `CHUNK` devices at a time, one append per device stream.
pub async fn append_fleet(
    store: Arc<dyn EventStore>,
    devices: u64,
    ddm: bool,
    progress: &Progress,
) -> Result<(), ScaleError> {
    let device = if ddm {
        enrolled_device_with_status
    } else {
        enrolled_device
    };
    for first in (0..devices).step_by(CHUNK as usize) {
        let last = (first + CHUNK).min(devices);
        let streams: Vec<_> = (first..last)
            .map(|n| {
                let events: Vec<_> = device(n).into_iter().map(|e| e.into_new()).collect();
                let stream = events.first().map(|(s, _)| s.clone()).unwrap_or_default();
                (stream, events.into_iter().map(|(_, e)| e).collect())
            })
            .collect();
        load(store.clone(), streams, Arc::new(|_| {})).await?;
        progress("appending the fleet", last, devices);
    }
    Ok(())
}

async fn spawn(config: &ScaleConfig) -> Result<(ServerProcess, String), BenchError> {
    spawn_server_within(
        &config.exe,
        &config.data_dir,
        &config.store_url,
        &[],
        config.ready_within,
    )
    .await
}

fn stopped(server: ServerProcess) -> Result<(), ScaleError> {
    let status = server.stop()?;
    if !status.success() {
        return Err(BenchError::Exited(status).into());
    }
    Ok(())
}

/// Starts the server, measures its start-up and memory, lists every device and stops it (so
/// it saves its read models). Returns the figures and a digest of the listing.
async fn start_and_list(
    config: &ScaleConfig,
    empty: u64,
    progress: &Progress,
) -> Result<(StartUp, [u8; 32]), ScaleError> {
    let (server, base, mut startup) = start(config, empty).await?;
    let (listed, digest) = list_devices(config, &base, progress).await?;
    startup.listed = listed;
    stopped(server)?;
    Ok((startup, digest))
}

async fn warm_run(
    config: &ScaleConfig,
    empty: u64,
    progress: &Progress,
) -> Result<(StartUp, [u8; 32], Option<MdmBenchResult>, Option<DdmChange>), ScaleError> {
    let (server, base, mut startup) = start(config, empty).await?;
    let (listed, digest) = list_devices(config, &base, progress).await?;
    startup.listed = listed;
    let ddm_change = if config.ddm {
        progress("DDM: a set for every device", 0, config.devices);
        Some(ddm_change(config, &base, progress).await?)
    } else {
        None
    };
    let device_loop = if config.loop_devices > 0 {
        progress("device loop", 0, 1);
        let sim = SimConfig {
            server: String::new(),
            devices: config.loop_devices,
            concurrency: config.loop_concurrency,
            rounds: config.loop_rounds,
            not_now_percent: 10,
            api_key: String::new(),
            topic: "com.apple.mgmt.External.annal-bench".into(),
            mtls: true,
            rate: None,
            enrollment: crate::testkit::sim::Enrollment::Direct,
            wire: Default::default(),
        };
        let backend = match config.store_url.split(':').next() {
            Some("sqlite") => "SQLite",
            _ => "PostgreSQL",
        };
        Some(drive(&server, &base, &config.data_dir, backend, sim, Default::default()).await?)
    } else {
        None
    };
    stopped(server)?;
    Ok((startup, digest, device_loop, ddm_change))
}

/// Defines a declaration set (a passcode and a software-update configuration under one
/// activation), assigns it to every enrolled device with an empty filter, and waits until each
/// device has its `DDM-<token>` sync queued: the whole path of a fleet-wide change (catalog,
/// sets, the sync worker, one enrollment append per device), measured from outside.
async fn ddm_change(config: &ScaleConfig, base: &str, progress: &Progress) -> Result<DdmChange, ScaleError> {
    let ca = Ca::load_or_init(&config.data_dir.join("ca")).map_err(BenchError::from)?;
    let client = Client::new(base, ca.cert_der()).map_err(|e| ScaleError::Failed(e.to_string()))?;
    let auth = format!("Bearer {}", admin_key(&config.data_dir)?);
    let call = |method: hyper::Method, path: String, body: Option<serde_json::Value>| {
        let (client, auth) = (&client, &auth);
        async move {
            let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
            let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
            let answer = client
                .send(method, &path, None, &headers, bytes)
                .await
                .map_err(|e| ScaleError::Failed(e.to_string()))?;
            if !answer.status.is_success() {
                return Err(ScaleError::Failed(format!("{path}: {}", answer.status)));
            }
            serde_json::from_slice::<serde_json::Value>(&answer.body).map_err(|e| ScaleError::Failed(e.to_string()))
        }
    };
    for (id, body) in [
        (
            "cfg.passcode",
            serde_json::json!({"Type": "com.apple.configuration.passcode.settings", "Payload": {"MinimumLength": 6}}),
        ),
        (
            "cfg.softwareupdate",
            serde_json::json!({"Type": "com.apple.configuration.softwareupdate.enforcement.specific",
                "Payload": {"TargetOSVersion": "18.2", "TargetLocalDateTime": "2027-01-15T20:00:00"}}),
        ),
        (
            "act.baseline",
            serde_json::json!({"Type": "com.apple.activation.simple",
                "Payload": {"StandardConfigurations": ["cfg.passcode", "cfg.softwareupdate"]}}),
        ),
    ] {
        call(hyper::Method::PUT, format!("/v1/declarations/{id}"), Some(body)).await?;
    }
    let started = Instant::now();
    let assign = serde_json::json!({"filter": {}, "reason": "bench: the whole fleet"});
    call(
        hyper::Method::POST,
        "/v1/declarations/act.baseline/assignments".into(),
        Some(assign),
    )
    .await?;
    // Every device has the same set, so one token and one CommandUUID across the fleet.
    let first = enrolled_device(0)
        .first()
        .and_then(|e| e.stream.strip_prefix("enrollment-").map(str::to_string))
        .unwrap_or_default();
    let view = call(hyper::Method::GET, format!("/v1/devices/{first}/declarations"), None).await?;
    let token = view["declarations_token"].as_str().unwrap_or_default().to_string();
    let deadline = Instant::now() + config.ready_within;
    loop {
        let status = call(hyper::Method::GET, format!("/v1/commands/DDM-{token}"), None)
            .await
            .unwrap_or_default();
        let queued = status["summary"]
            .as_object()
            .map_or(0, |c| c.values().filter_map(|v| v.as_u64()).sum());
        progress("DDM: a set for every device", queued, config.devices);
        if queued >= config.devices {
            let seconds = started.elapsed().as_secs_f64();
            return Ok(DdmChange {
                seconds,
                queued,
                devices_per_sec: queued as f64 / seconds.max(1e-9),
            });
        }
        if Instant::now() > deadline {
            return Err(ScaleError::Failed(format!(
                "{queued} of {} devices had their DDM sync queued in time",
                config.devices
            )));
        }
        // The answer lists every device: asked for now and then, not in a tight loop.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn start(config: &ScaleConfig, empty: u64) -> Result<(ServerProcess, String, StartUp), ScaleError> {
    let started = Instant::now();
    let (server, base) = spawn(config).await?;
    let seconds = started.elapsed().as_secs_f64();
    // Ready means caught up; the last documents of a cold start are still being written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_bytes = rss(server.pid())?;
    let startup = StartUp {
        seconds,
        rss_bytes,
        bytes_per_device: rss_bytes.saturating_sub(empty) as f64 / config.devices.max(1) as f64,
        listed: 0,
    };
    Ok((server, base, startup))
}

/// Reads `GET /v1/devices` page by page; returns how many devices it listed and a digest of
/// every page's devices.
async fn list_devices(config: &ScaleConfig, base: &str, progress: &Progress) -> Result<(u64, [u8; 32]), ScaleError> {
    let ca = Ca::load_or_init(&config.data_dir.join("ca")).map_err(BenchError::from)?;
    let client = Client::new(base, ca.cert_der()).map_err(|e| ScaleError::Failed(e.to_string()))?;
    let auth = format!("Bearer {}", admin_key(&config.data_dir)?);
    let (mut listed, mut hash, mut after) = (0u64, Sha256::new(), None::<String>);
    loop {
        let path = match &after {
            None => "/v1/devices?limit=1000".to_string(),
            Some(a) => format!("/v1/devices?limit=1000&after={a}"),
        };
        let answer = client
            .send(hyper::Method::GET, &path, None, &[("Authorization", &auth)], Vec::new())
            .await
            .map_err(|e| ScaleError::Failed(e.to_string()))?;
        if !answer.status.is_success() {
            return Err(ScaleError::Failed(format!("GET {path}: {}", answer.status)));
        }
        let page: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| ScaleError::Failed(e.to_string()))?;
        let devices = page["devices"].as_array().cloned().unwrap_or_default();
        listed += devices.len() as u64;
        hash.update(serde_json::to_vec(&devices).unwrap_or_default());
        progress("listing devices", listed, config.devices);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return Ok((listed, hash.finalize().into())),
        }
    }
}

/// A digest of every stored document of the current projection versions (settled ones too),
/// with the checkpoint.
async fn digest(db: &dyn ReadModelDb) -> Result<[u8; 32], ScaleError> {
    let mut hash = Sha256::new();
    let checkpoint = persisted_position(db).await?;
    hash.update(checkpoint.unwrap_or(0).to_be_bytes());
    for (model, version) in Projections::models() {
        for (key, doc) in db.load_docs(model, version).await? {
            for part in [model.as_bytes(), &version.to_be_bytes(), key.as_bytes(), &doc] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part);
            }
        }
    }
    Ok(hash.finalize().into())
}

/// VmRSS of process `pid`, bytes.
pub fn rss(pid: u32) -> Result<u64, ScaleError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| ScaleError::Failed(format!("reading /proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| ScaleError::Failed(format!("no VmRSS in /proc/{pid}/status")))
}

/// The store URL for `--store` left out: SQLite in the data directory.
pub fn default_store(data_dir: &Path) -> String {
    format!("sqlite:{}", data_dir.join("annal.db").display())
}
