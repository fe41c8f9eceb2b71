//! `annal serve`: its options, and the call into `annal::server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use annal::config::{Reenrollment, ServerConfig};
use annal::http::DEFAULT_MAX_BODY;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReenrollmentArg {
    Guarded,
    Allow,
}

impl ReenrollmentArg {
    fn policy(self) -> Reenrollment {
        match self {
            Self::Guarded => Reenrollment::Guarded,
            Self::Allow => Reenrollment::Allow,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANNAL_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Serve plain HTTP, for a TLS-terminating proxy in front. Client certificates end at the
    /// proxy, so devices must then sign their requests (Mdm-Signature).
    #[arg(long, env = "ANNAL_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// Server certificate chain (PEM). Default: issued by Annal's CA into <data-dir>/tls/.
    #[arg(long, env = "ANNAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "ANNAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Names for the default server certificate.
    #[arg(
        long = "hostname",
        env = "ANNAL_HOSTNAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub hostnames: Vec<String>,
    /// Another CA whose certificates are accepted as device identities (PEM).
    #[arg(long, env = "ANNAL_EXTERNAL_CA")]
    pub external_ca: Option<PathBuf>,
    /// A device CA accepted besides Apple iPhone Device CA for the device-signed answer of
    /// over-the-air enrollment (phase 2): PEM, the device CA first, then its chain up to a
    /// self-signed root. For labs and tests with simulated devices; real devices need none.
    #[arg(long, env = "ANNAL_OTA_DEVICE_CA")]
    pub ota_device_ca: Option<PathBuf>,
    /// The key that seals secrets in events; every node of one log needs the same file.
    /// Default: <data-dir>/secrets.key, created on first start.
    #[arg(long, env = "ANNAL_DATA_KEY_FILE")]
    pub data_key_file: Option<PathBuf>,
    /// The admin API key. Default: read from (or generated into) <data-dir>/admin-api-key.
    #[arg(long, env = "ANNAL_ADMIN_API_KEY", hide_env_values = true)]
    pub admin_api_key: Option<String>,
    /// Largest request body accepted, in bytes, from a client whose identity verified (a
    /// device's certificate or Mdm-Signature signer, an API key); see
    /// --unidentified-max-body-bytes for the rest.
    #[arg(long, env = "ANNAL_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body_bytes: usize,
    /// DEVELOPMENT ONLY: accept device requests that carry no identity at all.
    #[arg(long, env = "ANNAL_INSECURE_ACCEPT_UNSIGNED_DEVICES")]
    pub insecure_accept_unsigned_devices: bool,
    /// `guarded`: a device enrolled under one identity re-enrolls under another only after its
    /// enrollment ended (CheckOut, an acknowledged EraseDevice, `annal devices forget`) or with
    /// a SCEP challenge an admin bound to it. `allow`: any Authenticate takes the enrollment
    /// over, as in NanoMDM (anyone with an enrollment token can then take over a device).
    #[arg(long, env = "ANNAL_REENROLLMENT", value_enum, default_value_t = ReenrollmentArg::Guarded)]
    pub reenrollment: ReenrollmentArg,
    /// Serve NanoMDM's /migration: an admin key replays another server's Authenticate and
    /// TokenUpdate messages (micro2nano and the like), enrolling devices without their
    /// certificates; each such enrollment is then claimed by the first certificate from
    /// --external-ca (never Annal's own CA) that speaks for it and belongs to no other
    /// enrollment, recorded as IdentityBound with migration_claim. Logged at start as a risk:
    /// turn it off once the migrated devices have checked in.
    #[arg(long, env = "ANNAL_MIGRATION")]
    pub migration: bool,
    /// How often the TLS certificate and key files are checked for a change and reloaded, in
    /// seconds (0: only on SIGHUP). A pair that does not load is refused and the current one kept.
    #[arg(long, env = "ANNAL_TLS_RELOAD_INTERVAL_SECS", default_value_t = 60)]
    pub tls_reload_interval_secs: u64,
    /// /readyz answers 503 while the read models trail the log by more than this many events.
    #[arg(long, env = "ANNAL_READY_MAX_LAG", default_value_t = 10_000)]
    pub ready_max_lag: u64,
    #[command(flatten)]
    pub webhook: super::webhook_args::WebhookArgs,
    #[command(flatten)]
    pub nats: super::nats_args::NatsArgs,
    #[command(flatten)]
    pub push: super::push_args::PushArgs,
    #[command(flatten)]
    pub enroll: super::enroll_args::EnrollArgs,
    #[command(flatten)]
    pub limits: super::limits_args::LimitsArgs,
}

impl ServeArgs {
    /// The server's configuration: these options with the global ones.
    pub fn config(&self, global: &super::Global) -> ServerConfig {
        ServerConfig {
            data_dir: global.data_dir.clone(),
            store: global.store.clone(),
            listen: self.listen,
            behind_proxy: self.behind_proxy,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            hostnames: self.hostnames.clone(),
            external_ca: self.external_ca.clone(),
            ota_device_ca: self.ota_device_ca.clone(),
            data_key_file: self.data_key_file.clone(),
            admin_api_key: self.admin_api_key.clone(),
            max_body_bytes: self.max_body_bytes,
            insecure_accept_unsigned_devices: self.insecure_accept_unsigned_devices,
            reenrollment: self.reenrollment.policy(),
            migration: self.migration,
            tls_reload_interval_secs: self.tls_reload_interval_secs,
            ready_max_lag: self.ready_max_lag,
            webhook: self.webhook.options(),
            nats: self.nats.options(),
            push: self.push.options(),
            enroll: self.enroll.options(),
            limits: self.limits.options(),
        }
    }
}

pub async fn run(global: &super::Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config(global);
    for name in super::config::validate::unknown_env(&<super::Cli as clap::CommandFactory>::command()) {
        tracing::warn!(%name, "an ANNAL_* environment variable is set that no option reads");
    }
    // Caught from here on, not only once serving: a start-up can take a while (restoring the
    // read models of a large fleet), and a stop asked meanwhile ends it cleanly. Nothing has
    // been acknowledged to anyone yet, so abandoning the start loses nothing.
    let mut stop = Box::pin(shutdown_signal(Signals::install()));
    let server = tokio::select! {
        server = annal::server::build(config) => server?,
        _ = &mut stop => {
            tracing::info!("stopped during start-up");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let listener = annal::server::bind(server.config()).await?;
    server.serve(listener, stop).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT and SIGTERM, registered when installed (not when first awaited).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

async fn shutdown_signal(signals: Signals) {
    #[cfg(unix)]
    {
        let Signals { interrupt, terminate } = signals;
        // A signal that could not be registered never fires (its default action stays).
        let next = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = next(interrupt) => {},
            _ = next(terminate) => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = signals;
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// A server built in process starts from `ServerConfig::new`: the same as no option here.
    #[test]
    fn the_library_defaults_are_the_command_line_defaults() {
        let cli = crate::cli::Cli::try_parse_from(["annal", "--data-dir", "/d", "serve"]).unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            format!("{:?}", args.config(&cli.global)),
            format!("{:?}", annal::config::ServerConfig::new("/d"))
        );
    }
}
