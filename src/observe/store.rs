//! The event store, measured: append latency and append errors by kind, and whether appends
//! go through at all (`WriteHealth`, for /readyz).

use std::sync::Arc;
use std::time::Instant;

use annal_schemas::{NewEvent, RecordedEvent};
use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::writes::WriteHealth;
use crate::store::{AppendResult, Capabilities, EventStore, ExpectedVersion, Head, StoreError};

/// Wraps a store; everything but `append` passes straight through.
pub struct MeteredStore {
    inner: Arc<dyn EventStore>,
    writes: Arc<WriteHealth>,
}

impl MeteredStore {
    pub fn wrap(inner: Arc<dyn EventStore>, writes: Arc<WriteHealth>) -> Arc<dyn EventStore> {
        Arc::new(Self { inner, writes })
    }
}

/// A label for each way an append can fail. A wrong expected version is the optimistic
/// concurrency check doing its job (the caller reloads and retries), not a fault.
pub fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::WrongExpectedVersion { .. } => "wrong_expected_version",
        StoreError::IdempotencyConflict { .. } => "idempotency_conflict",
        StoreError::Invalid(_) => "invalid",
        StoreError::Config(_) => "config",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Corrupt(_) => "corrupt",
    }
}

#[async_trait]
impl EventStore for MeteredStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let count = events.len() as u64;
        let result = self.inner.append(stream, expected, events).await;
        metrics::histogram!("annal_store_append_duration_seconds").record(started.elapsed().as_secs_f64());
        self.writes.record(&result);
        match &result {
            Ok(r) if !r.already_appended => metrics::counter!("annal_store_appended_events_total").increment(count),
            Ok(_) => {}
            Err(e) => metrics::counter!("annal_store_append_errors_total", "kind" => error_kind(e)).increment(1),
        }
        result
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from_version, limit).await
    }

    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit).await
    }

    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        self.inner.import(events).await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner.watch_head()
    }

    fn read_recent(&self, from_position: u64, limit: usize) -> Option<Vec<RecordedEvent>> {
        self.inner.read_recent(from_position, limit)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn subscribe_all(self: Arc<Self>, from_position: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.inner.clone().subscribe_all(from_position)
    }
}
