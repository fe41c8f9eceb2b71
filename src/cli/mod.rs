//! Command-line parsing and one module per subcommand. This is the binary's edge: errors are
//! `anyhow` here and typed everywhere below.

mod actor;
mod api_key;
mod audit;
mod audit_export;
mod bench;
mod bench_console;
mod bench_projections;
mod bench_push;
mod bench_scale;
mod ca;
mod client;
mod commands;
pub mod config;
mod data_key;
mod debug;
mod declarations;
mod devices;
mod enqueue;
mod enqueue_rails;
mod enroll;
mod enroll_args;
mod events;
mod events_export;
mod events_import;
mod groups;
mod history;
mod limits_args;
pub mod logging;
mod migrate;
mod nats_args;
mod progress;
mod projections;
mod push_args;
mod push_cert;
mod query;
pub mod serve;
mod sim;
mod sse;
mod table;
mod tags;
pub mod tls;
mod vendor;
mod webhook_args;
mod wire_args;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use annal::store::{EventStore, StoreUrl};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Annal: an Apple MDM server whose source of truth is an append-only event log.
///
/// Every message a device sends and every command an admin queues is an immutable event;
/// inventory, queues and audit trails are projections of that log.
#[derive(Debug, Parser)]
#[command(name = "annal", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for the embedded store and keys.
    #[arg(long, global = true, env = "ANNAL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The event store: `sqlite:<path>` (default: <data-dir>/annal.db), `postgres://…`, or
    /// `kurrentdb://…` (with the kurrentdb feature).
    #[arg(long, global = true, env = "ANNAL_STORE")]
    pub store: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, env = "ANNAL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: logging::Format,
    /// A TOML configuration file (see ops/annal.example.toml). Precedence: command line, then
    /// ANNAL_* environment variables, then this file, then the built-in defaults.
    #[arg(long, global = true, env = "ANNAL_CONFIG")]
    pub config: Option<PathBuf>,
}

impl Global {
    pub fn store_url(&self) -> anyhow::Result<StoreUrl> {
        match &self.store {
            Some(url) => Ok(url.parse()?),
            None => Ok(StoreUrl::Sqlite(self.data_dir.join("annal.db"))),
        }
    }

    /// Opens the log an earlier `annal serve` made. A SQLite file that does not exist is an
    /// error, not a new empty log: a command pointed at the wrong directory (a backup, an
    /// install, an audit) must not quietly act on nothing.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        let url = self.store_url()?;
        if let StoreUrl::Sqlite(path) = &url {
            anyhow::ensure!(
                path.exists(),
                "no event store at {}: is --data-dir (or --store, --config) right? `annal serve` creates it",
                path.display()
            );
        }
        self.open_or_create_store().await
    }

    /// Opens the log, creating an empty one if there is none (`serve`, `events import`).
    pub async fn open_or_create_store(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        let url = self.store_url()?;
        annal::store::open(&url)
            .await
            .with_context(|| format!("opening the event store {url}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MDM server: device check-in and command endpoints, admin API, health.
    Serve(Box<serve::ServeArgs>),
    /// Annal's certificate authority: create it (and the server's TLS certificate), show it.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Simulated devices: enroll, check in, poll and answer commands against a server.
    Sim(sim::SimArgs),
    /// Admin API keys: create (with a role), list, revoke.
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Read models: rebuild them from the log, or show how far they have caught up.
    #[command(subcommand)]
    Projections(projections::ProjectionsCommand),
    Devices(devices::DevicesArgs),
    History(history::HistoryArgs),
    Enqueue(enqueue::EnqueueArgs),
    Groups(groups::GroupsArgs),
    Declarations(declarations::DeclarationsArgs),
    Commands(commands::CommandsArgs),
    Events(events::EventsArgs),
    Migrate(migrate::MigrateArgs),
    /// The MDM push certificate: inspect one, or install (renew) it for every node.
    #[command(subcommand, name = "push-cert")]
    PushCert(push_cert::PushCertCommand),
    /// Export the command audit trail (admin API); `audit verify|head` are `integrity`'s commands.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check the log's integrity: recompute its hash chain on the store, or print its head.
    #[command(subcommand)]
    Integrity(audit::IntegrityCommand),
    /// Enrollment profiles (.mobileconfig) for this server.
    #[command(subcommand)]
    Enroll(enroll::EnrollCommand),
    /// MDM vendor tools: sign a customer's push-certificate request for Apple's portal.
    #[command(subcommand)]
    Vendor(vendor::VendorCommand),
    /// Measure throughput; results are meant for docs/BENCHMARKS.md.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The configuration file: check it and show the effective configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Tools for tests (crash-safety and multi-process appenders).
    #[command(subcommand, hide = true)]
    Debug(debug::DebugCommand),
}

impl Command {
    /// Whether the process should end, as Unix tools do, when the reader of its output goes
    /// away (SIGPIPE's default). Not the server nor the long-running network clients: with
    /// SIGPIPE's default a vectored write (`writev`, which hyper uses) to a socket the peer has
    /// closed kills the whole process, so one device hanging up mid-answer, or a database
    /// connection closed by a restart, would take `annal serve` down. There a closed socket
    /// is an error on that connection alone.
    pub fn ends_on_broken_pipe(&self) -> bool {
        !matches!(self, Command::Serve(_) | Command::Sim(_) | Command::Bench(_))
    }
}

pub async fn run(parsed: config::Parsed) -> anyhow::Result<ExitCode> {
    let cli = parsed.cli;
    match cli.command {
        Command::Config(cmd) => config::run(&cli.global, cmd, &parsed.matches, parsed.file.as_ref()).await,
        Command::Serve(args) => serve::run(&cli.global, *args).await,
        Command::Ca(cmd) => ca::run(&cli.global, cmd),
        Command::Sim(args) => sim::run_sim(&cli.global, args).await,
        Command::ApiKey(cmd) => api_key::run(&cli.global, cmd).await,
        Command::Projections(cmd) => projections::run(&cli.global, cmd).await,
        Command::Devices(args) => devices::run(&cli.global.data_dir, args).await,
        Command::History(args) => history::run(&cli.global.data_dir, args).await,
        Command::Enqueue(args) => enqueue::run(&cli.global.data_dir, args).await,
        Command::Groups(args) => groups::run(&cli.global.data_dir, args).await,
        Command::Declarations(args) => declarations::run(&cli.global.data_dir, args).await,
        Command::Commands(args) => commands::run(&cli.global.data_dir, args).await,
        Command::Events(args) => events::run(&cli.global, args).await,
        Command::Migrate(args) => migrate::run(&cli.global, args).await,
        Command::Audit(cmd) => audit::run(&cli.global, cmd).await,
        Command::Integrity(cmd) => audit::run_integrity(&cli.global, cmd).await,
        Command::PushCert(cmd) => push_cert::run(&cli.global, cmd).await,
        Command::Enroll(cmd) => enroll::run(&cli.global, cmd).await,
        Command::Vendor(cmd) => vendor::run(cmd),
        Command::Bench(cmd) => bench::run(&cli.global, cmd).await,
        Command::Debug(cmd) => debug::run(&cli.global, cmd).await,
    }
}

#[cfg(test)]
mod broken_pipe_tests {
    use clap::Parser;

    #[test]
    fn the_server_and_the_simulator_outlive_a_closed_socket_printing_commands_do_not() {
        let command = |args: &[&str]| super::Cli::try_parse_from(args).unwrap().command;
        assert!(!command(&["annal", "serve"]).ends_on_broken_pipe());
        assert!(!command(&["annal", "sim"]).ends_on_broken_pipe());
        assert!(command(&["annal", "ca", "show"]).ends_on_broken_pipe());
        assert!(command(&["annal", "events", "export"]).ends_on_broken_pipe());
    }
}
