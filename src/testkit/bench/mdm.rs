//! `annal bench mdm`: the Idle → command → Acknowledged loop with simulated devices against a
//! real `annal serve` process, reporting messages/s, latency percentiles and the server's CPU
//! time per message (utime+stime of the server process ÷ messages), plus PostgreSQL's CPU when
//! that backend is measured.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu::{cpu_of_processes_named, process_cpu};
use super::profile::{CpuProfile, CpuProfiler};
use super::syscalls::SyscallCounter;
use crate::pki::Ca;
use crate::testkit::sim::{issue_devices_for, Client, Enrollment, Fleet, SimConfig, SimError, SimReport};

#[derive(Debug, Clone, Serialize)]
pub struct MdmBenchResult {
    pub backend: String,
    #[serde(flatten)]
    pub sim: SimReport,
    /// Device messages the server handled during the run, enrollment included.
    pub server_messages: u64,
    pub server_cpu_seconds: f64,
    pub server_cpu_ms_per_message: f64,
    /// Server CPU inside the timed command rounds only, per command-channel message: the
    /// steady-state device loop, without enrollment, TLS handshakes or admin enqueues.
    pub server_loop_cpu_ms_per_message: f64,
    /// PostgreSQL backends' CPU (0 on SQLite).
    pub database_cpu_ms_per_message: f64,
    /// The load generator's own CPU (this process).
    pub simulator_cpu_ms_per_message: f64,
    /// System calls the server made per device message over the whole run (enrollment
    /// included), counted by `perf stat`; absent where perf cannot attach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_syscalls_per_message: Option<f64>,
    /// System calls inside the timed command rounds, per command-channel message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_loop_syscalls_per_message: Option<f64>,
    /// Server CPU per device while the fleet enrolled (with `Enrollment::Profile`: the
    /// profile, SCEP issuance, Authenticate and TokenUpdate).
    pub server_enroll_cpu_ms_per_device: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_enroll_syscalls_per_device: Option<f64>,
    /// Where the server's CPU time went during the command rounds, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_profile: Option<CpuProfile>,
}

/// What to measure beyond the default figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Sample the server with `perf record` during the command rounds.
    pub cpu_profile: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("starting the server: {0}")]
    Spawn(std::io::Error),
    #[error("the server did not become ready in time")]
    NotReady,
    #[error("the server exited: {0}")]
    Exited(std::process::ExitStatus),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct ServerProcess(Child);

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Asks the server to stop (SIGTERM: it finishes requests and saves its read models) and
    /// waits for it.
    pub fn stop(mut self) -> Result<std::process::ExitStatus, BenchError> {
        // The child is ours and still running (`wait` below reaps it once).
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        Ok(self.0.wait()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `config` (its `server` is filled in) against a fresh server on `store_url`.
pub async fn run_mdm(
    exe: &Path,
    data_dir: &Path,
    store_url: &str,
    backend: &str,
    config: SimConfig,
    measure: Measure,
) -> Result<MdmBenchResult, BenchError> {
    // An enrollment profile names the push topic, so the server must know one (the benchmark
    // has no push certificate).
    let topic = ["--topic", config.topic.as_str()];
    let extra: &[&str] = match config.enrollment {
        Enrollment::Profile { .. } => &topic,
        Enrollment::Direct => &[],
    };
    let (server, base) = spawn_server(exe, data_dir, store_url, extra).await?;
    drive(&server, &base, data_dir, backend, config, measure).await
}

/// Runs `config` against the running `server` at `base` (its data directory `data_dir` holds the
/// CA and the admin key): simulated devices enroll over HTTP, then run the device loop.
pub async fn drive(
    server: &ServerProcess,
    base: &str,
    data_dir: &Path,
    backend: &str,
    mut config: SimConfig,
    measure: Measure,
) -> Result<MdmBenchResult, BenchError> {
    config.server = base.to_string();
    config.api_key = admin_key(data_dir)?;
    let ca = Ca::load_or_init(&data_dir.join("ca"))?;
    // Key generation is the simulator's set-up, not load: done before the clocks start (a
    // profile enrollment generates its keys as a device does, inside the enrollment).
    let devices = match config.enrollment {
        Enrollment::Direct => Some(issue_devices_for(config.devices, &ca, &config.wire)?),
        Enrollment::Profile { .. } => None,
    };

    let pid = server.pid();
    let (server_before, db_before) = (process_cpu(pid).unwrap_or_default(), cpu_of_processes_named("postgres"));
    let self_before = process_cpu(std::process::id()).unwrap_or_default();
    let syscalls = SyscallCounter::start(pid);
    let enroll_start = Instant::now();
    let mut fleet = match devices {
        Some(devices) => Fleet::enroll_devices(&config, &ca, devices).await?,
        None => Fleet::enroll(&config, &ca).await?,
    };
    let enroll_window = (enroll_start, Instant::now());
    let enroll_cpu = process_cpu(pid).unwrap_or_default().saturating_sub(server_before);

    let sampler = CpuSampler::start(pid);
    let profiler = measure.cpu_profile.then(|| CpuProfiler::start(pid)).flatten();
    fleet.command_rounds(&config).await?;
    let sim = fleet.report();
    let cpu_profile = profiler.and_then(CpuProfiler::stop);
    let syscalls = syscalls.and_then(SyscallCounter::stop);
    let loop_cpu = sampler.stop().await.within(&sim.windows);
    let server_cpu = process_cpu(pid).unwrap_or_default().saturating_sub(server_before);
    let db_cpu = cpu_of_processes_named("postgres").saturating_sub(db_before);
    let self_cpu = process_cpu(std::process::id())
        .unwrap_or_default()
        .saturating_sub(self_before);
    // Enrollment (Authenticate + TokenUpdate) is device traffic too; the admin enqueues are
    // not counted as messages, so their cost makes the per-message figure conservative.
    let server_messages = sim.messages + 2 * config.devices as u64;
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / server_messages.max(1) as f64;
    let loop_messages = sim.messages.max(1) as f64;
    Ok(MdmBenchResult {
        backend: backend.to_string(),
        server_messages,
        server_cpu_seconds: server_cpu.as_secs_f64(),
        server_cpu_ms_per_message: per(server_cpu),
        server_loop_cpu_ms_per_message: loop_cpu.as_secs_f64() * 1000.0 / loop_messages,
        database_cpu_ms_per_message: per(db_cpu),
        simulator_cpu_ms_per_message: per(self_cpu),
        server_syscalls_per_message: syscalls
            .as_ref()
            .map(|c| c.total() as f64 / server_messages.max(1) as f64),
        server_loop_syscalls_per_message: syscalls.as_ref().map(|c| c.within(&sim.windows) as f64 / loop_messages),
        server_enroll_cpu_ms_per_device: enroll_cpu.as_secs_f64() * 1000.0 / config.devices.max(1) as f64,
        server_enroll_syscalls_per_device: syscalls
            .as_ref()
            .map(|c| c.within(&[enroll_window]) as f64 / config.devices.max(1) as f64),
        cpu_profile,
        sim,
    })
}

/// Starts `annal serve` on a free port and waits until it is ready; returns it and its base URL.
pub async fn spawn_server(
    exe: &Path,
    data_dir: &Path,
    store_url: &str,
    extra: &[&str],
) -> Result<(ServerProcess, String), BenchError> {
    spawn_server_within(exe, data_dir, store_url, extra, Duration::from_secs(30)).await
}

/// As [`spawn_server`], waiting up to `ready_within` for /readyz (a start-up that folds a large
/// log takes a while).
pub async fn spawn_server_within(
    exe: &Path,
    data_dir: &Path,
    store_url: &str,
    extra: &[&str],
    ready_within: Duration,
) -> Result<(ServerProcess, String), BenchError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store", store_url])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("ANNAL_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .map_err(BenchError::Spawn)?;
    let server = ServerProcess(child);
    let base = format!("https://127.0.0.1:{port}");
    wait_ready(data_dir, &base, ready_within).await?;
    Ok((server, base))
}

/// The admin API key the server wrote into its data directory on first start.
pub fn admin_key(data_dir: &Path) -> Result<String, BenchError> {
    Ok(std::fs::read_to_string(data_dir.join("admin-api-key"))?
        .trim()
        .to_string())
}

async fn wait_ready(data_dir: &Path, base: &str, within: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + within;
    let ca_dir = data_dir.join("ca");
    while Instant::now() < deadline {
        // Only load the CA once the server has written it: creating one here would race it.
        let written = ca_dir.join("ca.pem").exists() && ca_dir.join("ca.key").exists();
        if let Some(ca) = written.then(|| Ca::load_or_init(&ca_dir).ok()).flatten() {
            if let Ok(client) = Client::new(base, ca.cert_der()) {
                if client.get("/readyz").await.is_ok_and(|a| a.status.is_success()) {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::NotReady)
}

/// Samples a process's CPU time every few milliseconds, so CPU can be attributed to time windows
/// afterwards (/proc counts in 10 ms ticks; windows here last hundreds of milliseconds).
struct CpuSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Samples>,
}

struct Samples(Vec<(Instant, Duration)>);

impl CpuSampler {
    fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                if let Some(cpu) = process_cpu(pid) {
                    samples.push((Instant::now(), cpu));
                }
                tokio::select! {
                    _ = &mut stopped => return Samples(samples),
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> Samples {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(Samples(Vec::new()))
    }
}

impl Samples {
    /// CPU used between the start and end of each window (nearest samples).
    fn within(&self, windows: &[(Instant, Instant)]) -> Duration {
        let at = |t: Instant| {
            self.0
                .iter()
                .min_by_key(|(s, _)| if *s > t { *s - t } else { t - *s })
                .map(|(_, c)| *c)
        };
        windows
            .iter()
            .filter_map(|(a, b)| Some(at(*b)?.saturating_sub(at(*a)?)))
            .sum()
    }
}
