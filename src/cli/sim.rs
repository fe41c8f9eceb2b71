//! `annal sim`: simulated devices against a running server.

use std::process::ExitCode;
use std::time::Duration;

use annal::pki::Ca;
use annal::testkit::sim::{Client, Enrollment, Fleet, SimConfig};
use anyhow::Context;
use hyper::Method;

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The server's base URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub server: String,
    /// Virtual devices to enroll.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Commands queued per device (one per round: DeviceInformation, SecurityInfo,
    /// ProfileList, CertificateList, InstalledApplicationList, in turn).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Device sessions in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Percent of commands answered NotNow once before they are acknowledged.
    #[arg(long, default_value_t = 10)]
    pub not_now_percent: u64,
    /// The admin API key (default: <data-dir>/admin-api-key, as `serve` writes it).
    #[arg(long, env = "ANNAL_ADMIN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The push topic devices report. Default: the server's installed push certificate's topic
    /// (a server with one refuses any other), else com.apple.mgmt.External.annal-sim. With
    /// --enroll-via-profile the profile's topic is used.
    #[arg(long)]
    pub topic: Option<String>,
    /// Enroll as real devices do: fetch the enrollment profile from GET /enroll, check its
    /// signature and Apple's schema, get each identity over SCEP with the profile's challenge
    /// (subject CN = the device's UDID), then check in at the profile's MDM URLs with its
    /// topic. The server needs a push topic (a push certificate installed, or `serve
    /// --topic`). Default: identities issued from <data-dir>/ca directly (for benchmarks).
    #[arg(long)]
    pub enroll_via_profile: bool,
    /// The enrollment token for GET /enroll (`annal api-key create --role enrollment`, or
    /// POST /v1/enrollment-tokens). Default: one created with the admin key for this run and
    /// revoked after enrollment.
    #[arg(
        long,
        env = "ANNAL_ENROLLMENT_TOKEN",
        hide_env_values = true,
        requires = "enroll_via_profile"
    )]
    pub enrollment_token: Option<String>,
    /// Prove identity with TLS client certificates (one connection per device) instead of
    /// Mdm-Signature on every request. Ignored with a profile that signs every request
    /// (`--device-profile real`, `--ber-every`).
    #[arg(long)]
    pub mtls: bool,
    #[command(flatten)]
    pub wire: super::wire_args::WireArgs,
    /// Pace device requests to this many per second (default: as fast as answered).
    #[arg(long)]
    pub rate: Option<f64>,
    /// After the rounds, keep the devices reachable this many seconds: each polls (Idle) every
    /// --poll-secs and answers what the server queued meanwhile, e.g. the DeclarativeManagement
    /// commands that make it sync its declarations and report their status.
    #[arg(long, default_value_t = 0)]
    pub listen_secs: u64,
    /// How often a listening device polls (no push reaches a simulated device).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

const DEFAULT_TOPIC: &str = "com.apple.mgmt.External.annal-sim";

/// The topic of the server's installed push certificate, if it has one.
async fn server_topic(server: &str, ca: &Ca, api_key: &str) -> Option<String> {
    let client = Client::new(server, ca.cert_der()).ok()?;
    let auth = format!("Bearer {api_key}");
    let answer = client
        .send(
            Method::GET,
            "/v1/push-certificate",
            None,
            &[("Authorization", &auth)],
            Vec::new(),
        )
        .await
        .ok()?;
    let status: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    status["topic"].as_str().map(str::to_owned)
}

pub async fn run_sim(global: &super::Global, args: SimArgs) -> anyhow::Result<ExitCode> {
    // The simulator trusts the server's CA in the same data directory, and on the direct path
    // issues its device identities from it.
    let ca = Ca::load_or_init(&global.data_dir.join("ca")).context("loading Annal's CA")?;
    let api_key = match args.api_key {
        Some(k) => k,
        None => std::fs::read_to_string(global.data_dir.join("admin-api-key"))
            .context("reading <data-dir>/admin-api-key (start `annal serve` first, or pass --api-key)")?
            .trim()
            .to_string(),
    };
    let topic = match args.topic {
        Some(t) => t,
        None => server_topic(&args.server, &ca, &api_key)
            .await
            .unwrap_or_else(|| DEFAULT_TOPIC.to_owned()),
    };
    let config = SimConfig {
        server: args.server,
        devices: args.devices,
        concurrency: args.concurrency,
        rounds: args.rounds,
        not_now_percent: args.not_now_percent,
        api_key,
        topic,
        mtls: args.mtls,
        rate: args.rate,
        wire: args.wire.profile(),
        enrollment: if args.enroll_via_profile {
            Enrollment::Profile {
                token: args.enrollment_token,
            }
        } else {
            Enrollment::Direct
        },
    };
    let mut fleet = Fleet::enroll(&config, &ca).await?;
    fleet.command_rounds(&config).await?;
    if args.listen_secs > 0 {
        fleet.listen(Duration::from_secs(args.poll_secs));
        tokio::time::sleep(Duration::from_secs(args.listen_secs)).await;
        fleet.stop().await;
    }
    let report = fleet.report();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} devices enrolled in {:.2} s; {} messages in {:.2} s: {:.0} messages/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} acknowledged, {} NotNow, {} errors; {} BER signatures, {} reconnects; {} DDM syncs, {} declarations fetched, {} status reports",
            report.devices, report.enroll_seconds, report.messages, report.seconds, report.messages_per_sec, report.p50_ms, report.p90_ms,
            report.p99_ms, report.max_ms, report.acknowledged, report.not_now, report.errors, report.ber_signatures, report.reconnects,
            report.ddm_syncs, report.declarations_fetched, report.status_reports
        );
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
