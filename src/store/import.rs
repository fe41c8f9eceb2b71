//! The check every backend makes, under its append lock, before writing recorded envelopes
//! verbatim (`EventStore::import`): a pure function of the log's head, the batch and what the
//! log already holds.
//!
//! An imported event keeps the id, position, stream version, time and hash it was recorded
//! with elsewhere, so the store cannot place it: it can only refuse what would break the log's
//! invariants. The batch must continue the log exactly (first position head + 1, positions
//! dense), each stream's versions must follow on, ids must be new, and each hash must be
//! SHA-256(previous hash ‖ the event) along the chain from the log's head hash.

use std::collections::{HashMap, HashSet};

use annal_schemas::{chain_hash, RecordedEvent};
use uuid::Uuid;

use super::group::LogLookup;
use super::{check_stream_name, Head, StoreError};

/// Returns the head the log has after the batch, or why nothing of it may be written.
pub fn check_import(head: Head, events: &[RecordedEvent], lookup: &mut impl LogLookup) -> Result<Head, StoreError> {
    if events.is_empty() {
        return Err(StoreError::Invalid("no events to import".into()));
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let known: HashSet<Uuid> = lookup.existing(&ids)?.into_iter().map(|e| e.event_id).collect();
    let mut seen = HashSet::with_capacity(events.len());
    let mut versions: HashMap<&str, u64> = HashMap::new();
    let mut head = head;
    for e in events {
        let refuse = |why: String| {
            StoreError::Invalid(format!(
                "cannot import event {} (position {}): {why}",
                e.event_id, e.global_position
            ))
        };
        if e.global_position != head.position + 1 {
            return Err(refuse(format!(
                "the log's next position is {}; an import must continue the log exactly",
                head.position + 1
            )));
        }
        check_stream_name(&e.stream)?;
        let current = match versions.get(e.stream.as_str()) {
            Some(v) => *v,
            None => lookup.stream_version(&e.stream)?,
        };
        if e.stream_version != current + 1 {
            return Err(refuse(format!(
                "it is version {} of stream {:?}, whose next version is {}",
                e.stream_version,
                e.stream,
                current + 1
            )));
        }
        if known.contains(&e.event_id) || !seen.insert(e.event_id) {
            return Err(refuse("its event id is already in the log".into()));
        }
        if chain_hash(&head.hash, e) != e.hash {
            return Err(refuse(
                "its hash does not chain from the previous event (modified, moved or not the next event)".into(),
            ));
        }
        versions.insert(&e.stream, e.stream_version);
        head = Head {
            position: e.global_position,
            hash: e.hash,
        };
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rules::Existing;
    use annal_schemas::envelope::from_micros;
    use annal_schemas::{NewEvent, GENESIS_HASH};

    #[derive(Default)]
    struct Log {
        ids: Vec<Uuid>,
        versions: HashMap<String, u64>,
    }

    impl LogLookup for Log {
        fn existing(&mut self, ids: &[Uuid]) -> Result<Vec<Existing>, StoreError> {
            Ok(ids
                .iter()
                .filter(|id| self.ids.contains(id))
                .map(|id| Existing {
                    event_id: *id,
                    stream: "s".into(),
                    stream_version: 1,
                    global_position: 1,
                })
                .collect())
        }
        fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError> {
            Ok(self.versions.get(stream).copied().unwrap_or(0))
        }
    }

    /// A chain of `n` events over streams a and b, from the empty log.
    fn chain(n: u64) -> Vec<RecordedEvent> {
        let mut prev = GENESIS_HASH;
        let mut versions = HashMap::new();
        (1..=n)
            .map(|p| {
                let stream = if p % 2 == 0 { "a" } else { "b" };
                let v = versions.entry(stream).or_insert(0);
                *v += 1;
                let new = NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: "Idle".into(),
                    schema_version: 1,
                    actor: "system".into(),
                    correlation_id: None,
                    causation_id: None,
                    data: b"{}".to_vec(),
                    raw: None,
                };
                let e = RecordedEvent::place(new, stream, *v, p, from_micros(p as i64), &prev);
                prev = e.hash;
                e
            })
            .collect()
    }

    fn empty() -> Head {
        Head {
            position: 0,
            hash: GENESIS_HASH,
        }
    }

    #[test]
    fn a_whole_chain_imports_into_an_empty_log() {
        let events = chain(5);
        let head = check_import(empty(), &events, &mut Log::default()).unwrap();
        assert_eq!((head.position, head.hash), (5, events[4].hash));
    }

    #[test]
    fn a_batch_must_follow_the_log_exactly() {
        let events = chain(6);
        let head = check_import(empty(), &events[..3], &mut Log::default()).unwrap();
        let mut log = Log {
            ids: events[..3].iter().map(|e| e.event_id).collect(),
            versions: [("a".to_string(), 1), ("b".to_string(), 2)].into(),
        };
        assert_eq!(check_import(head, &events[3..], &mut log).unwrap().position, 6);
        let err = check_import(head, &events[4..], &mut log).unwrap_err().to_string();
        assert!(err.contains("next position is 4"), "{err}");
        let err = check_import(empty(), &events[..3], &mut log).unwrap_err().to_string();
        assert!(err.contains("next version is 3"), "{err}");
    }

    #[test]
    fn broken_chains_and_reused_ids_are_refused() {
        let mut events = chain(3);
        events[1].data = b"{ }".to_vec();
        let err = check_import(empty(), &events, &mut Log::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&events[1].event_id.to_string()) && err.contains("hash"),
            "{err}"
        );

        let events = chain(3);
        let mut log = Log {
            ids: vec![events[2].event_id],
            ..Log::default()
        };
        let err = check_import(empty(), &events, &mut log).unwrap_err().to_string();
        assert!(err.contains("already in the log"), "{err}");
        assert!(check_import(empty(), &[], &mut Log::default()).is_err());
    }
}
