//! Secrets never reach a log through `Debug`: a set secret shows as `<redacted>`, a password in
//! a URL is cut out. The admin API key opens the whole API, the SCEP challenge gets any device
//! an identity, a webhook URL often carries its token in the path, a NATS or store URL may
//! carry a password.

use std::fmt;

use super::{EnrollOptions, NatsOptions, ServerConfig, WebhookOptions};

pub const REDACTED: &str = "<redacted>";

/// `Some(<redacted>)` or `None`: whether a secret is set, never its value.
struct Secret<'a, T>(&'a Option<T>);

impl<T> fmt::Debug for Secret<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => write!(f, "Some({REDACTED})"),
            None => write!(f, "None"),
        }
    }
}

/// A URL with its password (if any) cut out.
struct Url<'a>(&'a Option<String>);

impl fmt::Debug for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(url) => write!(f, "Some({:?})", redact_url(url)),
            None => write!(f, "None"),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("store", &Url(&self.store))
            .field("listen", &self.listen)
            .field("behind_proxy", &self.behind_proxy)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("hostnames", &self.hostnames)
            .field("external_ca", &self.external_ca)
            .field("ota_device_ca", &self.ota_device_ca)
            .field("data_key_file", &self.data_key_file)
            .field("admin_api_key", &Secret(&self.admin_api_key))
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "insecure_accept_unsigned_devices",
                &self.insecure_accept_unsigned_devices,
            )
            .field("reenrollment", &self.reenrollment)
            .field("tls_reload_interval_secs", &self.tls_reload_interval_secs)
            .field("ready_max_lag", &self.ready_max_lag)
            .field("webhook", &self.webhook)
            .field("nats", &self.nats)
            .field("push", &self.push)
            .field("enroll", &self.enroll)
            .field("limits", &self.limits)
            .finish()
    }
}

impl fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("url", &Secret(&self.url))
            .field("hmac_key_file", &self.hmac_key_file)
            .field("no_idle", &self.no_idle)
            .field("ca_file", &self.ca_file)
            .field("backoff_max_secs", &self.backoff_max_secs)
            .finish()
    }
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &Secret(&self.url))
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("backoff_max_secs", &self.backoff_max_secs)
            .field("creds_file", &self.creds_file)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Debug for EnrollOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollOptions")
            .field("base_url", &self.base_url)
            .field("topic", &self.topic)
            .field("challenge", &Secret(&self.challenge))
            .field("scep_challenge_file", &self.scep_challenge_file)
            .field("organization", &self.organization)
            .finish()
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:<redacted>@host/db?password=<redacted>`
/// (the store's own redaction, with this module's marker).
pub fn redact_url(text: &str) -> String {
    crate::store::redact_url_with(text, REDACTED)
}
