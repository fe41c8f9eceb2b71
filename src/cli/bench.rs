//! `annal bench store`.

use std::process::ExitCode;
use std::sync::Arc;

use annal::store::{url_with_new_schema, EventStore, PostgresStore, SqliteStore};
use annal::testkit::bench::store::{appends, read_all, BenchRow};
use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Durable append throughput (1, 8 and 64 writers; single events and batches) and read_all
    /// throughput, each backend on a fresh log.
    Store(StoreBenchArgs),
    /// The device loop (Idle → command → Acknowledged, with some NotNow) with simulated
    /// devices against a fresh `annal serve` process; reports messages/s, latency and the
    /// server's CPU per message.
    Mdm(MdmBenchArgs),
    /// Read-model rebuild speed: a generated fleet log loaded into a fresh store, then read,
    /// folded and written back (target: 300,000 events/s read + fold).
    Projections(super::bench_projections::ProjectionsBenchArgs),
    /// APNs pushes: pushes/s to a local HTTP/2 mock over one connection (target 20,000), and a
    /// command fanned out to 100,000 enrollments through a real server (enqueue + push).
    Push(super::bench_push::PushBenchArgs),
    /// A large enrolled fleet: resident memory per device, cold and warm start-up of a real
    /// server, rebuild speed, the device loop on top, and listing every device.
    Scale(super::bench_scale::ScaleBenchArgs),
    /// The web console's server time at a large enrolled fleet: the device list (first page and
    /// searches) and a device page, p50/p99 over N requests (target ≤ 50 ms each).
    Console(super::bench_console::ConsoleBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct MdmBenchArgs {
    #[command(flatten)]
    target: Targets,
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Commands per device.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Device sessions in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    not_now_percent: u64,
    /// Device identity proof to measure: `mtls` (client certificates), `signature`
    /// (Mdm-Signature on every request), or both.
    #[arg(long, value_delimiter = ',', default_value = "mtls,signature")]
    proofs: Vec<String>,
    /// Also measure latency with requests paced to this many per second.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// How the simulated devices behave on the wire (`real`: as Apple devices; it signs every
    /// request, so the `mtls` proof is measured as `signature`).
    #[command(flatten)]
    wire: super::wire_args::WireArgs,
    /// Enroll as real devices do (enrollment profile from GET /enroll, identity over SCEP,
    /// then Authenticate and TokenUpdate), so the enrollment figure includes SCEP issuance.
    #[arg(long)]
    enroll_via_profile: bool,
    /// Sample the server with `perf record` during the command rounds and print where its CPU
    /// time went (by binary, and the hottest functions).
    #[arg(long)]
    cpu_profile: bool,
    /// The `annal` binary to run as the server (default: this one), e.g. an earlier build to
    /// compare against in the same run: `--server-exe before/annal,target/release/annal`
    /// measures each in turn.
    #[arg(long, value_delimiter = ',')]
    server_exe: Vec<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Which backends a benchmark measures, and where PostgreSQL is.
#[derive(Debug, clap::Args)]
pub struct Targets {
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub backends: Vec<Backend>,
    /// PostgreSQL server; the benchmark makes its own schema there and drops it afterwards.
    #[arg(
        long,
        env = "ANNAL_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub postgres_url: String,
}

#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    #[command(flatten)]
    target: Targets,
    /// Events per single-event scenario.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Events per batched scenario.
    #[arg(long, default_value_t = 200_000)]
    batched_events: u64,
    /// Events per append in the batched scenarios.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Writer counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    writers: Vec<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Serialize)]
struct Result {
    backend: Backend,
    #[serde(flatten)]
    row: BenchRow,
}

pub async fn run(global: &super::Global, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        BenchCommand::Store(args) => args,
        BenchCommand::Mdm(args) => return run_mdm(global, args).await,
        BenchCommand::Projections(args) => return super::bench_projections::run(global, args).await,
        BenchCommand::Push(args) => return super::bench_push::run(global, args).await,
        BenchCommand::Scale(args) => return super::bench_scale::run_scale(global, args).await,
        BenchCommand::Console(args) => return super::bench_console::run(global, args).await,
    };
    let bars = MultiProgress::new();
    if args.json {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut results = Vec::new();
    for backend in &args.target.backends {
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        let (store, cleanup): (Arc<dyn EventStore>, Cleanup) = match backend {
            Backend::Sqlite => {
                let dir = global.data_dir.join(format!("bench-{run_id}"));
                let store = SqliteStore::open(dir.join("bench.db"))?;
                (Arc::new(store), Cleanup::Dir(dir))
            }
            Backend::Postgres => {
                let schema = format!("annal_bench_{run_id}");
                let url = url_with_new_schema(&args.target.postgres_url, &schema)
                    .await
                    .with_context(|| "connecting to PostgreSQL (set --postgres-url)".to_string())?;
                (Arc::new(PostgresStore::connect(&url).await?), Cleanup::Schema(schema))
            }
        };
        for &writers in &args.writers {
            for (batch, events) in [(1, args.events), (args.batch, args.batched_events)] {
                let bar = bar(&bars, events, &format!("{backend:?} {writers} writers, batch {batch}"));
                let progress = {
                    let bar = bar.clone();
                    Arc::new(move |n| bar.set_position(n))
                };
                let row = appends(store.clone(), writers, events, batch, progress).await?;
                bar.finish_and_clear();
                results.push(Result { backend: *backend, row });
            }
        }
        let total = store.head().await?.position;
        let bar = bar(&bars, total, &format!("{backend:?} read_all"));
        let progress = {
            let bar = bar.clone();
            Arc::new(move |n| bar.set_position(n))
        };
        results.push(Result {
            backend: *backend,
            row: read_all(store.clone(), 1000, progress).await?,
        });
        bar.finish_and_clear();
        drop(store);
        cleanup.run(&args.target.postgres_url).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("| backend | scenario | writers | events | seconds | events/s |");
        println!("|---|---|---:|---:|---:|---:|");
        for r in &results {
            println!(
                "| {:?} | {} | {} | {} | {:.2} | {:.0} |",
                r.backend, r.row.scenario, r.row.writers, r.row.events, r.row.seconds, r.row.events_per_sec
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bar(bars: &MultiProgress, len: u64, label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg:32} {bar:30} {pos}/{len} ({per_sec})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bars.add(ProgressBar::new(len).with_style(style).with_message(label.to_string()))
}

/// One bar per phase of a long benchmark (`bench scale`, `bench console`): a new phase ends the
/// bars before it. Hidden for `--json`.
pub struct PhaseBars {
    bars: MultiProgress,
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>>,
}

impl PhaseBars {
    pub fn new(hidden: bool) -> Self {
        let bars = MultiProgress::new();
        if hidden {
            bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        Self {
            bars,
            open: Arc::default(),
        }
    }

    /// The callback a harness reports `(phase, done, total)` to.
    pub fn progress(&self) -> annal::testkit::bench::scale::Progress {
        let (bars, open) = (self.bars.clone(), self.open.clone());
        Arc::new(move |phase: &str, done: u64, total: u64| {
            let Ok(mut open) = open.lock() else { return };
            if !open.contains_key(phase) {
                for (_, b) in open.drain() {
                    b.finish_and_clear();
                }
                open.insert(phase.to_string(), bar(&bars, total, phase));
            }
            if let Some(b) = open.get(phase) {
                b.set_length(total);
                b.set_position(done);
            }
        })
    }

    /// Clears whatever bar is still open.
    pub fn finish(&self) {
        if let Ok(mut open) = self.open.lock() {
            for (_, b) in open.drain() {
                b.finish_and_clear();
            }
        }
    }
}

pub enum Cleanup {
    Dir(std::path::PathBuf),
    Schema(String),
}

impl Cleanup {
    pub async fn run(self, postgres_url: &str) {
        let outcome = match &self {
            Cleanup::Dir(dir) => std::fs::remove_dir_all(dir).map_err(|e| e.to_string()),
            Cleanup::Schema(schema) => annal::store::drop_schema(postgres_url, schema)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not clean up the benchmark's store");
        }
    }
}

async fn run_mdm(global: &super::Global, args: MdmBenchArgs) -> anyhow::Result<ExitCode> {
    let exes = if args.server_exe.is_empty() {
        vec![std::env::current_exe()?]
    } else {
        args.server_exe.clone()
    };
    let mut results = Vec::new();
    let mut rates: Vec<Option<f64>> = vec![None];
    rates.extend(args.rates.iter().map(|r| Some(*r)));
    let mut runs = Vec::new();
    let wire = args.wire.profile();
    // A profile that signs every request has one proof: listing both would measure it twice.
    let mut proofs = args.proofs.clone();
    if wire.signs_every_request() {
        proofs.retain(|p| p != "mtls");
        if proofs.is_empty() {
            proofs.push("signature".into());
        }
    }
    for backend in &args.target.backends {
        for proof in &proofs {
            for rate in &rates {
                // Each binary in turn for the same case, so a drift of the machine's speed
                // during the run touches them alike.
                runs.extend(exes.iter().map(|exe| (backend, proof, *rate, exe)));
            }
        }
    }
    for (backend, proof, rate, exe) in runs {
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        let dir = global.data_dir.join(format!("bench-mdm-{run_id}"));
        let (store_url, cleanup) = match backend {
            Backend::Sqlite => (
                format!("sqlite:{}", dir.join("annal.db").display()),
                Cleanup::Dir(dir.clone()),
            ),
            Backend::Postgres => {
                let schema = format!("annal_bench_{run_id}");
                (
                    url_with_new_schema(&args.target.postgres_url, &schema).await?,
                    Cleanup::Schema(schema),
                )
            }
        };
        let config = annal::testkit::sim::SimConfig {
            server: String::new(),
            devices: args.devices,
            concurrency: args.concurrency,
            rounds: args.rounds,
            not_now_percent: args.not_now_percent,
            api_key: String::new(),
            topic: "com.apple.mgmt.External.annal-bench".into(),
            mtls: proof == "mtls",
            rate,
            enrollment: if args.enroll_via_profile {
                annal::testkit::sim::Enrollment::Profile { token: None }
            } else {
                annal::testkit::sim::Enrollment::Direct
            },
            wire: wire.clone(),
        };
        if !args.json {
            eprintln!(
                "{backend:?} ({proof}): {} devices x {} commands…",
                args.devices, args.rounds
            );
        }
        let proof = if wire == annal::testkit::sim::WireProfile::default() {
            proof.clone()
        } else {
            format!("{proof}, {:?} devices", args.wire.device_profile).to_lowercase()
        };
        let mut label = match rate {
            None => format!("{backend:?} ({proof}), saturated"),
            Some(r) => format!("{backend:?} ({proof}), paced at {r:.0}/s"),
        };
        if exes.len() > 1 {
            label = format!("{}: {label}", exe.display());
        }
        let measure = annal::testkit::bench::mdm::Measure {
            cpu_profile: args.cpu_profile,
        };
        let result = annal::testkit::bench::mdm::run_mdm(exe, &dir, &store_url, &label, config, measure).await;
        cleanup.run(&args.target.postgres_url).await;
        // The data directory (CA, keys) exists for PostgreSQL runs too.
        let _ = std::fs::remove_dir_all(&dir);
        results.push(result?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_mdm_table(&results);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_mdm_table(results: &[annal::testkit::bench::mdm::MdmBenchResult]) {
    println!("| backend | devices | messages | messages/s | p50 ms | p99 ms | server CPU ms/msg | server CPU ms/msg, loop only | server syscalls/msg, loop only | server syscalls/msg | enrollment server CPU ms/device | PostgreSQL CPU ms/msg | simulator CPU ms/msg | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let count = |n: Option<f64>| n.map_or("not counted (no perf)".to_string(), |n| format!("{n:.1}"));
    for r in results {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.3} | {:.3} | {} | {} | {:.3} | {:.3} | {:.3} | {} |",
            r.backend,
            r.sim.devices,
            r.sim.messages,
            r.sim.messages_per_sec,
            r.sim.p50_ms,
            r.sim.p99_ms,
            r.server_cpu_ms_per_message,
            r.server_loop_cpu_ms_per_message,
            count(r.server_loop_syscalls_per_message),
            count(r.server_syscalls_per_message),
            r.server_enroll_cpu_ms_per_device,
            r.database_cpu_ms_per_message,
            r.simulator_cpu_ms_per_message,
            r.sim.errors
        );
    }
    for r in results {
        let Some(profile) = &r.cpu_profile else { continue };
        println!("\nCPU profile of the server, command rounds, {}:", r.backend);
        let binaries: Vec<String> = profile
            .by_binary
            .iter()
            .take(6)
            .map(|s| format!("{} {:.1}%", s.name, s.percent))
            .collect();
        println!("  by binary: {}", binaries.join(", "));
        for f in &profile.top_functions {
            println!("  {:6.2}%  {}", f.percent, f.name);
        }
    }
}
