//! `annal serve --max-connections …`: how much an unidentified or slow client can make the
//! server hold (see `annal::http::limits`).

use annal::http::limits::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MIN_BODY_RATE,
    UNIDENTIFIED_MAX_BODY,
};

#[derive(Debug, clap::Args)]
pub struct LimitsArgs {
    /// Connections open at once (0: no cap). At the cap, new connections wait in the kernel's
    /// backlog until one closes.
    #[arg(long, env = "ANNAL_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds a client gets for its TLS handshake and for a request's headers; also how long
    /// an idle keep-alive connection stays open (0: no limit).
    #[arg(long, env = "ANNAL_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    pub header_read_timeout_secs: u64,
    /// Longest wait, in seconds, for the next part of a request body; also the grace period
    /// before --min-body-bytes-per-sec applies (0: neither limit).
    #[arg(long, env = "ANNAL_BODY_READ_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_secs())]
    pub body_read_timeout_secs: u64,
    /// Slowest average rate, in bytes per second, at which a request body may arrive after the
    /// grace period (0: no minimum).
    #[arg(long, env = "ANNAL_MIN_BODY_BYTES_PER_SEC", default_value_t = DEFAULT_MIN_BODY_RATE)]
    pub min_body_bytes_per_sec: u64,
    /// Largest body of a device request with no identity, in bytes (only accepted with
    /// --insecure-accept-unsigned-devices). A request with a verified identity may send
    /// --max-body-bytes.
    #[arg(long, env = "ANNAL_UNIDENTIFIED_MAX_BODY_BYTES", default_value_t = UNIDENTIFIED_MAX_BODY)]
    pub unidentified_max_body_bytes: usize,
}

impl LimitsArgs {
    pub fn options(&self) -> annal::config::LimitsOptions {
        annal::config::LimitsOptions {
            max_connections: self.max_connections,
            header_read_timeout_secs: self.header_read_timeout_secs,
            body_read_timeout_secs: self.body_read_timeout_secs,
            min_body_bytes_per_sec: self.min_body_bytes_per_sec,
            unidentified_max_body_bytes: self.unidentified_max_body_bytes,
        }
    }
}
