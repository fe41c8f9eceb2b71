//! `annal serve --webhook-url …`: MicroMDM/NanoMDM-format webhooks from the log.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    /// Deliver every device message and command result to this URL as a MicroMDM/NanoMDM
    /// webhook (`mdm.Authenticate`, `mdm.TokenUpdate`, `mdm.Connect`, …), in log order, at least
    /// once, resuming from a checkpoint after a restart. Run it on one node per URL.
    #[arg(long, env = "ANNAL_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// File holding the HMAC key: each request then carries `X-Hmac-Signature`, the base64
    /// HMAC-SHA256 of its body (NanoMDM's scheme). A file keeps the key out of the process list.
    #[arg(long, env = "ANNAL_WEBHOOK_HMAC_KEY_FILE", requires = "webhook_url")]
    pub webhook_hmac_key_file: Option<PathBuf>,
    /// Do not send Idle polls (`mdm.Connect` with status Idle).
    #[arg(long, env = "ANNAL_WEBHOOK_NO_IDLE", requires = "webhook_url")]
    pub webhook_no_idle: bool,
    /// PEM CA certificate(s) to trust for an https receiver (default: the system's roots).
    #[arg(long, env = "ANNAL_WEBHOOK_CA_FILE", requires = "webhook_url")]
    pub webhook_ca_file: Option<PathBuf>,
    /// Leave device secrets (PushMagic, UnlockToken, BootstrapToken, …) in `raw_payload`, for a
    /// receiver that needs them (NanoMDM sends them). Refused unless the URL is https:// or a
    /// loopback address; logged at start.
    #[arg(long, env = "ANNAL_WEBHOOK_INCLUDE_SECRETS", requires = "webhook_url")]
    pub webhook_include_secrets: bool,
    /// Longest wait between retries of a failing receiver, in seconds.
    #[arg(long, env = "ANNAL_WEBHOOK_BACKOFF_MAX_SECS", default_value_t = 60)]
    pub webhook_backoff_max_secs: u64,
}

impl WebhookArgs {
    pub fn options(&self) -> annal::config::WebhookOptions {
        annal::config::WebhookOptions {
            url: self.webhook_url.clone(),
            hmac_key_file: self.webhook_hmac_key_file.clone(),
            no_idle: self.webhook_no_idle,
            ca_file: self.webhook_ca_file.clone(),
            backoff_max_secs: self.webhook_backoff_max_secs,
            include_secrets: self.webhook_include_secrets,
        }
    }
}
