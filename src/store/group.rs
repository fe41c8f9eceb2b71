//! Group commit planning, shared by the SQLite and PostgreSQL writers.
//!
//! A writer takes every append waiting for it and commits them in one transaction. Planning is
//! pure: each request is decided in turn against the log as it stands *plus* the requests
//! planned before it in the same group (two appends to one stream in one group must see each
//! other), and the result is the list of events to insert, the new head and one outcome per
//! request. A request that fails its check fails alone; the others still commit.

use std::collections::HashMap;

use annal_schemas::{NewEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::rules::{decide, Decision, Existing};
use super::{AppendResult, ExpectedVersion, Head, StoreError};

/// One queued append and where to send its answer.
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// Hands an append to a backend's writer (`send` returns false when the writer is gone) and
/// waits for its answer, which comes after the group's commit.
pub async fn submit(
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    send: impl FnOnce(AppendRequest) -> bool,
) -> Result<AppendResult, StoreError> {
    super::check_append_input(stream, &events)?;
    let (reply, answer) = oneshot::channel();
    if !send(AppendRequest {
        stream: stream.to_string(),
        expected,
        events,
        reply,
    }) {
        return Err(StoreError::Unavailable("the store's writer has stopped".into()));
    }
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the store's writer dropped the append".into()))?
}

/// What the committed log already holds, as the backend can tell it.
pub trait LogLookup {
    fn existing(&mut self, ids: &[Uuid]) -> Result<Vec<Existing>, StoreError>;
    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError>;
}

pub struct GroupPlan {
    pub events: Vec<RecordedEvent>,
    pub head: Head,
    pub outcomes: Vec<Result<AppendResult, StoreError>>,
    pub replies: Vec<oneshot::Sender<Result<AppendResult, StoreError>>>,
}

impl GroupPlan {
    /// Sends every answer; call only after the group's transaction committed (or with the
    /// transaction's error when it did not).
    pub fn answer(self, commit: Result<(), StoreError>) {
        for (reply, outcome) in self.replies.into_iter().zip(self.outcomes) {
            let answer = match &commit {
                Ok(()) => outcome,
                Err(e) => Err(StoreError::Unavailable(format!("the append's transaction failed: {e}"))),
            };
            let _ = reply.send(answer);
        }
    }
}

pub fn plan_group(
    group: Vec<AppendRequest>,
    mut head: Head,
    recorded_at: DateTime<Utc>,
    lookup: &mut impl LogLookup,
) -> GroupPlan {
    let mut planned_versions: HashMap<String, u64> = HashMap::new();
    let mut planned_ids: HashMap<Uuid, Existing> = HashMap::new();
    let mut plan = GroupPlan {
        events: Vec::new(),
        head,
        outcomes: Vec::new(),
        replies: Vec::new(),
    };
    for request in group {
        // Its caller stopped waiting (a request that timed out, a client that hung up) before
        // its group was planned: it was told nothing was written, so nothing is. (A caller that
        // gives up while its group commits cannot be told either way.)
        if request.reply.is_closed() {
            continue;
        }
        let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id).collect();
        let mut existing: Vec<Existing> = ids.iter().filter_map(|id| planned_ids.get(id).cloned()).collect();
        // A failed lookup fails this request only; nothing of it is written.
        let decision = lookup.existing(&ids).and_then(|found| {
            existing.extend(found);
            let current = match planned_versions.get(&request.stream) {
                Some(v) => *v,
                None => lookup.stream_version(&request.stream)?,
            };
            decide(&request.stream, request.expected, current, &ids, &existing)
        });
        let outcome = match decision {
            Err(e) => Err(e),
            Ok(Decision::AlreadyAppended(result)) => Ok(result),
            Ok(Decision::Write { next_version }) => {
                let first_position = head.position + 1;
                let count = request.events.len() as u64;
                for (i, new) in request.events.into_iter().enumerate() {
                    let version = next_version + i as u64;
                    let event = RecordedEvent::place(
                        new,
                        &request.stream,
                        version,
                        head.position + 1,
                        recorded_at,
                        &head.hash,
                    );
                    head = Head {
                        position: event.global_position,
                        hash: event.hash,
                    };
                    planned_ids.insert(
                        event.event_id,
                        Existing {
                            event_id: event.event_id,
                            stream: request.stream.clone(),
                            stream_version: version,
                            global_position: event.global_position,
                        },
                    );
                    plan.events.push(event);
                }
                let last_version = next_version + count - 1;
                planned_versions.insert(request.stream.clone(), last_version);
                Ok(AppendResult {
                    stream_version: last_version,
                    first_position,
                    last_position: head.position,
                    already_appended: false,
                })
            }
        };
        plan.outcomes.push(outcome);
        plan.replies.push(request.reply);
    }
    plan.head = head;
    plan
}

/// Bounds a group so one commit never holds more than this many events in memory.
const MAX_GROUP_EVENTS: usize = 10_000;

/// Takes the first request and then whatever else is already waiting, up to a bound.
pub fn gather(first: AppendRequest, mut next: impl FnMut() -> Option<AppendRequest>) -> Vec<AppendRequest> {
    let mut events = first.events.len();
    let mut group = vec![first];
    while events < MAX_GROUP_EVENTS {
        match next() {
            Some(r) => {
                events += r.events.len();
                group.push(r);
            }
            None => break,
        }
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::GENESIS_HASH;

    struct Empty;
    impl LogLookup for Empty {
        fn existing(&mut self, _: &[Uuid]) -> Result<Vec<Existing>, StoreError> {
            Ok(Vec::new())
        }
        fn stream_version(&mut self, _: &str) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn request(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
        let (reply, answer) = oneshot::channel();
        // Someone waits for the answer.
        std::mem::forget(answer);
        AppendRequest {
            stream: stream.into(),
            expected,
            events,
            reply,
        }
    }

    #[test]
    fn an_append_nobody_waits_for_any_more_is_not_written() {
        let abandoned = AppendRequest {
            reply: oneshot::channel().0,
            ..request("a", ExpectedVersion::Any, vec![event()])
        };
        let group = vec![abandoned, request("b", ExpectedVersion::Any, vec![event()])];
        let head = Head {
            position: 0,
            hash: GENESIS_HASH,
        };
        let plan = plan_group(group, head, Utc::now(), &mut Empty);
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].stream, "b");
        assert_eq!(plan.events[0].global_position, 1);
        assert_eq!(plan.outcomes.len(), 1);
    }

    fn event() -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Idle".into(),
            schema_version: 1,
            actor: "t".into(),
            correlation_id: None,
            causation_id: None,
            data: b"{}".to_vec(),
            raw: None,
        }
    }

    #[test]
    fn requests_in_one_group_see_each_other() {
        let repeated = event();
        let group = vec![
            request("a", ExpectedVersion::NoStream, vec![event(), event()]),
            request("a", ExpectedVersion::Exact(2), vec![event()]),
            request("a", ExpectedVersion::Exact(2), vec![event()]),
            request("b", ExpectedVersion::Any, vec![repeated.clone()]),
            request("b", ExpectedVersion::Any, vec![repeated]),
        ];
        let head = Head {
            position: 0,
            hash: GENESIS_HASH,
        };
        let plan = plan_group(group, head, Utc::now(), &mut Empty);
        assert_eq!(plan.events.len(), 4);
        assert_eq!(plan.head.position, 4);
        assert_eq!(plan.outcomes[1].as_ref().unwrap().stream_version, 3);
        assert!(matches!(
            plan.outcomes[2],
            Err(StoreError::WrongExpectedVersion { actual: 3, .. })
        ));
        assert!(plan.outcomes[4].as_ref().unwrap().already_appended);
        assert_eq!(plan.outcomes[4].as_ref().unwrap().first_position, 4);
        let positions: Vec<u64> = plan.events.iter().map(|e| e.global_position).collect();
        assert_eq!(positions, vec![1, 2, 3, 4]);
        assert_eq!(plan.events[3].hash, plan.head.hash);
    }
}
