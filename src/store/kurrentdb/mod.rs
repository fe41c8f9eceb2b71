//! KurrentDB (formerly EventStoreDB): the event log kept by a dedicated event database.
//!
//! Mapping: an Annal stream is a KurrentDB stream of the same name, and each Annal event one
//! KurrentDB event with the same id (KurrentDB is itself idempotent by event id), the same type
//! and the exact body bytes as a binary payload (a JSON payload would be re-encoded by the
//! client, and the hash covers the bytes). The rest of the envelope (schema version, actor,
//! correlation and causation ids, raw plist as base64, recorded time in microseconds, stream
//! version, hash as hex) travels as JSON in the event's custom metadata, marked `"annal": 1` so
//! that events other tools wrote to the same database are told apart and skipped.
//!
//! Namespaces: several Annal logs (a deployment's, parallel test runs') can share one server.
//! The store URL names one with `annal-namespace=<name>` (letters, digits, `_` and `-`), which
//! is taken out before KurrentDB's client parses the URL. In namespace `N`, Annal stream `s` is
//! KurrentDB stream `N.s`, and the metadata carries `"namespace": "N"`; `read_all`, `head` and
//! the `$all` follower count only events whose metadata names the store's namespace, so each
//! store sees its own log and nothing else. Without the parameter the namespace is empty:
//! stream names are unchanged, the metadata has no `namespace` field, and events without one
//! belong to it, as every event did before namespaces existed. Hashes cover the Annal stream
//! name, so a log's chain does not depend on the namespace it lives in. Namespaces partition
//! what a store *reads*, not the server: `$all` reads still pass over every namespace's events
//! (a fresh namespace on a busy server finds its empty head by reading `$all` back to the
//! start), and stream `a.b` of the empty namespace is stream `b` of namespace `a` (reading
//! such a shared stream fails as corrupt rather than mixing two logs).
//!
//! Trade-offs, as `capabilities()` reports them:
//! - `global_position` is the event's commit position in `$all`: monotonic, but not dense (it is
//!   a byte offset in the transaction log). Subscriptions still work: `poll_subscription` only
//!   waits for the head to reach the next position it wants.
//! - The hash chain runs per stream: KurrentDB assigns the `$all` position only when it writes,
//!   after the hash must be known, and it offers no lock over the whole log. Each event's
//!   previous hash is the hash of its stream's previous event (`GENESIS_HASH` for the first),
//!   and the hash is computed with `global_position` 0, so the chain covers the stream
//!   position, not the `$all` position; `audit verify` checks it that way.
//! - Event ids are unique per stream only (`log_wide_event_ids: false`), see the known limits.
//! - KurrentDB refuses to read `$all` from a position that is not the start of a record, and
//!   callers ask for `last + 1`. `read_all` therefore starts at the closest event position at or
//!   before the one asked for: one seen lately in this process, else the log's first event, else
//!   one found by reading backwards from the end (slow only for a cold, old checkpoint).
//!
//! Known limits, from what KurrentDB can answer without a lock or an index by event id:
//! - Idempotency is checked against the end of the stream only (`RETRY_WINDOW`): an event id
//!   reused in *another* stream is not detected, and a retry that comes after other appends to
//!   the same stream fails its `Exact` check, or with `Any` writes the events again.
//! - Two concurrent identical appends: KurrentDB's own idempotency answers both with success, so
//!   both may report `already_appended: false` (nothing is written twice).
//! - The server's `MaxAppendSize` (1 MiB by default) bounds one append, body and metadata
//!   (raw as base64) included: raise it for large device payloads.

mod append;
mod convert;
mod follower;
mod namespace;
mod positions;
mod read;

use std::sync::{Arc, Mutex};

use ::kurrentdb::{Client, ClientSettings, ReadStreamOptions, StreamPosition};
use annal_schemas::{NewEvent, RecordedEvent, GENESIS_HASH};
use async_trait::async_trait;
use tokio::sync::watch;

use self::follower::{bump, spawn_follower};
use self::namespace::Namespace;
use self::positions::{lock, Positions};
use super::{check_append_input, rules, AppendResult, Capabilities, EventStore, ExpectedVersion, Head, StoreError};

pub struct KurrentStore {
    client: Client,
    /// The Annal log on the server this store sees; empty without `annal-namespace`.
    namespace: Namespace,
    head: watch::Sender<u64>,
    /// Kept so the channel stays open (and the follower task alive) while the store lives.
    head_rx: watch::Receiver<u64>,
    positions: Arc<Mutex<Positions>>,
}

impl KurrentStore {
    /// Connects (`kurrentdb://user:password@host:2113?tls=false`, `esdb://…`, optionally with
    /// `&annal-namespace=<name>`), reads the head and starts the task that follows `$all` for
    /// `watch_head`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // kurrentdb's tonic stack enables rustls's ring provider next to our aws-lc-rs: with two
        // providers and none installed, rustls panics on first use.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (namespace, url) = Namespace::from_url(url)?;
        // The parse error can quote the whole URL, password included: show only its kind.
        let settings: ClientSettings = url.parse().map_err(|e: ::kurrentdb::ClientSettingsParseError| {
            let detail = e
                .error()
                .map_or_else(|| "unsupported scheme, host or option".to_string(), |p| p.to_string());
            StoreError::Config(format!(
                "--store: the KurrentDB connection string is not valid: {detail}"
            ))
        })?;
        // `Client::new` returns an eyre report, which is not a std error.
        let client = Client::new(settings).map_err(|e| StoreError::Unavailable(format!("KurrentDB client: {e}")))?;
        let (head, head_rx) = watch::channel(0);
        let store = Self {
            client,
            namespace,
            head,
            head_rx,
            positions: Arc::default(),
        };
        let last = store.last_annal().await?;
        if let Some((position, event)) = &last {
            lock(&store.positions).remember(*position);
            bump(&store.head, event.global_position);
        }
        let resume = last.map(|(position, _)| position);
        spawn_follower(
            store.client.clone(),
            store.head.clone(),
            store.positions.clone(),
            store.namespace.clone(),
            resume,
        );
        Ok(store)
    }
}

#[async_trait]
impl EventStore for KurrentStore {
    /// See `append_events`: read the stream's end, decide, append expecting what was read.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.append_events(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = StreamPosition::Position(from_version.saturating_sub(1));
        let options = ReadStreamOptions::default().forwards().position(from).max_count(limit);
        self.collect_stream(stream, &options).await
    }

    /// Pages through `$all`, skipping system events (`$…`), events without Annal metadata and
    /// other namespaces' events.
    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.page_all(from_position, limit).await
    }

    async fn head(&self) -> Result<Head, StoreError> {
        Ok(match self.last_annal().await? {
            Some((_, event)) => Head {
                position: event.global_position,
                hash: event.hash,
            },
            None => Head {
                position: 0,
                hash: GENESIS_HASH,
            },
        })
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head_rx.clone()
    }

    /// KurrentDB assigns `$all` positions itself when it writes, and its chain runs per stream:
    /// a log recorded elsewhere cannot be written here as it is.
    async fn import(&self, _events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        Err(StoreError::Invalid(
            "KurrentDB cannot hold a log recorded elsewhere verbatim: it assigns positions itself and \
             chains hashes per stream; import into SQLite or PostgreSQL"
                .into(),
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            dense_positions: false,
            global_hash_chain: false,
            log_wide_event_ids: false,
        }
    }
}

fn unavailable(e: ::kurrentdb::Error) -> StoreError {
    StoreError::Unavailable(format!("KurrentDB: {e}"))
}
