//! `annal serve --webhook-url …`: MicroMDM/NanoMDM-format webhooks from the log.

use std::path::PathBuf;
use std::time::Duration;

use annal::stream::webhook::WebhookConfig;
use anyhow::Context;

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
    /// Longest wait between retries of a failing receiver, in seconds.
    #[arg(long, env = "ANNAL_WEBHOOK_BACKOFF_MAX_SECS", default_value_t = 60)]
    pub webhook_backoff_max_secs: u64,
}

impl WebhookArgs {
    pub fn config(&self) -> anyhow::Result<Option<WebhookConfig>> {
        let Some(url) = &self.webhook_url else {
            return Ok(None);
        };
        let mut config = WebhookConfig::new(url.clone());
        if let Some(path) = &self.webhook_hmac_key_file {
            let key = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let key = key.trim_ascii().to_vec();
            anyhow::ensure!(
                key.len() >= 16,
                "the webhook HMAC key in {} is shorter than 16 bytes",
                path.display()
            );
            config.hmac_key = Some(key);
        }
        config.include_idle = !self.webhook_no_idle;
        if let Some(path) = &self.webhook_ca_file {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            config.ca_certs_der = rustls_pemfile_certs(&pem)?;
        }
        config.backoff.max = Duration::from_secs(self.webhook_backoff_max_secs.max(1));
        Ok(Some(config))
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the webhook CA file")?;
    anyhow::ensure!(!certs.is_empty(), "the webhook CA file holds no certificate");
    Ok(certs)
}
