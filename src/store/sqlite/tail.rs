//! The newest committed events, kept in memory by the writer, so the read models and the event
//! stream following the log read what was just committed without a read transaction (file
//! locks, page reads, decoding rows) and a hand-off to the blocking pool per commit.
//!
//! Only what this process's writer committed is here, contiguous and in order. The writer
//! clears it when it learns that another process appended (its positions would leave a gap),
//! and a read the tail cannot answer goes to the file. Only followers read it
//! (`EventStore::read_recent`): a page from here may end before the log does (another process's
//! appends are not here), which a follower waiting for the head takes in its stride and
//! `read_all`'s callers could not, so `read_all` always reads the file.

use std::collections::VecDeque;
use std::sync::Mutex;

use annal_schemas::RecordedEvent;

/// Enough for every reader following the log to find a few seconds of commits here.
const MAX_EVENTS: usize = 2048;
/// Device answers may be tens of kilobytes each: the bound that usually applies. Small next to
/// the read models (at 100,000 devices, 4 MiB is 42 bytes per device).
const MAX_BYTES: usize = 4 << 20;

#[derive(Default)]
pub struct Tail {
    inner: Mutex<Events>,
}

#[derive(Default)]
struct Events {
    events: VecDeque<RecordedEvent>,
    bytes: usize,
}

impl Tail {
    /// Adds what a transaction committed (call after COMMIT, before the head moves).
    pub fn extend(&self, committed: Vec<RecordedEvent>) {
        let Ok(mut tail) = self.inner.lock() else {
            return;
        };
        // A gap (another process appended since) makes everything before it unusable.
        let follows = match (tail.events.back(), committed.first()) {
            (Some(last), Some(first)) => first.global_position == last.global_position + 1,
            _ => true,
        };
        if !follows {
            tail.clear();
        }
        for event in committed {
            tail.bytes += size(&event);
            tail.events.push_back(event);
        }
        while tail.events.len() > MAX_EVENTS || (tail.bytes > MAX_BYTES && tail.events.len() > 1) {
            if let Some(old) = tail.events.pop_front() {
                tail.bytes -= size(&old);
            }
        }
    }

    /// Forgets everything (the log was written by other means: an import).
    pub fn clear(&self) {
        if let Ok(mut tail) = self.inner.lock() {
            tail.clear();
        }
    }

    /// Up to `limit` events from position `from`, when the tail holds `from` (and so every
    /// event after it up to this process's last commit); None when the file must answer.
    pub fn read(&self, from: u64, limit: usize) -> Option<Vec<RecordedEvent>> {
        let tail = self.inner.lock().ok()?;
        let first = tail.events.front()?.global_position;
        let last = tail.events.back()?.global_position;
        if from < first || from > last {
            return None;
        }
        let skip = (from - first) as usize;
        Some(tail.events.iter().skip(skip).take(limit).cloned().collect())
    }
}

impl Events {
    fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }
}

fn size(event: &RecordedEvent) -> usize {
    std::mem::size_of::<RecordedEvent>()
        + event.data.len()
        + event.raw.as_ref().map_or(0, Vec::len)
        + event.stream.len()
        + event.event_type.len()
        + event.actor.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::{NewEvent, GENESIS_HASH};

    fn event(position: u64, raw: usize) -> RecordedEvent {
        let new = NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "Test".into(),
            schema_version: 1,
            actor: "test".into(),
            correlation_id: None,
            causation_id: None,
            data: format!("{{\"n\":{position}}}").into_bytes(),
            raw: Some(vec![0; raw].into()),
        };
        RecordedEvent::place(new, "s", position, position, chrono::Utc::now(), &GENESIS_HASH)
    }

    fn positions(events: &[RecordedEvent]) -> Vec<u64> {
        events.iter().map(|e| e.global_position).collect()
    }

    #[test]
    fn reads_what_it_holds_and_nothing_before_or_after() {
        let tail = Tail::default();
        assert!(tail.read(1, 10).is_none());
        tail.extend((1..=5).map(|p| event(p, 0)).collect());
        assert_eq!(positions(&tail.read(1, 10).unwrap()), vec![1, 2, 3, 4, 5]);
        assert_eq!(positions(&tail.read(3, 2).unwrap()), vec![3, 4]);
        // Past the last commit: another process may have appended; the file answers.
        assert!(tail.read(6, 10).is_none());
    }

    #[test]
    fn a_gap_drops_what_came_before_it() {
        let tail = Tail::default();
        tail.extend((1..=3).map(|p| event(p, 0)).collect());
        tail.extend((7..=8).map(|p| event(p, 0)).collect());
        assert!(tail.read(2, 10).is_none());
        assert_eq!(positions(&tail.read(7, 10).unwrap()), vec![7, 8]);
    }

    #[test]
    fn it_is_bounded_by_bytes_and_keeps_the_newest() {
        let tail = Tail::default();
        let big = 1 << 20;
        tail.extend((1..=40).map(|p| event(p, big)).collect());
        assert!(tail.read(1, 100).is_none(), "the oldest were dropped");
        let kept = tail.read(40, 100).unwrap();
        assert_eq!(positions(&kept), vec![40]);
        // 4 MiB holds three 1 MiB events with their envelopes, not four.
        let kept = MAX_BYTES / big - 1;
        let all = tail.read(41 - kept as u64, 100).unwrap();
        assert_eq!(all.len(), kept);
        assert!(tail.read(40 - kept as u64, 100).is_none());
        assert_eq!(all.last().map(|e| e.global_position), Some(40));
    }
}
