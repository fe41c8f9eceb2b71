//! The event envelope: what every backend stores for every event, whatever its type.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::EventData;
use crate::chain::ChainHash;

/// An event as a writer hands it to the store. The store assigns everything that depends on the
/// log's order (stream version, global position, recorded time, hash) under its own lock, so no
/// writer can claim a place in history it did not get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// UUIDv7; a retry of the same append reuses the ids, which makes the retry idempotent.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    /// Who caused it: a device identity fingerprint, an API key name, or `system`.
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The event's JSON body, kept as the exact bytes so the hash chain can be recomputed.
    pub data: Vec<u8>,
    /// The device's original plist bytes, where the event came from a device: shared with the
    /// request body, so retrying an append copies nothing.
    pub raw: Option<Bytes>,
}

impl NewEvent {
    /// Builds an event from a typed body with a fresh UUIDv7.
    pub fn new<E: EventData>(actor: impl Into<String>, body: &E) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: E::EVENT_TYPE.to_string(),
            schema_version: E::SCHEMA_VERSION,
            actor: actor.into(),
            correlation_id: None,
            causation_id: None,
            // Serialising a plain data struct to JSON cannot fail: no maps with non-string keys.
            data: serde_json::to_vec(body).unwrap_or_default(),
            raw: None,
        }
    }

    pub fn with_raw(mut self, raw: impl Into<Bytes>) -> Self {
        self.raw = Some(raw.into());
        self
    }

    pub fn with_correlation(mut self, correlation_id: Uuid, causation_id: Option<Uuid>) -> Self {
        self.correlation_id = Some(correlation_id);
        self.causation_id = causation_id;
        self
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream: String,
    /// 1 for the first event of a stream, dense within the stream.
    pub stream_version: u64,
    /// 1 for the first event of the log, dense and gap-free in commit order (SQLite, PostgreSQL).
    pub global_position: u64,
    /// Truncated to whole microseconds, the precision every backend stores.
    pub recorded_at: DateTime<Utc>,
    pub event_type: String,
    pub schema_version: u32,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: Vec<u8>,
    pub raw: Option<Vec<u8>>,
    /// SHA-256(previous event's hash ‖ canonical bytes of this event).
    pub hash: ChainHash,
}

impl RecordedEvent {
    /// Places a new event in the log; the caller holds the log's append lock and knows the
    /// previous hash.
    pub fn place(
        new: NewEvent,
        stream: &str,
        stream_version: u64,
        global_position: u64,
        recorded_at: DateTime<Utc>,
        previous_hash: &ChainHash,
    ) -> Self {
        let mut event = Self {
            event_id: new.event_id,
            stream: stream.to_string(),
            stream_version,
            global_position,
            recorded_at: truncate_to_micros(recorded_at),
            event_type: new.event_type,
            schema_version: new.schema_version,
            actor: new.actor,
            correlation_id: new.correlation_id,
            causation_id: new.causation_id,
            data: new.data,
            raw: new.raw.map(Vec::from),
            hash: [0; 32],
        };
        event.hash = crate::chain::chain_hash(previous_hash, &event);
        event
    }

    /// The event as a writer would hand it to a store, with its stream: what an import or a
    /// benchmark that loads a generated log appends (the store assigns the rest again).
    pub fn into_new(self) -> (String, NewEvent) {
        let new = NewEvent {
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: self.data,
            raw: self.raw.map(bytes::Bytes::from),
        };
        (self.stream, new)
    }

    /// Decodes the body into the current version of its type, upcasting older versions.
    pub fn decode(&self) -> Result<crate::Event, crate::DecodeError> {
        crate::Event::decode(&self.event_type, self.schema_version, &self.data)
    }
}

/// Microseconds since the Unix epoch: the form every backend stores `recorded_at` in.
pub fn to_micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(to_micros(&t))
}
