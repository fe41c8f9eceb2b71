//! One aggregate runner: load a stream's state (from a per-process cache, caught up from the
//! log), decide, append at the version decided on, and on a conflict catch up and decide again.
//! Enrollments, API keys, SCEP challenges and identity claims and revocations all run through it.
//!
//! Two nodes on one log may decide for the same stream: the append's expected-version check
//! lets only one decision per version land; the other catches up and decides again.

use std::future::Future;
use std::sync::Arc;

use annal_schemas::{Event, NewEvent, RecordedEvent};
use bytes::Bytes;
use uuid::Uuid;

use super::aggregate_cache::Cache;
use crate::store::{EventStore, ExpectedVersion, StoreError};

/// A consistency boundary: folded from its stream, deciding commands into events.
pub trait Aggregate: Clone + Default + Send + Sync + 'static {
    type Command: Sync;
    type Decision: Decision + Send;
    type Refusal: Send;

    fn decide(&self, command: &Self::Command) -> Result<Self::Decision, Self::Refusal>;
    fn evolve(&mut self, event: &Event, raw: Option<&[u8]>);
}

/// What a decision appends: each event with the raw bytes it came from, if any.
pub trait Decision {
    fn events(&self) -> &[(Event, Option<Bytes>)];
}

/// Domain refusals and store failures are different layers: a refusal is an answer, the others
/// are failures of the runner.
#[derive(Debug, thiserror::Error)]
pub enum RunError<R> {
    #[error("{0}")]
    Refused(R),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {event_type} v{version} in {stream} cannot be read: {detail}")]
    Unreadable {
        stream: String,
        event_type: String,
        version: u64,
        detail: String,
    },
    /// The decision's answer could not be made (a sealed command this node cannot open).
    #[error("the answer could not be made: {0}")]
    Prepare(String),
    #[error("too much contention on {0}; try again")]
    Contention(String),
}

/// What a caller does around a decision: make its answer before anything is appended (an
/// answer that cannot be made must not be recorded as given), and anything else that must
/// land first (an identity claim).
pub trait Hooks<A: Aggregate>: Sync {
    type Prepared: Send;

    fn prepare(&self, decision: &A::Decision) -> Result<Self::Prepared, String>;

    fn before_append(&self, _decision: &A::Decision) -> impl Future<Output = Result<(), RunError<A::Refusal>>> + Send {
        async { Ok(()) }
    }
}

/// No answer to make, nothing to do first.
pub struct NoHooks;

impl<A: Aggregate> Hooks<A> for NoHooks {
    type Prepared = ();

    fn prepare(&self, _decision: &A::Decision) -> Result<(), String> {
        Ok(())
    }
}

/// A stream's state at a version.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    pub state: A,
    pub version: u64,
}

impl<A: Default> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
        }
    }
}

/// How a repository runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Cache shards and entries per shard; `None` reads every stream from the log.
    pub cache: Option<(usize, usize)>,
    /// Attempts before a stream is declared contended.
    pub max_attempts: usize,
    /// A refusal, or a decision appending nothing, is not checked by an append: on a shared
    /// log another node may have moved the stream on. With this set, it is trusted only once a
    /// catch-up finds the log unchanged.
    pub confirm_unappended: bool,
    /// The events of one decision share a fresh correlation id.
    pub correlate: bool,
    /// Events read per page when catching up.
    pub page: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache: None,
            max_attempts: 8,
            confirm_unappended: false,
            correlate: false,
            page: 1000,
        }
    }
}

pub struct Repository<A: Aggregate> {
    store: Arc<dyn EventStore>,
    cache: Option<Cache<A>>,
    options: Options,
}

impl<A: Aggregate> Repository<A> {
    pub fn new(store: Arc<dyn EventStore>, options: Options) -> Self {
        Self {
            store,
            cache: options.cache.map(|(shards, per_shard)| Cache::new(shards, per_shard)),
            options,
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The stream's current state: the cached one, caught up with the log.
    pub async fn load(&self, stream: &str) -> Result<Loaded<A>, RunError<A::Refusal>> {
        let cached = self.cache.as_ref().and_then(|c| c.get(stream)).unwrap_or_default();
        self.catch_up(stream, cached).await
    }

    /// The cached state, not checked against the log (the append checks it).
    pub fn cached(&self, stream: &str) -> Option<Loaded<A>> {
        self.cache.as_ref()?.get(stream)
    }

    pub async fn catch_up(&self, stream: &str, mut loaded: Loaded<A>) -> Result<Loaded<A>, RunError<A::Refusal>> {
        loop {
            let page = self
                .store
                .read_stream(stream, loaded.version + 1, self.options.page)
                .await?;
            let Some(last) = page.last().map(|e| e.stream_version) else {
                break;
            };
            for e in &page {
                apply(&mut loaded.state, e)?;
            }
            loaded.version = last;
        }
        if loaded.version != 0 && self.cache.is_some() {
            self.remember(stream, loaded.clone());
        }
        Ok(loaded)
    }

    /// Decides `command` on the stream's state and appends the decision's events at the
    /// version decided on; returns the decision once its events are durable.
    pub async fn run<H: Hooks<A>>(
        &self,
        stream: &str,
        command: &A::Command,
        actor: &str,
        hooks: &H,
    ) -> Result<(A::Decision, H::Prepared), RunError<A::Refusal>> {
        // A refusal decided on a cached state the append never checks: unless the runner
        // confirms those against the log, it decides on a state caught up first.
        let current = match self.cached(stream) {
            Some(cached) if self.options.confirm_unappended => cached,
            _ => self.load(stream).await?,
        };
        self.run_from(stream, current, command, actor, hooks).await
    }

    /// As `run`, from a state the caller loaded (to look at it first).
    pub async fn run_from<H: Hooks<A>>(
        &self,
        stream: &str,
        mut current: Loaded<A>,
        command: &A::Command,
        actor: &str,
        hooks: &H,
    ) -> Result<(A::Decision, H::Prepared), RunError<A::Refusal>> {
        let correlation = self.options.correlate.then(Uuid::now_v7);
        for _ in 0..self.options.max_attempts {
            let decided = current.state.decide(command);
            let appends_nothing = decided.as_ref().map_or(true, |d| d.events().is_empty());
            if appends_nothing && self.options.confirm_unappended {
                let fresh = self.catch_up(stream, current.clone()).await?;
                if fresh.version != current.version {
                    current = fresh;
                    continue;
                }
            }
            let decision = decided.map_err(RunError::Refused)?;
            let prepared = hooks.prepare(&decision).map_err(RunError::Prepare)?;
            if appends_nothing {
                return Ok((decision, prepared));
            }
            hooks.before_append(&decision).await?;
            let events = new_events(decision.events(), actor, correlation);
            let expected = match current.version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            match self.store.append(stream, expected, events).await {
                Ok(result) => {
                    for (event, raw) in decision.events() {
                        current.state.evolve(event, raw.as_deref());
                    }
                    current.version = result.stream_version;
                    self.remember(stream, current);
                    return Ok((decision, prepared));
                }
                // Another request (here or on another node) appended first: catch up, decide again.
                Err(StoreError::WrongExpectedVersion { .. }) => current = self.catch_up(stream, current).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RunError::Contention(stream.to_owned()))
    }

    fn remember(&self, stream: &str, loaded: Loaded<A>) {
        // A stream with no events is not worth keeping: caching every stream a request names
        // would let any certificate holder grow the cache with made-up names.
        if loaded.version == 0 {
            return;
        }
        if let Some(cache) = &self.cache {
            cache.put(stream, loaded);
        }
    }
}

/// The envelopes of a decision's events. The store takes its events by value; the raw bytes
/// are shared (`Bytes`), so building them again for a retried append copies no body.
fn new_events(events: &[(Event, Option<Bytes>)], actor: &str, correlation: Option<Uuid>) -> Vec<NewEvent> {
    events
        .iter()
        .map(|(event, raw)| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_string(),
            schema_version: event.schema_version(),
            actor: actor.to_string(),
            correlation_id: correlation,
            causation_id: None,
            data: event.to_data(),
            raw: raw.clone(),
        })
        .collect()
}

fn apply<A: Aggregate>(state: &mut A, e: &RecordedEvent) -> Result<(), RunError<A::Refusal>> {
    let event = e.decode().map_err(|err| RunError::Unreadable {
        stream: e.stream.clone(),
        event_type: e.event_type.clone(),
        version: e.stream_version,
        detail: err.to_string(),
    })?;
    state.evolve(&event, e.raw.as_deref());
    Ok(())
}

/// A decision that is only its events.
#[derive(Debug, Clone, Default)]
pub struct Decided(pub Vec<(Event, Option<Bytes>)>);

impl Decided {
    /// One event, with no raw bytes.
    pub fn one(event: impl Into<Event>) -> Self {
        Self(vec![(event.into(), None)])
    }

    /// One event or none (a command that would change nothing records nothing).
    pub fn optional(event: Option<impl Into<Event>>) -> Self {
        Self(event.map(|e| (e.into(), None)).into_iter().collect())
    }
}

impl Decision for Decided {
    fn events(&self) -> &[(Event, Option<Bytes>)] {
        &self.0
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
