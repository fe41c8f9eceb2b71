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
            .field("migration", &self.migration)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LimitsOptions, PushOptions};

    #[test]
    fn passwords_in_urls_are_cut_out() {
        assert_eq!(
            redact_url("postgres://annal:s3cret@db:5432/annal?sslmode=require&password=x"),
            "postgres://annal:<redacted>@db:5432/annal?sslmode=require&password=<redacted>"
        );
        assert_eq!(redact_url("postgres://annal@db/annal"), "postgres://annal@db/annal");
        assert_eq!(redact_url("sqlite:./data/annal.db"), "sqlite:./data/annal.db");
        assert_eq!(redact_url("https://u:p@h"), "https://u:<redacted>@h");
    }

    fn config() -> ServerConfig {
        ServerConfig {
            data_dir: "./data".into(),
            store: Some("postgres://annal:pg-s3cret@db/annal?password=query-s3cret".into()),
            listen: "127.0.0.1:8443".parse().unwrap(),
            behind_proxy: false,
            tls_cert: None,
            tls_key: None,
            hostnames: vec!["localhost".into()],
            external_ca: None,
            ota_device_ca: None,
            data_key_file: None,
            admin_api_key: Some("annal_admin-s3cret".into()),
            max_body_bytes: 1,
            insecure_accept_unsigned_devices: false,
            reenrollment: Default::default(),
            migration: false,
            tls_reload_interval_secs: 60,
            ready_max_lag: 1,
            webhook: WebhookOptions {
                url: Some("https://hooks.example/T0/hook-s3cret".into()),
                ..Default::default()
            },
            nats: NatsOptions {
                url: Some("nats://u:nats-s3cret@n:4222".into()),
                ..Default::default()
            },
            push: PushOptions {
                apns_url: "production".into(),
                apns_ca_file: None,
                concurrency: 1,
                repush_interval_secs: 0,
                max_attempts: 1,
                backoff_max_secs: 1,
                suspend_secs: 1,
                unreachable_alarm_secs: 1,
                escrow_key_unlock_url: String::new(),
            },
            enroll: EnrollOptions {
                challenge: Some("challenge-s3cret".into()),
                organization: "Annal".into(),
                ..Default::default()
            },
            limits: LimitsOptions {
                max_connections: 1,
                header_read_timeout_secs: 1,
                body_read_timeout_secs: 1,
                min_body_bytes_per_sec: 1,
                unidentified_max_body_bytes: 1,
            },
        }
    }

    #[test]
    fn debug_shows_that_secrets_are_set_never_their_values() {
        let shown = format!("{:?} {:#?}", config(), config());
        for secret in [
            "pg-s3cret",
            "query-s3cret",
            "annal_admin-s3cret",
            "hook-s3cret",
            "nats-s3cret",
            "challenge-s3cret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("admin_api_key: Some(<redacted>)"), "{shown}");
        assert!(shown.contains("challenge: Some(<redacted>)"), "{shown}");
        assert!(
            shown.contains("postgres://annal:<redacted>@db/annal?password=<redacted>"),
            "{shown}"
        );
        // What is not secret stays readable.
        assert!(
            shown.contains("127.0.0.1:8443") && shown.contains("organization: \"Annal\""),
            "{shown}"
        );
    }
}
