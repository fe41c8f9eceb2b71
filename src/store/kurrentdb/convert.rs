//! The mapping between Annal's `RecordedEvent` and KurrentDB events (see the module
//! documentation): the envelope fields KurrentDB has no place for travel as JSON metadata.

use ::kurrentdb::EventData;
use ::kurrentdb::RecordedEvent as KdbEvent;
use annal_schemas::envelope::{from_micros, to_micros};
use annal_schemas::{ChainHash, RecordedEvent};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::namespace::Namespace;
use super::StoreError;

/// The envelope fields KurrentDB has no place for, in the event's custom metadata.
#[derive(Serialize, Deserialize)]
pub(super) struct Meta {
    /// Marks the event as Annal's; the version of this metadata format.
    annal: u32,
    /// The Annal log the event belongs to. Left out when empty, so that a store without a
    /// namespace writes exactly the metadata it wrote before namespaces existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    namespace: String,
    schema_version: u32,
    actor: String,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    /// Base64 of the device's original bytes.
    raw: Option<String>,
    recorded_at: i64,
    stream_version: u64,
    hash: String,
}

/// The part of the metadata that says whose event it is, read before the rest.
#[derive(Deserialize)]
struct Marker {
    annal: Option<u32>,
    #[serde(default)]
    namespace: String,
}

pub(super) fn to_event_data(e: RecordedEvent, namespace: &Namespace) -> Result<EventData, StoreError> {
    let meta = Meta {
        annal: 1,
        namespace: namespace.as_str().to_string(),
        schema_version: e.schema_version,
        actor: e.actor,
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        raw: e.raw.as_deref().map(|r| BASE64.encode(r)),
        recorded_at: to_micros(&e.recorded_at),
        stream_version: e.stream_version,
        hash: hex::encode(e.hash),
    };
    EventData::binary(&e.event_type, e.data.into())
        .id(e.event_id)
        .metadata_as_json(&meta)
        .map_err(|err| StoreError::Invalid(format!("event {}: metadata: {err}", e.event_id)))
}

/// The namespace of the Annal log that wrote the event; `None` when it carries no Annal
/// metadata (another tool wrote it).
fn owner(e: &KdbEvent) -> Option<String> {
    match serde_json::from_slice::<Marker>(&e.custom_metadata) {
        Ok(Marker {
            annal: Some(_),
            namespace,
        }) => Some(namespace),
        _ => None,
    }
}

/// The event's Annal metadata; `None` when it carries none (another tool wrote it) or belongs
/// to another namespace. Damage in another namespace's events is that log's concern.
pub(super) fn annal_meta(e: &KdbEvent, namespace: &Namespace) -> Result<Option<Meta>, StoreError> {
    if owner(e).as_deref() != Some(namespace.as_str()) {
        return Ok(None);
    }
    serde_json::from_slice(&e.custom_metadata)
        .map(Some)
        .map_err(|err| corrupt(e, &format!("its metadata: {err}")))
}

/// The Annal event, if `e` is one of `namespace`'s.
pub(super) fn to_annal(e: &KdbEvent, namespace: &Namespace) -> Result<Option<RecordedEvent>, StoreError> {
    let Some(meta) = annal_meta(e, namespace)? else {
        return Ok(None);
    };
    let stream = namespace
        .annal_stream(e.stream_id())
        .ok_or_else(|| corrupt(e, &format!("its stream is outside namespace {:?}", namespace.as_str())))?;
    if e.revision.checked_add(1) != Some(meta.stream_version) {
        return Err(corrupt(
            e,
            &format!("stream version {} at revision {}", meta.stream_version, e.revision),
        ));
    }
    let raw = match meta.raw {
        Some(r) => Some(
            BASE64
                .decode(r)
                .map_err(|err| corrupt(e, &format!("raw is not base64: {err}")))?,
        ),
        None => None,
    };
    let hash: ChainHash = hex::decode(&meta.hash)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| corrupt(e, "its hash is not 32 bytes of hex"))?;
    Ok(Some(RecordedEvent {
        event_id: e.id,
        stream: stream.to_string(),
        stream_version: meta.stream_version,
        // Older servers send no position on stream reads (u64::MAX): report 0, unknown.
        global_position: if e.position.commit == u64::MAX {
            0
        } else {
            e.position.commit
        },
        recorded_at: from_micros(meta.recorded_at),
        event_type: e.event_type.clone(),
        schema_version: meta.schema_version,
        actor: meta.actor,
        correlation_id: meta.correlation_id,
        causation_id: meta.causation_id,
        data: e.data.to_vec(),
        raw,
        hash,
    }))
}

/// Why an event found in one of `namespace`'s streams is not one of its events: every event of
/// an Annal stream is Annal's, so anything else is damage, or two logs sharing a stream name
/// (`a.b` in the empty namespace is `b` in namespace `a`).
pub(super) fn stranger(e: &KdbEvent, namespace: &Namespace) -> StoreError {
    match owner(e) {
        Some(other) => corrupt(
            e,
            &format!(
                "it belongs to namespace {other:?}, not {:?}: two Annal logs share this stream",
                namespace.as_str()
            ),
        ),
        None => corrupt(e, "it has no Annal metadata"),
    }
}

fn corrupt(e: &KdbEvent, what: &str) -> StoreError {
    StoreError::Corrupt(format!("event {} in stream {:?}: {what}", e.id, e.stream_id()))
}
