//! One typed configuration for `annal serve`. The binary builds it from its flags, the ANNAL_*
//! environment and the TOML file (clap and the file live in `cli/`); everything that decides
//! what a value means (defaults derived from other values, which options go together, how a
//! file turns into a key) lives here, so the server and its tests take a plain value.
//!
//! Secrets (the admin API key, the SCEP challenge, URLs that carry a token or password) never
//! appear in `Debug`: see `redact`.

mod defaults;
mod effective;
mod redact;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::domain::enrollment::Reenrollment;
pub use redact::{redact_url, REDACTED};

/// Everything `annal serve` runs with.
#[derive(Clone)]
pub struct ServerConfig {
    /// Directory for the embedded store and keys.
    pub data_dir: PathBuf,
    /// The event store URL (`None`: `sqlite:<data-dir>/annal.db`).
    pub store: Option<String>,
    /// Where the server listens (its port also makes the default enrollment base URL).
    pub listen: SocketAddr,
    /// Plain HTTP for a TLS-terminating proxy in front.
    pub behind_proxy: bool,
    /// The server's certificate chain and key (PEM); `None`: issued by Annal's CA.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Names for the default server certificate.
    pub hostnames: Vec<String>,
    /// Another CA whose certificates are accepted as device identities (PEM).
    pub external_ca: Option<PathBuf>,
    /// A device CA accepted besides Apple's for OTA enrollment phase 2 (PEM bundle).
    pub ota_device_ca: Option<PathBuf>,
    /// The key that seals secrets in events (`None`: `<data-dir>/secrets.key`).
    pub data_key_file: Option<PathBuf>,
    /// The admin API key (`None`: read from, or generated into, `<data-dir>/admin-api-key`).
    pub admin_api_key: Option<String>,
    /// Largest body from a client whose identity verified.
    pub max_body_bytes: usize,
    /// DEVELOPMENT ONLY: device requests without any identity are accepted.
    pub insecure_accept_unsigned_devices: bool,
    pub reenrollment: Reenrollment,
    /// Serve `/migration` and let migrated enrollments be claimed (see `annal serve --help`).
    pub migration: bool,
    /// Seconds between checks of the TLS files for a change (0: only on SIGHUP).
    pub tls_reload_interval_secs: u64,
    /// /readyz answers 503 while the read models trail the log by more than this many events.
    pub ready_max_lag: u64,
    pub webhook: WebhookOptions,
    pub nats: NatsOptions,
    pub push: PushOptions,
    pub enroll: EnrollOptions,
    pub limits: LimitsOptions,
}

/// MicroMDM/NanoMDM-format webhooks from the log.
#[derive(Clone, Default)]
pub struct WebhookOptions {
    /// Often carries its token in the path (Slack, Teams): a secret.
    pub url: Option<String>,
    pub hmac_key_file: Option<PathBuf>,
    pub no_idle: bool,
    pub ca_file: Option<PathBuf>,
    pub backoff_max_secs: u64,
    /// Device secrets (PushMagic, UnlockToken, …) left in `raw_payload`, for a receiver that
    /// needs them; only to an https or loopback URL.
    pub include_secrets: bool,
}

/// The log's events published to NATS JetStream.
#[derive(Clone, Default)]
pub struct NatsOptions {
    /// May carry a user and password: a secret.
    pub url: Option<String>,
    pub stream: String,
    pub subject_prefix: String,
    pub backoff_max_secs: u64,
    pub creds_file: Option<PathBuf>,
    pub source: Option<String>,
}

/// Where pushes go and how the push worker behaves.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// `production`, `sandbox`, or an https:// URL.
    pub apns_url: String,
    pub apns_ca_file: Option<PathBuf>,
    pub concurrency: usize,
    pub repush_interval_secs: u64,
    pub max_attempts: u32,
    pub backoff_max_secs: u64,
    pub suspend_secs: u64,
    pub unreachable_alarm_secs: u64,
    /// Apple's Activation Lock bypass endpoint, or a proxy or mock (https://).
    pub escrow_key_unlock_url: String,
}

/// What enrollment profiles say about this server.
#[derive(Clone, Default)]
pub struct EnrollOptions {
    /// `None`: https://<first hostname>:<listen port>.
    pub base_url: Option<String>,
    pub topic: Option<String>,
    /// The static SCEP challenge itself: a secret.
    pub challenge: Option<String>,
    pub scep_challenge_file: Option<PathBuf>,
    pub organization: String,
}

/// How much an unidentified or slow client can make the server hold.
#[derive(Clone, Debug)]
pub struct LimitsOptions {
    pub max_connections: usize,
    pub header_read_timeout_secs: u64,
    pub body_read_timeout_secs: u64,
    pub min_body_bytes_per_sec: u64,
    pub unidentified_max_body_bytes: usize,
}

/// A value the configuration holds that cannot be used; each message names the option.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Two options that only mean something together, or that exclude each other.
    #[error("{0}")]
    Relation(&'static str),
    #[error(transparent)]
    StoreUrl(#[from] crate::store::StoreError),
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is empty", .0.display())]
    EmptyChallenge(PathBuf),
    #[error("--apns-url must be production, sandbox or an https:// URL, not {0:?}")]
    ApnsUrl(String),
    #[error("--escrow-key-unlock-url must be an https:// URL, not {0:?}")]
    EscrowKeyUnlockUrl(String),
    #[error("reading CA certificates from {}", path.display())]
    ApnsCa {
        path: PathBuf,
        #[source]
        source: crate::pki::PkiError,
    },
    #[error("the webhook HMAC key in {} is shorter than 16 bytes", .0.display())]
    ShortHmacKey(PathBuf),
    #[error("parsing the webhook CA file")]
    WebhookCaPem(#[source] rustls::pki_types::pem::Error),
    #[error("the webhook CA file holds no certificate")]
    WebhookCaEmpty,
    #[error(
        "--webhook-include-secrets sends device secrets (PushMagic, UnlockToken, BootstrapToken) in raw_payload: \
         the webhook URL must be https:// or a loopback address, not {0}"
    )]
    WebhookSecretsInClear(String),
    #[error("reading the permissions of {}", path.display())]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{shown} holds a key or secret but its mode {mode:04o} lets group or others access it; refusing to start. Fix: chmod 600 {shown}", shown = .path.display())]
    NotPrivate { path: PathBuf, mode: u32 },
}

impl ConfigError {
    pub(crate) fn read(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}
