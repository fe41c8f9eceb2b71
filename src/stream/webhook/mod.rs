//! Webhooks in the MicroMDM / NanoMDM format, delivered from the log by a checkpointed
//! subscription.
//!
//! Every device message Annal records (check-ins, command results and, optionally, Idle polls)
//! is POSTed as JSON to one URL, in log order, signed with `X-Hmac-Signature` when a key is
//! set. Delivery is at-least-once: a receiver that fails (refused connection, timeout, any
//! non-2xx) is retried with capped, jittered exponential backoff, and the events after it wait.
//! The checkpoint (`webhook:<12 hex of sha256(url)>` in the read-model database) is saved in
//! batches, so after a crash the events since the last save are sent again; receivers
//! deduplicate by `event_id`, which is Annal's event id. Secrets never leave: sealed raw
//! payloads are opened and stripped of UnlockToken, PushMagic, BootstrapToken and the like.
//!
//! Run one worker per URL in a deployment: two nodes delivering the same URL both send
//! everything (the checkpoint only keeps the furthest position).

mod deliver;
mod format;
mod sign;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use super::redact::{clear_raw, RedactError, SECRET_KEYS};
pub use super::sink::SinkHandle as WebhookHandle;
pub use crate::backoff::Backoff;
pub use deliver::{ConfigError, Timeouts};
pub use format::{format, route, FormatError, FormatOptions, Route, Webhook, CONNECT_TOPIC};
pub use sign::{Signer, SIGNATURE_HEADER};

use crate::readmodel::ReadModelDb;
use crate::secrets::DataKey;
use crate::store::EventStore;
use crate::stream::sink::{self, Checkpointing};

#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://` or `https://`.
    pub url: String,
    /// Signs each body (`X-Hmac-Signature`: base64 HMAC-SHA256) when set.
    pub hmac_key: Option<Vec<u8>>,
    /// Send `Status: Idle` polls as `mdm.Connect` events.
    pub include_idle: bool,
    /// Leave device secrets in `raw_payload` (opt-in; checked to go only over https or to a
    /// loopback receiver).
    pub include_secrets: bool,
    pub timeouts: Timeouts,
    pub backoff: Backoff,
    /// DER certificates to trust for an https receiver instead of the system roots (a receiver
    /// behind a private CA). Empty: system roots.
    pub ca_certs_der: Vec<Vec<u8>>,
    /// Save the checkpoint after this many handled events…
    pub checkpoint_every: u64,
    /// …or after this long, whichever comes first.
    pub checkpoint_interval: Duration,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            hmac_key: None,
            include_idle: true,
            include_secrets: false,
            timeouts: Timeouts::default(),
            backoff: Backoff::default(),
            ca_certs_der: Vec::new(),
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

// The URL may carry a token and the key is a secret: neither is printed.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("checkpoint", &checkpoint_name(&self.url))
            .field("hmac_key", &self.hmac_key.as_ref().map(|_| "<set>"))
            .field("include_idle", &self.include_idle)
            .field("include_secrets", &self.include_secrets)
            .field("timeouts", &self.timeouts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// The checkpoint a webhook URL keeps its position under: one per URL, so changing the URL
/// starts a new receiver from the beginning of the log.
pub fn checkpoint_name(url: &str) -> String {
    format!("webhook:{}", &hex::encode(Sha256::digest(url.as_bytes()))[..12])
}

/// Starts delivering `config.url` from its checkpoint (the beginning of the log the first time).
pub fn spawn(
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    data_key: Arc<DataKey>,
    config: WebhookConfig,
) -> Result<WebhookHandle, ConfigError> {
    let signer = config.hmac_key.as_deref().map(Signer::new);
    if config.include_secrets {
        // Only the host: the URL's path may be its token.
        tracing::warn!(
            receiver = %crate::urls::scheme_and_host(&config.url),
            "webhooks carry device secrets (PushMagic, UnlockToken, BootstrapToken) in raw_payload (--webhook-include-secrets)"
        );
    }
    let deliverer = deliver::Deliverer::new(&config.url, signer, config.timeouts, &config.ca_certs_der)?;
    let sink = worker::WebhookSink {
        data_key,
        deliverer,
        options: FormatOptions {
            include_idle: config.include_idle,
            include_secrets: config.include_secrets,
        },
        backoff: config.backoff,
    };
    let checkpointing = Checkpointing {
        name: checkpoint_name(&config.url),
        every: config.checkpoint_every,
        interval: config.checkpoint_interval,
        backoff: config.backoff,
    };
    Ok(sink::spawn(store, readmodels, sink, checkpointing))
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoint_names_are_short_stable_and_per_url() {
        let a = super::checkpoint_name("https://hooks.example.com/mdm");
        assert_eq!(a.len(), "webhook:".len() + 12);
        assert!(a.starts_with("webhook:") && a[8..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, super::checkpoint_name("https://hooks.example.com/mdm"));
        assert_ne!(a, super::checkpoint_name("https://hooks.example.com/mdm2"));
        let config = super::WebhookConfig {
            hmac_key: Some(b"k3y-secret".to_vec()),
            ..super::WebhookConfig::new("https://h/?token=t0ken")
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("k3y-secret") && !shown.contains("t0ken"));
    }
}
