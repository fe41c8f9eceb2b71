//! `annal bench push`: pushes/s from the APNs client to the local mock over one connection, and
//! the time to fan one command out to many enrollments (enqueue + push) through a real server.

use std::process::ExitCode;

use annal::testkit::bench::push::{client_throughput, fan_out};
use indicatif::MultiProgress;

use super::bench::bar;

#[derive(Debug, clap::Args)]
pub struct PushBenchArgs {
    /// Pushes for the client throughput run (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    pub pushes: u64,
    /// Pushes in flight at once on the one HTTP/2 connection.
    #[arg(long, default_value_t = 500)]
    pub concurrency: usize,
    /// Enrollments for the fan-out run (0: skip it). The API takes 10,000 per call.
    #[arg(long, default_value_t = 100_000)]
    pub fan_out: usize,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &super::Global, args: PushBenchArgs) -> anyhow::Result<ExitCode> {
    let bars = MultiProgress::new();
    if args.json {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let dir = global
        .data_dir
        .join(format!("bench-push-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut report = serde_json::Map::new();
    if args.pushes > 0 {
        let spinner = bar(&bars, args.pushes, "pushing to the mock");
        let r = client_throughput(&dir.join("mock"), args.pushes, args.concurrency).await?;
        spinner.finish_and_clear();
        if !args.json {
            println!(
                "client: {} pushes, {} in flight, {:.2} s: {:.0} pushes/s over {} connection(s); p50 {:.1} ms, p99 {:.1} ms",
                r.pushes, r.concurrency, r.seconds, r.pushes_per_second, r.connections, r.p50_ms, r.p99_ms
            );
        }
        report.insert("client".into(), serde_json::to_value(&r)?);
    }
    if args.fan_out > 0 {
        let enrolling = bar(&bars, args.fan_out as u64, "enrolling the fleet");
        let pushing = bar(&bars, args.fan_out as u64, "enqueue + push");
        let progress = |stage: &str, n: u64| match stage {
            "enrolling" => enrolling.set_position(n),
            _ => pushing.set_position(n),
        };
        let exe = std::env::current_exe()?;
        let r = fan_out(&exe, &dir.join("fan-out"), args.fan_out, &progress).await?;
        enrolling.finish_and_clear();
        pushing.finish_and_clear();
        if !args.json {
            println!(
                "fan-out: {} enrollments in {} API calls: enqueued in {:.2} s, all pushed in {:.2} s ({:.0} pushes/s), all recorded in {:.2} s",
                r.enrollments, r.api_calls, r.enqueue_seconds, r.pushed_seconds, r.pushes_per_second, r.recorded_seconds
            );
        }
        report.insert("fan_out".into(), serde_json::to_value(&r)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(ExitCode::SUCCESS)
}
