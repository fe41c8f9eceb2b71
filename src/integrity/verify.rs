//! `annal audit verify`.
//!
//! Reads the log in global order and walks the chain along it (`walk.rs`). Removing events from
//! the *end* of the log leaves a valid chain; an exported [`Checkpoint`] catches that.

use std::fmt;

use annal_schemas::ChainHash;
use serde::Serialize;
use uuid::Uuid;

use super::walk::{out_of_sequence, ChainWalk, Step};
use crate::store::{EventStore, StoreError};

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
    let capabilities = store.capabilities();
    let mut walk = ChainWalk::new(capabilities.dense_positions, !capabilities.global_hash_chain);
    let mut next = 1;
    let mut checkpoint_hash = None;
    loop {
        let page = store.read_all(next, PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        for event in &page {
            match walk.step(event) {
                Step::Intact => {}
                Step::Broken(finding) => return Ok(walk.report(Some(finding))),
                Step::OutOfSequence { due } => {
                    let later = store.read_stream(&event.stream, due, 1).await?;
                    let due_is_later = later
                        .first()
                        .is_some_and(|e| e.stream_version == due && e.global_position > event.global_position);
                    return Ok(walk.report(Some(out_of_sequence(event, due, due_is_later))));
                }
            }
            if checkpoint.is_some_and(|c| c.position == event.global_position) {
                checkpoint_hash = Some(event.hash);
            }
        }
        progress(walk.checked());
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
    Ok(walk.report(finding))
}
