//! Whether the event store takes writes, as the latest appends tell. A store can answer reads
//! and refuse every write (a full disk, a read-only filesystem): a node then cannot serve a
//! single device request, since each one appends, and /readyz must say so although the log's
//! head reads fine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// How long a refused append keeps the node unready when nothing has been appended since. A
/// load balancer that stops sending requests to an unready node would otherwise never let one
/// through to find the store recovered; after this, the next requests probe it again.
pub const REFUSING_FOR: Duration = Duration::from_secs(10);

/// The pure part: the last append's verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Writes {
    /// When an append last failed for want of the store, if none has succeeded since.
    refused_at: Option<Instant>,
}

impl Writes {
    pub fn record<T>(&mut self, result: &Result<T, StoreError>, now: Instant) {
        match result {
            Ok(_) => self.refused_at = None,
            Err(StoreError::Unavailable(_)) => self.refused_at = Some(now),
            // A version conflict or a bad request says nothing about the store.
            Err(_) => {}
        }
    }

    /// Whether the store refuses writes as of `now`.
    pub fn refusing(&self, now: Instant) -> bool {
        self.refused_at
            .is_some_and(|t| now.saturating_duration_since(t) < REFUSING_FOR)
    }
}

/// Shared between the metered store, which records each append, and /readyz and /metrics.
/// Every device request appends, so a healthy node's appends only read one flag; the lock is
/// taken around a refusal and the first success after one.
#[derive(Debug, Default)]
pub struct WriteHealth {
    refused: AtomicBool,
    writes: Mutex<Writes>,
}

impl WriteHealth {
    pub fn record<T>(&self, result: &Result<T, StoreError>) {
        let refusal = matches!(result, Err(StoreError::Unavailable(_)));
        if !refusal && (result.is_err() || !self.refused.load(Ordering::Relaxed)) {
            return;
        }
        if let Ok(mut writes) = self.writes.lock() {
            writes.record(result, Instant::now());
            self.refused.store(refusal, Ordering::Relaxed);
        }
    }

    pub fn refusing(&self) -> bool {
        self.refused.load(Ordering::Relaxed) && self.writes.lock().is_ok_and(|w| w.refusing(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Result<(), StoreError> {
        Err(StoreError::Unavailable("sqlite: database or disk is full".into()))
    }

    #[test]
    fn a_refused_append_makes_the_store_refusing_until_one_succeeds() {
        let t0 = Instant::now();
        let mut w = Writes::default();
        assert!(!w.refusing(t0));
        w.record(&unavailable(), t0);
        assert!(w.refusing(t0 + Duration::from_secs(1)));
        w.record(&Ok(()), t0 + Duration::from_secs(2));
        assert!(!w.refusing(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn a_version_conflict_is_not_a_refusal() {
        let t0 = Instant::now();
        let mut w = Writes::default();
        let conflict: Result<(), _> = Err(StoreError::WrongExpectedVersion {
            stream: "s".into(),
            expected: crate::store::ExpectedVersion::NoStream,
            actual: 1,
        });
        w.record(&conflict, t0);
        assert!(!w.refusing(t0));
        w.record(&unavailable(), t0);
        w.record(&conflict, t0);
        assert!(w.refusing(t0), "a conflict does not clear a refusal either");
    }

    #[test]
    fn a_refusal_with_no_append_since_expires() {
        let t0 = Instant::now();
        let mut w = Writes::default();
        w.record(&unavailable(), t0);
        assert!(w.refusing(t0 + REFUSING_FOR - Duration::from_millis(1)));
        assert!(!w.refusing(t0 + REFUSING_FOR));
    }

    #[test]
    fn the_shared_health_follows_refusals_and_the_first_success_after_one() {
        let health = WriteHealth::default();
        health.record(&Ok(()));
        assert!(!health.refusing());
        health.record(&unavailable());
        assert!(health.refusing());
        let conflict: Result<(), _> = Err(StoreError::Invalid("bad".into()));
        health.record(&conflict);
        assert!(health.refusing(), "another error does not clear a refusal");
        health.record(&Ok(()));
        assert!(!health.refusing());
    }
}
