//! The event log (design brief §2): one trait, three backends, one conformance suite
//! (`tests/store_conformance.rs`).
//!
//! Guarantees every backend gives:
//! - `append` is atomic per call, checks the stream's expected version, and is idempotent by
//!   event id: retrying a call whose answer was lost returns the original result.
//! - Global positions start at 1 and are dense and in commit order (SQLite, PostgreSQL), so a
//!   reader that has seen position N has seen everything before it.
//! - `subscribe_all` delivers every event from a position exactly once, in order, then follows
//!   new appends live.

mod group;
mod import;
pub mod private;
mod rules;
mod sqlite;
mod subscription;
mod url;

mod postgres;

#[cfg(feature = "kurrentdb")]
mod kurrentdb;

use std::sync::Arc;

use annal_schemas::{ChainHash, NewEvent, RecordedEvent};
use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::watch;

pub use postgres::{drop_schema, url_with_new_schema, PostgresStore};
pub use rules::ExpectedVersion;
pub use sqlite::SqliteStore;
pub use subscription::poll_subscription;
pub use url::{open, probe, redact_with as redact_url_with, StoreUrl};

/// The outcome of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append (the version of its last event).
    pub stream_version: u64,
    pub first_position: u64,
    pub last_position: u64,
    /// True when every event was already in the log (an idempotent retry): nothing was written.
    pub already_appended: bool,
}

/// The log's last position and hash; `position` 0 means empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: ChainHash,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("wrong expected version on stream {stream:?}: expected {expected}, the stream is at version {actual}")]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    #[error("event {event_id} is already in the log {detail}; a retry must resend exactly the same events")]
    IdempotencyConflict { event_id: uuid::Uuid, detail: String },
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The store is configured wrongly (its URL, its connection string): nothing to retry.
    #[error("{0}")]
    Config(String),
    /// The backend cannot be reached or refused the write; the caller may retry (HTTP 503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The log does not hold what its invariants promise (a gap, an unreadable row).
    #[error("event store corrupt: {0}")]
    Corrupt(String),
}

/// Which ordering guarantees a backend gives; the conformance suite checks exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Positions are 1, 2, 3, … with no gaps (false on KurrentDB, whose $all positions are
    /// monotonic log offsets).
    pub dense_positions: bool,
    /// The hash chain runs along the global order (on KurrentDB it runs per stream).
    pub global_hash_chain: bool,
    /// An event id is unique in the whole log, so reusing one in another stream is refused and
    /// two concurrent identical appends are told apart (KurrentDB only checks ids per stream).
    pub log_wide_event_ids: bool,
}

impl Capabilities {
    /// A log recorded elsewhere can be written here as it is (`EventStore::import`) only where
    /// positions are dense and the chain runs along them, as on the log it came from.
    pub fn verbatim_import(&self) -> bool {
        self.dense_positions && self.global_hash_chain
    }
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Events of `stream` from version `from_version` (inclusive), at most `limit`.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events from global position `from_position` (inclusive), at most `limit`, in order.
    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    async fn head(&self) -> Result<Head, StoreError>;

    /// A receiver that changes whenever the log's head position moves (in this process or, for
    /// shared backends, in any process).
    fn watch_head(&self) -> watch::Receiver<u64>;

    fn capabilities(&self) -> Capabilities;

    /// Writes events recorded in another log exactly as they are (ids, positions, stream
    /// versions, times, hashes): how a log is restored from an export or moved to another
    /// backend. The batch must continue this log exactly (see `store/import.rs`); otherwise
    /// nothing of it is written. Returns the log's new head. Backends without
    /// [`Capabilities::verbatim_import`] refuse every batch.
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError>;

    /// The newest events from `from_position`, when this process still holds what it just
    /// committed in memory (None: ask [`EventStore::read_all`]). Unlike `read_all`, a page may
    /// end early though the log holds more (another process's appends are not in memory), so
    /// only a follower that then waits for the head to move may use it.
    fn read_recent(&self, _from_position: u64, _limit: usize) -> Option<Vec<RecordedEvent>> {
        None
    }

    /// Every event from `from_position` (inclusive), exactly once and in order: first the
    /// catch-up, then live appends. Ends with an error if the log shows a gap.
    fn subscribe_all(self: Arc<Self>, from_position: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        poll_subscription(self, from_position)
    }
}

pub(crate) fn check_append_input(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    check_stream_name(stream)?;
    if events.is_empty() {
        return Err(StoreError::Invalid("no events to append".into()));
    }
    let mut ids = std::collections::HashSet::new();
    for e in events {
        if !ids.insert(e.event_id) {
            return Err(StoreError::Invalid(format!(
                "event id {} appears twice in one append",
                e.event_id
            )));
        }
    }
    Ok(())
}

/// Stream names are protocol identifiers (UDIDs, EnrollmentIDs): refuse what could confuse a
/// log reader or a shell.
pub(crate) fn check_stream_name(stream: &str) -> Result<(), StoreError> {
    if stream.is_empty() || stream.len() > 512 || stream.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "stream name {stream:?} is empty, too long or has control characters"
        )));
    }
    Ok(())
}
