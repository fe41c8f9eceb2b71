//! `annal bench console`: the web console's server time with a large enrolled fleet
//! (src/testkit/bench/console.rs). The server runs in this process, so its logs are this
//! process's: run it with `ANNAL_LOG=warn` to see only the progress bars and the figures.

use std::process::ExitCode;

use annal::testkit::bench::console::{run as run_console, ConsoleConfig, ConsoleReport};
use annal::testkit::bench::scale::default_store;

use super::bench::PhaseBars;

/// The server time each page should stay within.
const TARGET_MS: f64 = 50.0;

#[derive(Debug, clap::Args)]
pub struct ConsoleBenchArgs {
    /// Enrolled devices in the generated log.
    #[arg(long, default_value_t = 100_000)]
    pub devices: u64,
    /// Timed requests per page.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// The event store to fill; it must be empty. Default: a new SQLite log in a new directory
    /// under the data directory, removed afterwards.
    #[arg(long)]
    pub store: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &super::Global, args: ConsoleBenchArgs) -> anyhow::Result<ExitCode> {
    // The server runs in this process and logs every request as `annal serve` does.
    if std::env::var_os("ANNAL_LOG").is_none() && !args.json {
        eprintln!(
            "annal bench console: ANNAL_LOG=warn keeps the in-process server's request logs off the progress bars"
        );
    }
    let dir = global
        .data_dir
        .join(format!("bench-console-{}", uuid::Uuid::now_v7().simple()));
    let config = ConsoleConfig {
        store_url: args.store.clone().unwrap_or_else(|| default_store(&dir)),
        data_dir: dir.clone(),
        devices: args.devices,
        requests: args.requests.max(1),
    };
    let bars = PhaseBars::new(args.json);
    let result = run_console(&config, bars.progress()).await;
    bars.finish();
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &ConsoleReport) {
    println!(
        "{} enrolled devices, {} events: appended in {:.1} s, server ready in {:.1} s",
        r.devices, r.events, r.load_seconds, r.ready_seconds
    );
    println!("| page | requests | bytes | p50 | p99 | max | ≤ {TARGET_MS:.0} ms (p99) |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for p in &r.pages {
        println!(
            "| {} (`{}`) | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            p.page,
            p.path,
            p.requests,
            p.bytes,
            p.p50_ms,
            p.p99_ms,
            p.max_ms,
            if p.p99_ms <= TARGET_MS { "yes" } else { "no" }
        );
    }
}
