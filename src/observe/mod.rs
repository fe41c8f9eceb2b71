//! Observability: Prometheus metrics (rendered at /metrics), request logs, readiness.
//!
//! Counters and histograms are recorded where things happen (requests, appends, pushes);
//! gauges that describe state (queue depth, projection lag, certificate expiry) are computed
//! when /metrics is scraped, from the read models and the log's head, so they are never stale.

pub mod gauges;
pub mod http;
pub mod store;
pub mod writes;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// Histogram buckets, in seconds, for request, append and push latencies.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What the scrape-time gauges and readiness need beyond the application state.
pub struct Observer {
    ca_not_after: Option<DateTime<Utc>>,
    tls_not_after: RwLock<Option<DateTime<Utc>>>,
    /// /readyz answers 503 while the read models trail the log by more than this many events.
    pub ready_max_lag: u64,
    /// Whether the store takes writes (recorded by `store::MeteredStore`).
    pub writes: Arc<writes::WriteHealth>,
}

impl Observer {
    pub fn new(ca_not_after: Option<DateTime<Utc>>, ready_max_lag: u64, writes: Arc<writes::WriteHealth>) -> Self {
        Self {
            ca_not_after,
            tls_not_after: RwLock::new(None),
            ready_max_lag,
            writes,
        }
    }

    /// The server certificate in use (set at start and by every successful reload).
    pub fn set_tls_not_after(&self, not_after: DateTime<Utc>) {
        if let Ok(mut t) = self.tls_not_after.write() {
            *t = Some(not_after);
        }
    }

    pub fn ca_not_after(&self) -> Option<DateTime<Utc>> {
        self.ca_not_after
    }

    pub fn tls_not_after(&self) -> Option<DateTime<Utc>> {
        self.tls_not_after.read().ok().and_then(|t| *t)
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new(None, u64::MAX, Default::default())
    }
}
