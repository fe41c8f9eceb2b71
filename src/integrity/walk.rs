//! The chain check along the global order, one event at a time, with no I/O: `annal audit
//! verify` walks a store with it, `annal events import` a file.
//!
//! For each event it checks that its position follows the previous one (on dense logs; else an
//! event was removed or moved), that its stream version follows the stream's previous event
//! (else events were removed or reordered), and that its hash is SHA-256(previous hash ‖ its
//! canonical bytes) (else it was modified).

use std::collections::HashMap;

use annal_schemas::{chain_hash, ChainHash, RecordedEvent, GENESIS_HASH};

use super::verify::{Finding, Report};
use crate::store::Head;

/// What one event tells about the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Intact,
    Broken(Finding),
    /// The event's stream version is not the one due: whether it was reordered or an event
    /// removed depends on whether version `due` stands later in the log, which only the
    /// caller can look up (see [`out_of_sequence`]).
    OutOfSequence {
        due: u64,
    },
}

pub struct ChainWalk {
    dense: bool,
    per_stream_chain: bool,
    prev: ChainHash,
    /// Per stream: last version seen and its hash (the chain link on per-stream backends).
    streams: HashMap<String, (u64, ChainHash)>,
    checked: u64,
    head: Option<Head>,
}

impl ChainWalk {
    /// `dense`: positions must be 1, 2, 3, …; `per_stream_chain`: each hash links to the
    /// previous event of its stream (KurrentDB) instead of the previous event of the log.
    pub fn new(dense: bool, per_stream_chain: bool) -> Self {
        Self {
            dense,
            per_stream_chain,
            prev: GENESIS_HASH,
            streams: HashMap::new(),
            checked: 0,
            head: None,
        }
    }

    /// The position the next event must have on a dense log.
    pub fn next_position(&self) -> u64 {
        self.head.map_or(1, |h| h.position + 1)
    }

    pub fn step(&mut self, event: &RecordedEvent) -> Step {
        let expected_position = self.next_position();
        if self.dense && event.global_position != expected_position {
            return Step::Broken(Finding::Removed {
                position: expected_position,
                next_position: Some(event.global_position),
                stream: None,
                stream_version: None,
            });
        }
        let (last_version, stream_prev) = self.streams.get(&event.stream).copied().unwrap_or((0, GENESIS_HASH));
        let due = last_version + 1;
        if event.stream_version != due {
            return Step::OutOfSequence { due };
        }
        let computed = if self.per_stream_chain {
            // Per-stream chains hash the event without its $all position (see store::kurrentdb).
            let mut unplaced = event.clone();
            unplaced.global_position = 0;
            chain_hash(&stream_prev, &unplaced)
        } else {
            chain_hash(&self.prev, event)
        };
        if computed != event.hash {
            return Step::Broken(Finding::Modified {
                position: event.global_position,
                event_id: event.event_id,
                stream: event.stream.clone(),
            });
        }
        self.prev = event.hash;
        self.streams
            .insert(event.stream.clone(), (event.stream_version, event.hash));
        self.checked += 1;
        self.head = Some(Head {
            position: event.global_position,
            hash: event.hash,
        });
        Step::Intact
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last intact event's position and hash (position 0 before the first).
    pub fn head(&self) -> Head {
        self.head.unwrap_or(Head {
            position: 0,
            hash: GENESIS_HASH,
        })
    }

    pub fn report(&self, first_problem: Option<Finding>) -> Report {
        let head = self.head();
        Report {
            events_checked: self.checked,
            head_position: head.position,
            head_hash: hex::encode(head.hash),
            first_problem,
        }
    }
}

/// A stream version out of sequence: reordered if the version that was due stands later in the
/// log (`due_is_later`) or this one was seen already, removed if the due one is nowhere.
pub fn out_of_sequence(event: &RecordedEvent, due: u64, due_is_later: bool) -> Finding {
    if event.stream_version < due || due_is_later {
        return Finding::Reordered {
            position: event.global_position,
            event_id: event.event_id,
            stream: event.stream.clone(),
            stream_version: event.stream_version,
            expected_version: due,
        };
    }
    Finding::Removed {
        position: event.global_position,
        next_position: None,
        stream: Some(event.stream.clone()),
        stream_version: Some(due),
    }
}
