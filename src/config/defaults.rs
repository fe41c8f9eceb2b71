//! The built-in defaults, the same as `annal serve` with no option, for a server built in
//! process (tests, embedding). The command line's defaults are checked against these (a test
//! in `cli/serve.rs`).

use std::path::PathBuf;

use super::{EnrollOptions, LimitsOptions, NatsOptions, PushOptions, ServerConfig, WebhookOptions};
use crate::http::limits::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MIN_BODY_RATE,
    UNIDENTIFIED_MAX_BODY,
};
use crate::stream::nats::{DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX};

impl ServerConfig {
    /// Every option at its default, with `data_dir` for the store and keys.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store: None,
            listen: ([127, 0, 0, 1], 8443).into(),
            behind_proxy: false,
            tls_cert: None,
            tls_key: None,
            hostnames: vec!["localhost".into(), "127.0.0.1".into()],
            external_ca: None,
            ota_device_ca: None,
            data_key_file: None,
            admin_api_key: None,
            max_body_bytes: crate::http::DEFAULT_MAX_BODY,
            insecure_accept_unsigned_devices: false,
            reenrollment: Default::default(),
            migration: false,
            tls_reload_interval_secs: 60,
            ready_max_lag: 10_000,
            webhook: WebhookOptions {
                backoff_max_secs: 60,
                ..Default::default()
            },
            nats: NatsOptions {
                stream: DEFAULT_STREAM.into(),
                subject_prefix: DEFAULT_SUBJECT_PREFIX.into(),
                backoff_max_secs: 30,
                ..Default::default()
            },
            push: PushOptions {
                apns_url: "production".into(),
                apns_ca_file: None,
                concurrency: 500,
                repush_interval_secs: 3600,
                max_attempts: 5,
                backoff_max_secs: 60,
                suspend_secs: 300,
                unreachable_alarm_secs: 300,
                escrow_key_unlock_url: crate::push::escrow::ESCROW_KEY_UNLOCK_URL.to_owned(),
            },
            enroll: EnrollOptions {
                organization: "Annal".into(),
                ..Default::default()
            },
            limits: LimitsOptions {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
                body_read_timeout_secs: DEFAULT_BODY_READ_TIMEOUT.as_secs(),
                min_body_bytes_per_sec: DEFAULT_MIN_BODY_RATE,
                unidentified_max_body_bytes: UNIDENTIFIED_MAX_BODY,
            },
        }
    }
}
