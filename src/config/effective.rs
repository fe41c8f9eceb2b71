//! Effective values: what an option means once the others are known (the default store in the
//! data directory, the default base URL from the first hostname and the port, a challenge read
//! from its file, the push, webhook and NATS settings the workers take).

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, EnrollOptions, LimitsOptions, NatsOptions, PushOptions, ServerConfig, WebhookOptions};
use crate::http::limits::{BodyPace, BodySizes};
use crate::push::{ApnsConfig, PushSettings, PRODUCTION_URL, SANDBOX_URL};
use crate::store::StoreUrl;
use crate::stream::nats::NatsConfig;
use crate::stream::webhook::WebhookConfig;

impl ServerConfig {
    /// `--store`, else the embedded store in the data directory.
    pub fn store_url(&self) -> Result<StoreUrl, ConfigError> {
        match &self.store {
            Some(url) => Ok(url.parse()?),
            None => Ok(StoreUrl::Sqlite(self.data_dir.join("annal.db"))),
        }
    }

    /// The data key file, by default in the data directory.
    pub fn data_key_path(&self) -> PathBuf {
        self.data_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    /// The URL devices reach this server at: --base-url (without a trailing slash), else
    /// https://<first hostname>:<listen port>.
    pub fn base_url(&self) -> String {
        match &self.enroll.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = self.hostnames.first().map_or("localhost", String::as_str);
                format!("https://{host}:{}", self.listen.port())
            }
        }
    }

    /// How often the TLS files are checked for a change (`None`: only on SIGHUP).
    pub fn tls_reload_interval(&self) -> Option<Duration> {
        (self.tls_reload_interval_secs > 0).then(|| Duration::from_secs(self.tls_reload_interval_secs))
    }

    /// Body limits by identity: an unidentified request never gets more than an identified one.
    pub fn body_sizes(&self) -> BodySizes {
        BodySizes {
            identified: self.max_body_bytes,
            unidentified: self.limits.unidentified_max_body_bytes.min(self.max_body_bytes),
        }
    }
}

impl LimitsOptions {
    pub fn header_read_timeout(&self) -> Option<Duration> {
        (self.header_read_timeout_secs > 0).then(|| Duration::from_secs(self.header_read_timeout_secs))
    }

    pub fn pace(&self) -> BodyPace {
        BodyPace {
            read_timeout: Duration::from_secs(self.body_read_timeout_secs),
            min_rate: self.min_body_bytes_per_sec,
        }
    }
}

impl EnrollOptions {
    /// The static SCEP challenge: given, or read from its file (trailing newline ignored).
    pub fn challenge(&self) -> Result<Option<String>, ConfigError> {
        match (&self.challenge, &self.scep_challenge_file) {
            (Some(c), _) => Ok(Some(c.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(ConfigError::read(path))?;
                let challenge = text.trim_end_matches(['\r', '\n']).to_owned();
                if challenge.is_empty() {
                    return Err(ConfigError::EmptyChallenge(path.clone()));
                }
                Ok(Some(challenge))
            }
            (None, None) => Ok(None),
        }
    }
}

impl PushOptions {
    pub fn settings(&self) -> Result<PushSettings, ConfigError> {
        let url = match self.apns_url.as_str() {
            "production" => PRODUCTION_URL.to_owned(),
            "sandbox" => SANDBOX_URL.to_owned(),
            url if url.starts_with("https://") => url.to_owned(),
            other => return Err(ConfigError::ApnsUrl(other.to_owned())),
        };
        let mut apns = ApnsConfig::new(url);
        if let Some(path) = &self.apns_ca_file {
            let anchors = crate::pki::TrustAnchors::from_pem_file(path).map_err(|source| ConfigError::ApnsCa {
                path: path.clone(),
                source,
            })?;
            apns.extra_roots = anchors.cert_ders().map(<[u8]>::to_vec).collect();
            apns.only_extra_roots = true;
        }
        apns.concurrency = self.concurrency.max(1);
        let mut settings = PushSettings::new(apns);
        settings.max_attempts = self.max_attempts.max(1);
        settings.backoff_max = Duration::from_secs(self.backoff_max_secs.max(1));
        settings.suspend_for = Duration::from_secs(self.suspend_secs.max(1));
        settings.unreachable_alarm_after = Duration::from_secs(self.unreachable_alarm_secs.max(1));
        if !self.escrow_key_unlock_url.starts_with("https://") {
            return Err(ConfigError::EscrowKeyUnlockUrl(self.escrow_key_unlock_url.clone()));
        }
        settings.escrow_key_unlock_url = self.escrow_key_unlock_url.clone();
        settings.repush_interval =
            (self.repush_interval_secs > 0).then(|| Duration::from_secs(self.repush_interval_secs));
        Ok(settings)
    }
}

impl WebhookOptions {
    /// `None`: no webhook URL, no webhooks.
    pub fn config(&self) -> Result<Option<WebhookConfig>, ConfigError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let mut config = WebhookConfig::new(url.clone());
        if let Some(path) = &self.hmac_key_file {
            let key = std::fs::read(path).map_err(ConfigError::read(path))?;
            let key = key.trim_ascii().to_vec();
            if key.len() < 16 {
                return Err(ConfigError::ShortHmacKey(path.clone()));
            }
            config.hmac_key = Some(key);
        }
        config.include_idle = !self.no_idle;
        if self.include_secrets {
            if !secrets_may_go_to(url) {
                return Err(ConfigError::WebhookSecretsInClear(crate::urls::scheme_and_host(url)));
            }
            config.include_secrets = true;
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(ConfigError::read(path))?;
            config.ca_certs_der = pem_certs(&pem)?;
        }
        config.backoff.max = Duration::from_secs(self.backoff_max_secs.max(1));
        Ok(Some(config))
    }
}

/// Secrets travel only encrypted, or not off the machine: https, or http to a loopback host.
fn secrets_may_go_to(url: &str) -> bool {
    url.starts_with("https://") || (url.starts_with("http://") && crate::urls::is_loopback(url))
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ConfigError::WebhookCaPem)?;
    if certs.is_empty() {
        return Err(ConfigError::WebhookCaEmpty);
    }
    Ok(certs)
}

impl NatsOptions {
    /// `None`: no NATS URL, no NATS sink.
    pub fn config(&self) -> Result<Option<NatsConfig>, ConfigError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let mut config = NatsConfig::new(url.clone());
        config.stream = self.stream.clone();
        config.subject_prefix = self.subject_prefix.clone();
        config.source = match &self.source {
            Some(source) => source.clone(),
            None => format!("annal://{}", self.stream),
        };
        if let Some(path) = &self.creds_file {
            let creds = std::fs::read_to_string(path).map_err(ConfigError::read(path))?;
            config.credentials = Some(creds);
        }
        config.backoff.max = Duration::from_secs(self.backoff_max_secs.max(1));
        Ok(Some(config))
    }
}

#[cfg(test)]
mod webhook_secrets_tests {
    #[test]
    fn secrets_go_only_over_https_or_to_this_machine() {
        for ok in [
            "https://hooks.example.com/x",
            "http://127.0.0.1:9000/h",
            "http://localhost/h",
            "http://[::1]:80/",
        ] {
            assert!(super::secrets_may_go_to(ok), "{ok}");
        }
        for refused in [
            "http://hooks.example.com/x",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
            "ftp://x",
        ] {
            assert!(!super::secrets_may_go_to(refused), "{refused}");
        }
        assert_eq!(
            crate::urls::scheme_and_host("http://u:p@hooks.example.com/T0K3N"),
            "http://hooks.example.com"
        );
    }

    #[test]
    fn a_server_refuses_to_send_secrets_in_clear_naming_the_host_not_the_token() {
        let options = |url: &str| crate::config::WebhookOptions {
            url: Some(url.into()),
            include_secrets: true,
            backoff_max_secs: 60,
            ..Default::default()
        };
        let refused = options("http://hooks.example.com/T0K3N").config().expect_err("refused");
        let message = refused.to_string();
        assert!(
            message.contains("http://hooks.example.com") && !message.contains("T0K3N"),
            "{message}"
        );
        let config = options("https://hooks.example.com/T0K3N").config().unwrap().unwrap();
        assert!(config.include_secrets);
    }
}
