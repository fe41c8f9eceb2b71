//! Writing a plan into Annal's log: every stream it touches is checked first (an enrollment
//! already in the log is refused or skipped, a certificate another enrollment claimed is
//! refused), then all events are placed after the log's head and written with one `import`,
//! which the store checks and commits as one transaction: all of them, or none.

use std::collections::{HashMap, HashSet};

use annal_schemas::events::identity::{IdentityClaimed, IdentityImported};
use annal_schemas::{Event, NewEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::map::{Channel, Decision, Plan};
use super::NanoError;
use crate::domain::enrollment::stream_name;
use crate::domain::identities::{self, IdentityRecord};
use crate::service::imported_identities::STREAM as IMPORTED;
use crate::store::{EventStore, Head};

/// Events read per page when finding a stream's version.
const PAGE: usize = 1000;

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    pub head: Head,
}

/// The enrollments of `plan` the target log already holds (their Annal keys), in plan order.
/// A certificate the log gives to another enrollment is refused outright: importing it would
/// let one device speak as another. So is a push topic other than the installed push
/// certificate's: the server would refuse that device's next TokenUpdate, and could not push it.
pub async fn existing(
    plan: &Plan,
    target: &dyn EventStore,
    mut progress: impl FnMut(u64),
) -> Result<Vec<String>, NanoError> {
    let installed = crate::push::installed::latest_topic(target)
        .await
        .map_err(|e| NanoError::Conflict(format!("reading the installed push certificate: {e}")))?;
    let mut found = Vec::new();
    for (n, channel) in plan.channels.iter().enumerate() {
        if let (Some(installed), Some(topic)) = (&installed, &channel.topic) {
            if topic != installed {
                return Err(NanoError::Conflict(format!(
                    "NanoMDM's enrollment {} uses the push topic {topic}, but this log's push certificate is for {installed}: \
                     install NanoMDM's push certificate (`annal push-cert install`) before importing; nothing was imported",
                    channel.source_id
                )));
            }
        }
        let held = !target.read_stream(&stream_name(&channel.key), 1, 1).await?.is_empty();
        if channel.parent.is_none() {
            let record = identity_record(target, &channel.certificate.fingerprint_sha256).await?;
            if let Some(owner) = record.claimed_by.filter(|owner| owner != &channel.key) {
                return Err(NanoError::Conflict(format!(
                    "the identity certificate {} of NanoMDM's enrollment {} is already claimed by the enrollment {owner} in this log",
                    channel.certificate.fingerprint_sha256, channel.source_id
                )));
            }
        }
        if held {
            found.push(channel.key.clone());
        }
        progress(n as u64 + 1);
    }
    Ok(found)
}

/// `plan` without the enrollments in `existing`, and without the user channels of a device
/// channel left out (a user channel lives under its device channel).
pub fn without(mut plan: Plan, existing: &[String]) -> Plan {
    let out: HashSet<&str> = existing.iter().map(String::as_str).collect();
    plan.channels
        .retain(|c| !out.contains(c.key.as_str()) && c.parent.as_deref().is_none_or(|p| !out.contains(p)));
    plan
}

/// Places every event of `plan` after the log's head and imports them in one batch.
/// `actor` is recorded on every event: [`super::ACTOR`] and who ran the import.
pub async fn write(
    plan: &Plan,
    target: &dyn EventStore,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Written, NanoError> {
    if !target.capabilities().verbatim_import() {
        return Err(NanoError::Conflict(
            "the target is a KurrentDB log, which cannot take one batch over many streams: import into SQLite or PostgreSQL (and `annal migrate` it afterwards if needed)".into(),
        ));
    }
    let mut streams: Vec<(String, Vec<NewEvent>)> = Vec::new();
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    for channel in &plan.channels {
        if channel.parent.is_none() {
            let fingerprint = channel.certificate.fingerprint_sha256.as_str();
            if let Some(other) = claimed.insert(fingerprint, channel.source_id.as_str()) {
                return Err(NanoError::Conflict(format!(
                    "NanoMDM's enrollments {other} and {} use the same identity certificate {fingerprint}: a certificate serves one enrollment in Annal",
                    channel.source_id
                )));
            }
            streams.extend(identity_events(channel, actor));
        }
        let events = channel.decisions.iter().flat_map(|d| new_events(d, actor)).collect();
        streams.push((stream_name(&channel.key), events));
    }
    let mut versions: HashMap<String, u64> = HashMap::new();
    for (stream, _) in &streams {
        if !versions.contains_key(stream) {
            versions.insert(stream.clone(), stream_version(target, stream).await?);
        }
    }
    let head = target.head().await?;
    let (mut position, mut previous) = (head.position, head.hash);
    let mut batch = Vec::new();
    for (stream, events) in streams {
        for event in events {
            let version = versions.entry(stream.clone()).or_default();
            *version += 1;
            position += 1;
            let placed = RecordedEvent::place(event, &stream, *version, position, now, &previous);
            previous = placed.hash;
            batch.push(placed);
        }
    }
    let events = batch.len() as u64;
    if events == 0 {
        return Ok(Written { events, head });
    }
    let head = target.import(batch).await.map_err(|e| {
        NanoError::Conflict(format!(
            "the log refused the import, nothing was written: {e} (if a server appended meanwhile, stop it or run the import again)"
        ))
    })?;
    Ok(Written { events, head })
}

/// The claim of the device channel's certificate (as the device path records a first
/// Authenticate) and the record that makes the server trust it.
fn identity_events(channel: &Channel, actor: &str) -> [(String, Vec<NewEvent>); 2] {
    let fingerprint = &channel.certificate.fingerprint_sha256;
    let claim = IdentityClaimed {
        fingerprint_sha256: fingerprint.clone(),
        enrollment: channel.key.clone(),
    };
    let imported = IdentityImported {
        fingerprint_sha256: fingerprint.clone(),
        enrollment: channel.key.clone(),
        source: "nanomdm".into(),
        source_id: channel.source_id.clone(),
    };
    [
        (identities::stream(fingerprint), vec![NewEvent::new(actor, &claim)]),
        (IMPORTED.to_owned(), vec![NewEvent::new(actor, &imported)]),
    ]
}

/// The envelopes of one decision: one correlation id, as the enrollment runner gives them.
fn new_events(decision: &Decision, actor: &str) -> Vec<NewEvent> {
    let correlation = Uuid::now_v7();
    decision
        .iter()
        .map(|(event, raw): &(Event, _)| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_string(),
            schema_version: event.schema_version(),
            actor: actor.to_owned(),
            correlation_id: Some(correlation),
            causation_id: None,
            data: event.to_data(),
            raw: raw.clone(),
        })
        .collect()
}

async fn identity_record(target: &dyn EventStore, fingerprint: &str) -> Result<IdentityRecord, NanoError> {
    let mut record = IdentityRecord::default();
    let mut from = 1;
    loop {
        let page = target.read_stream(&identities::stream(fingerprint), from, PAGE).await?;
        for e in &page {
            let event = e
                .decode()
                .map_err(|err| NanoError::Conflict(format!("{} version {}: {err}", e.stream, e.stream_version)))?;
            record.evolve(&event, e.stream_version);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from = last.stream_version + 1,
            _ => return Ok(record),
        }
    }
}

async fn stream_version(target: &dyn EventStore, stream: &str) -> Result<u64, NanoError> {
    let mut version = 0;
    loop {
        let page = target.read_stream(stream, version + 1, PAGE).await?;
        match page.last() {
            Some(last) => version = last.stream_version,
            None => return Ok(version),
        }
        if page.len() < PAGE {
            return Ok(version);
        }
    }
}
