//! `annal bench scale`: memory per enrolled device, start-up, rebuild and the device loop with a
//! large enrolled fleet (src/bench/scale.rs).

use std::process::ExitCode;
use std::time::Duration;

use annal::testkit::bench::scale::{default_store, run, ScaleConfig, ScaleReport};

use super::bench::PhaseBars;

#[derive(Debug, clap::Args)]
pub struct ScaleBenchArgs {
    /// Enrolled devices in the generated log.
    #[arg(long, default_value_t = 100_000)]
    pub devices: u64,
    /// The event store to fill; it must be empty. Default: a new SQLite log in a new directory
    /// under the data directory, removed afterwards.
    #[arg(long)]
    pub store: Option<String>,
    /// Simulated devices that enroll over HTTP on top of the fleet and run the device loop
    /// (Idle → command → Acknowledged); 0 skips it.
    #[arg(long, default_value_t = 2000)]
    pub loop_devices: usize,
    /// Commands per simulated device.
    #[arg(long, default_value_t = 3)]
    pub loop_rounds: usize,
    #[arg(long, default_value_t = 128)]
    pub loop_concurrency: usize,
    /// The `annal` executable to run as the server (default: this one), e.g. an older build to
    /// compare with.
    #[arg(long)]
    pub server_exe: Option<std::path::PathBuf>,
    /// Declarative Device Management at this scale: every device's log ends with a DDM status
    /// report (so memory per device includes its status), and on the warm server one
    /// declaration set assigned to every device (time until every device has its sync queued).
    #[arg(long)]
    pub ddm: bool,
    /// Longest start-up allowed, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ready_within_secs: u64,
    #[arg(long)]
    pub json: bool,
}

pub async fn run_scale(global: &super::Global, args: ScaleBenchArgs) -> anyhow::Result<ExitCode> {
    let dir = global
        .data_dir
        .join(format!("bench-scale-{}", uuid::Uuid::now_v7().simple()));
    let config = ScaleConfig {
        exe: match &args.server_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe()?,
        },
        store_url: args.store.clone().unwrap_or_else(|| default_store(&dir)),
        data_dir: dir.clone(),
        devices: args.devices,
        loop_devices: args.loop_devices,
        loop_rounds: args.loop_rounds,
        loop_concurrency: args.loop_concurrency,
        ready_within: Duration::from_secs(args.ready_within_secs),
        ddm: args.ddm,
    };
    let bars = PhaseBars::new(args.json);
    let result = run(&config, bars.progress()).await;
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

fn print_table(r: &ScaleReport) {
    let mib = |b: u64| b as f64 / 1_048_576.0;
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| enrolled devices | {} |", r.devices);
    println!("| events in the log | {} |", r.events);
    println!(
        "| appending the log | {:.1} s ({:.0} events/s) |",
        r.load_seconds, r.load_events_per_sec
    );
    println!("| empty server, resident | {:.1} MiB |", mib(r.empty_rss_bytes));
    for (name, s) in [("cold", &r.cold), ("warm", &r.warm)] {
        println!("| {name} start-up (spawn → /readyz 200) | {:.2} s |", s.seconds);
        println!(
            "| {name}: resident, per enrolled device | {:.1} MiB, **{:.0} bytes** |",
            mib(s.rss_bytes),
            s.bytes_per_device
        );
        println!("| {name}: devices listed by the API | {} |", s.listed);
    }
    println!(
        "| rebuild: read + fold | {:.2} s, **{:.0} events/s** |",
        r.rebuild.read_and_fold_seconds, r.rebuild_events_per_sec
    );
    println!(
        "| rebuild: writing {} documents | {:.2} s |",
        r.rebuild.documents, r.rebuild.write_seconds
    );
    println!("| warm listing = cold listing | {} |", r.warm_lists_as_cold);
    println!("| saved documents = rebuilt documents | {} |", r.saved_equals_rebuilt);
    if let Some(d) = &r.ddm_change {
        println!(
            "| DDM: a set assigned to every device → its sync queued on each | {} of {} in {:.2} s, **{:.0} devices/s** |",
            d.queued, r.devices, d.seconds, d.devices_per_sec
        );
    }
    if let Some(l) = &r.device_loop {
        println!(
            "| device loop: {} devices, {} messages | **{:.0} messages/s**, p50 {:.2} ms, p99 {:.2} ms, {} errors |",
            l.sim.devices, l.sim.messages, l.sim.messages_per_sec, l.sim.p50_ms, l.sim.p99_ms, l.sim.errors
        );
        println!(
            "| device loop: server CPU per message (loop only) | {:.3} ms ({:.3} ms) |",
            l.server_cpu_ms_per_message, l.server_loop_cpu_ms_per_message
        );
    }
}
