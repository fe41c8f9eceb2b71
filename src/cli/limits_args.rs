//! `annal serve --max-connections …`: how much an unidentified or slow client can make the
//! server hold (see `annal::http::limits`).

use std::time::Duration;

use annal::http::limits::{
    BodyPace, BodySizes, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MIN_BODY_RATE, UNIDENTIFIED_MAX_BODY,
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
    pub fn header_read_timeout(&self) -> Option<Duration> {
        (self.header_read_timeout_secs > 0).then(|| Duration::from_secs(self.header_read_timeout_secs))
    }

    pub fn pace(&self) -> BodyPace {
        BodyPace {
            read_timeout: Duration::from_secs(self.body_read_timeout_secs),
            min_rate: self.min_body_bytes_per_sec,
        }
    }

    pub fn sizes(&self, max_body_bytes: usize) -> BodySizes {
        BodySizes {
            identified: max_body_bytes,
            // Never more than an identified request may send.
            unidentified: self.unidentified_max_body_bytes.min(max_body_bytes),
        }
    }
}

/// Descriptors beyond the connections: databases, the APNs and webhook clients, logs.
#[cfg(unix)]
const SPARE_FILES: libc::rlim_t = 1024;

/// Raises the soft open-file limit toward what `max_connections` needs (up to the hard limit),
/// and warns when it stays below: past it, accepting fails instead of waiting at the cap.
#[cfg(unix)]
pub fn fit_open_files(max_connections: usize) {
    let wanted = (max_connections as libc::rlim_t).saturating_add(SPARE_FILES);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !read || max_connections == 0 || limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        limit = raised;
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            open_files = limit.rlim_cur,
            max_connections,
            "the open-file limit is below --max-connections; raise it (LimitNOFILE=) or lower the cap"
        );
    }
}

#[cfg(not(unix))]
pub fn fit_open_files(_max_connections: usize) {}
