//! `annal audit verify`.
//!
//! Reads the log in global order and checks, for each event: that its position follows the
//! previous one (else an event was removed), that its stream version follows the stream's
//! previous event (else events were removed or reordered), and that its hash is
//! SHA-256(previous hash ‖ its canonical bytes) (else it was modified). Removing events from the
//! *end* of the log leaves a valid chain; an exported [`Checkpoint`] catches that.

use std::collections::HashMap;
use std::fmt;

use annal_schemas::{chain_hash, ChainHash, RecordedEvent, GENESIS_HASH};
use serde::Serialize;
use uuid::Uuid;

use crate::store::{EventStore, Head, StoreError};

const PAGE: usize = 2000;

/// A position and the hash the event there had, kept outside the log (exported with
/// `annal audit head`), so truncation of the log's tail is detected too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: u64,
    pub hash: ChainHash,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    /// `<position>:<hex hash>`, as `annal audit head` prints it.
    fn from_str(s: &str) -> Result<Self, String> {
        let (position, hash) = s.split_once(':').ok_or("a checkpoint is <position>:<hex hash>")?;
        let position = position.parse().map_err(|e| format!("checkpoint position: {e}"))?;
        let hash = hex::decode(hash).map_err(|e| format!("checkpoint hash: {e}"))?;
        let hash = hash
            .try_into()
            .map_err(|_| "checkpoint hash must be 32 bytes".to_string())?;
        Ok(Checkpoint { position, hash })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The event's bytes do not hash to its stored hash given its predecessor.
    Modified {
        position: u64,
        event_id: Uuid,
        stream: String,
    },
    /// Position `position` is missing (the next event found has `next_position`), or a stream
    /// skips a version that appears nowhere later.
    Removed {
        position: u64,
        next_position: Option<u64>,
        stream: Option<String>,
        stream_version: Option<u64>,
    },
    /// An event stands before an event of its stream that it should follow.
    Reordered {
        position: u64,
        event_id: Uuid,
        stream: String,
        stream_version: u64,
        expected_version: u64,
    },
    /// The log does not reach, or does not match, an exported checkpoint.
    CheckpointMismatch { position: u64, found: Option<String> },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Modified {
                position,
                event_id,
                stream,
            } => {
                write!(f, "event {event_id} at position {position} (stream {stream}) was modified or moved: its hash does not match its content and place")
            }
            Finding::Removed {
                position,
                next_position: Some(next),
                ..
            } => {
                write!(f, "position {position} was removed: the next event found is at {next}")
            }
            Finding::Removed {
                position,
                stream: Some(s),
                stream_version: Some(v),
                ..
            } => {
                write!(
                    f,
                    "event {v} of stream {s} was removed (noticed at position {position})"
                )
            }
            Finding::Removed { position, .. } => write!(f, "position {position} was removed"),
            Finding::Reordered {
                position,
                event_id,
                stream,
                stream_version,
                expected_version,
            } => write!(
                f,
                "event {event_id} at position {position} is out of order: version {stream_version} of stream {stream} \
                 where version {expected_version} was due"
            ),
            Finding::CheckpointMismatch { position, found: None } => {
                write!(
                    f,
                    "the log ends before checkpoint position {position}: events were removed from its end"
                )
            }
            Finding::CheckpointMismatch {
                position,
                found: Some(h),
            } => {
                write!(
                    f,
                    "the event at checkpoint position {position} has hash {h}, not the checkpoint's"
                )
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub events_checked: u64,
    pub head_position: u64,
    pub head_hash: String,
    pub first_problem: Option<Finding>,
}

/// Verifies the chain. `progress` is called with the number of events checked so far.
pub async fn verify(
    store: &dyn EventStore,
    checkpoint: Option<Checkpoint>,
    mut progress: impl FnMut(u64),
) -> Result<Report, StoreError> {
    let per_stream_chain = !store.capabilities().global_hash_chain;
    let dense = store.capabilities().dense_positions;
    let mut state = State {
        prev: GENESIS_HASH,
        streams: HashMap::new(),
        checked: 0,
        head: None,
    };
    let mut next = 1;
    let mut checkpoint_hash = None;
    loop {
        let page = store.read_all(next, PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        for event in &page {
            let expected_position = state.head.map_or(1, |h: Head| h.position + 1);
            if dense && event.global_position != expected_position {
                let finding = Finding::Removed {
                    position: expected_position,
                    next_position: Some(event.global_position),
                    stream: None,
                    stream_version: None,
                };
                return Ok(state.report(Some(finding)));
            }
            if let Some(finding) = state.check(store, event, per_stream_chain).await? {
                return Ok(state.report(Some(finding)));
            }
            if checkpoint.is_some_and(|c| c.position == event.global_position) {
                checkpoint_hash = Some(event.hash);
            }
        }
        progress(state.checked);
    }
    let finding = checkpoint.and_then(|c| match checkpoint_hash {
        None => Some(Finding::CheckpointMismatch {
            position: c.position,
            found: None,
        }),
        Some(h) if h != c.hash => Some(Finding::CheckpointMismatch {
            position: c.position,
            found: Some(hex::encode(h)),
        }),
        Some(_) => None,
    });
    Ok(state.report(finding))
}

struct State {
    prev: ChainHash,
    /// Per stream: last version seen and its hash (the chain link on per-stream backends).
    streams: HashMap<String, (u64, ChainHash)>,
    checked: u64,
    head: Option<Head>,
}

impl State {
    async fn check(
        &mut self,
        store: &dyn EventStore,
        event: &RecordedEvent,
        per_stream_chain: bool,
    ) -> Result<Option<Finding>, StoreError> {
        let (last_version, stream_prev) = self.streams.get(&event.stream).copied().unwrap_or((0, GENESIS_HASH));
        let due = last_version + 1;
        if event.stream_version != due {
            return Ok(Some(misplaced(store, event, due).await?));
        }
        let computed = if per_stream_chain {
            // Per-stream chains hash the event without its $all position (see store::kurrentdb).
            let mut unplaced = event.clone();
            unplaced.global_position = 0;
            chain_hash(&stream_prev, &unplaced)
        } else {
            chain_hash(&self.prev, event)
        };
        if computed != event.hash {
            return Ok(Some(Finding::Modified {
                position: event.global_position,
                event_id: event.event_id,
                stream: event.stream.clone(),
            }));
        }
        self.prev = event.hash;
        self.streams
            .insert(event.stream.clone(), (event.stream_version, event.hash));
        self.checked += 1;
        self.head = Some(Head {
            position: event.global_position,
            hash: event.hash,
        });
        Ok(None)
    }

    fn report(&self, first_problem: Option<Finding>) -> Report {
        let head = self.head.unwrap_or(Head {
            position: 0,
            hash: GENESIS_HASH,
        });
        Report {
            events_checked: self.checked,
            head_position: head.position,
            head_hash: hex::encode(head.hash),
            first_problem,
        }
    }
}

/// A stream version out of sequence: reordered if the version that was due stands later in the
/// log (or this one was seen already), removed if it is nowhere.
async fn misplaced(store: &dyn EventStore, event: &RecordedEvent, due: u64) -> Result<Finding, StoreError> {
    let later = store.read_stream(&event.stream, due, 1).await?;
    let due_is_later = later
        .first()
        .is_some_and(|e| e.stream_version == due && e.global_position > event.global_position);
    if event.stream_version < due || due_is_later {
        return Ok(Finding::Reordered {
            position: event.global_position,
            event_id: event.event_id,
            stream: event.stream.clone(),
            stream_version: event.stream_version,
            expected_version: due,
        });
    }
    Ok(Finding::Removed {
        position: event.global_position,
        next_position: None,
        stream: Some(event.stream.clone()),
        stream_version: Some(due),
    })
}
