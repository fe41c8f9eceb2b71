//! The append decision every backend makes under its lock: a pure function of the stream's
//! current version and of which of the new event ids the log already holds.

use std::fmt;

use uuid::Uuid;

use super::{AppendResult, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
}

impl ExpectedVersion {
    fn allows(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => current == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Where an event id already stands in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub event_id: Uuid,
    pub stream: String,
    pub stream_version: u64,
    pub global_position: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write the events with stream versions `next_version..`.
    Write { next_version: u64 },
    /// Every event is already there, in this stream, in this order: answer as the first time.
    AlreadyAppended(AppendResult),
}

/// `ids` are the new events' ids in order; `existing` holds the ones the log already has.
pub fn decide(
    stream: &str,
    expected: ExpectedVersion,
    current_version: u64,
    ids: &[Uuid],
    existing: &[Existing],
) -> Result<Decision, StoreError> {
    if !existing.is_empty() {
        return idempotent_retry(stream, ids, existing).map(Decision::AlreadyAppended);
    }
    if !expected.allows(current_version) {
        return Err(StoreError::WrongExpectedVersion {
            stream: stream.to_string(),
            expected,
            actual: current_version,
        });
    }
    Ok(Decision::Write {
        next_version: current_version + 1,
    })
}

/// A retry counts only if it is the very same append: all ids present, in this stream,
/// consecutive and in the same order. Anything else would silently merge two different writes.
fn idempotent_retry(stream: &str, ids: &[Uuid], existing: &[Existing]) -> Result<AppendResult, StoreError> {
    let conflict = |event_id: Uuid, detail: String| StoreError::IdempotencyConflict { event_id, detail };
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match existing.iter().find(|e| e.event_id == *id) {
            Some(e) => found.push(e),
            None => {
                let first = &existing[0];
                return Err(conflict(first.event_id, format!("but {id} of the same append is not")));
            }
        }
    }
    let first = found[0];
    for (i, e) in found.iter().enumerate() {
        if e.stream != stream {
            return Err(conflict(e.event_id, format!("in stream {:?}", e.stream)));
        }
        if e.stream_version != first.stream_version + i as u64 || e.global_position < first.global_position {
            return Err(conflict(e.event_id, "at another place in the stream".to_string()));
        }
    }
    let last = found[found.len() - 1];
    Ok(AppendResult {
        stream_version: last.stream_version,
        first_position: first.global_position,
        last_position: last.global_position,
        already_appended: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(id: Uuid, stream: &str, version: u64, position: u64) -> Existing {
        Existing {
            event_id: id,
            stream: stream.into(),
            stream_version: version,
            global_position: position,
        }
    }

    #[test]
    fn expected_versions() {
        let ids = [Uuid::now_v7()];
        assert_eq!(
            decide("s", ExpectedVersion::Any, 7, &ids, &[]).unwrap(),
            Decision::Write { next_version: 8 }
        );
        assert_eq!(
            decide("s", ExpectedVersion::NoStream, 0, &ids, &[]).unwrap(),
            Decision::Write { next_version: 1 }
        );
        assert!(decide("s", ExpectedVersion::NoStream, 1, &ids, &[]).is_err());
        assert_eq!(
            decide("s", ExpectedVersion::Exact(3), 3, &ids, &[]).unwrap(),
            Decision::Write { next_version: 4 }
        );
        let err = decide("s", ExpectedVersion::Exact(2), 3, &ids, &[]).unwrap_err();
        assert!(
            matches!(err, StoreError::WrongExpectedVersion { actual: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_full_retry_returns_the_first_result_even_with_a_stale_expected_version() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let found = [existing(a, "s", 4, 10), existing(b, "s", 5, 11)];
        let d = decide("s", ExpectedVersion::Exact(3), 5, &[a, b], &found).unwrap();
        assert_eq!(
            d,
            Decision::AlreadyAppended(AppendResult {
                stream_version: 5,
                first_position: 10,
                last_position: 11,
                already_appended: true
            })
        );
    }

    #[test]
    fn partial_or_misplaced_retries_conflict() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let partial = decide("s", ExpectedVersion::Any, 4, &[a, b], &[existing(a, "s", 4, 10)]);
        assert!(matches!(partial, Err(StoreError::IdempotencyConflict { .. })));
        let other_stream = decide("s", ExpectedVersion::Any, 4, &[a], &[existing(a, "t", 1, 10)]);
        assert!(matches!(other_stream, Err(StoreError::IdempotencyConflict { .. })));
        let swapped = [existing(a, "s", 5, 11), existing(b, "s", 4, 10)];
        assert!(decide("s", ExpectedVersion::Any, 5, &[a, b], &swapped).is_err());
    }
}
