//! Push health: per enrollment, the latest APNs push and its outcome, failure counts, dead
//! tokens, and whether the device has answered since it was last pushed.

use annal_schemas::Event;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::context::{Context, Input};
use crate::docs::{DocStore, Document};
use crate::{Change, Page, ProjectionError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    pub enrollment: String,
    /// The latest push attempt.
    pub last_push_at: Option<DateTime<Utc>>,
    /// `accepted`, or `failed <HTTP status> <APNs reason>` (status 0: no answer arrived).
    pub last_push_outcome: Option<String>,
    pub pushes: u64,
    pub failures: u64,
    /// Failures since the last accepted push.
    pub consecutive_failures: u32,
    /// APNs said the token is dead (Unregistered, BadDeviceToken); a TokenUpdate clears it.
    pub token_dead: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub pending_commands: usize,
    /// Pushed after the device was last seen.
    pub unanswered: bool,
    /// The first push the device has not answered yet: how long it has been silent.
    pub unanswered_since: Option<DateTime<Utc>>,
}

/// The latest push's outcome, as memory keeps it.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    None,
    Accepted,
    /// `failed <HTTP status> <APNs reason>`.
    Failed(Box<str>),
}

/// A [`PushRecord`] as memory keeps it: the enrollment is the document's key.
#[derive(Debug, Clone, PartialEq)]
struct PushDoc {
    last_push_at: Option<DateTime<Utc>>,
    outcome: Outcome,
    pushes: u64,
    failures: u64,
    consecutive_failures: u32,
    token_dead: bool,
    unanswered: bool,
    pending_commands: u32,
    last_seen_at: Option<DateTime<Utc>>,
    unanswered_since: Option<DateTime<Utc>>,
}

impl PushDoc {
    fn new() -> Self {
        Self {
            last_push_at: None,
            outcome: Outcome::None,
            pushes: 0,
            failures: 0,
            consecutive_failures: 0,
            token_dead: false,
            unanswered: false,
            pending_commands: 0,
            last_seen_at: None,
            unanswered_since: None,
        }
    }

    fn seen(&mut self, at: DateTime<Utc>) {
        self.last_seen_at = Some(at);
        self.unanswered = false;
        self.unanswered_since = None;
    }

    fn to_record(&self, key: &str) -> PushRecord {
        PushRecord {
            enrollment: key.to_owned(),
            last_push_at: self.last_push_at,
            last_push_outcome: match &self.outcome {
                Outcome::None => None,
                Outcome::Accepted => Some(ACCEPTED.to_owned()),
                Outcome::Failed(f) => Some(f.to_string()),
            },
            pushes: self.pushes,
            failures: self.failures,
            consecutive_failures: self.consecutive_failures,
            token_dead: self.token_dead,
            last_seen_at: self.last_seen_at,
            pending_commands: self.pending_commands as usize,
            unanswered: self.unanswered,
            unanswered_since: self.unanswered_since,
        }
    }

    fn from_record(r: &PushRecord) -> Self {
        Self {
            last_push_at: r.last_push_at,
            outcome: match r.last_push_outcome.as_deref() {
                None => Outcome::None,
                Some(ACCEPTED) => Outcome::Accepted,
                Some(other) => Outcome::Failed(other.into()),
            },
            pushes: r.pushes,
            failures: r.failures,
            consecutive_failures: r.consecutive_failures,
            token_dead: r.token_dead,
            unanswered: r.unanswered,
            pending_commands: u32::try_from(r.pending_commands).unwrap_or(u32::MAX),
            last_seen_at: r.last_seen_at,
            unanswered_since: r.unanswered_since,
        }
    }
}

const ACCEPTED: &str = "accepted";

impl Document for PushDoc {
    fn to_json(&self, key: &str) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self.to_record(key))
    }

    fn from_json(_key: &str, value: &serde_json::Value) -> serde_json::Result<Self> {
        Ok(Self::from_record(&PushRecord::deserialize(value)?))
    }
}

/// The push health projection.
#[derive(Debug, Clone, Default)]
pub struct PushHealth {
    docs: DocStore<PushDoc>,
}

impl PushHealth {
    pub const NAME: &'static str = "push";
    pub const VERSION: u32 = 1;

    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        let new = PushDoc::new;
        match input {
            Input::Push { accepted: false } => self.docs.upsert(cx.key, new, |p| {
                p.pushes += 1;
                p.last_push_at = Some(cx.at);
                p.unanswered = true;
                p.unanswered_since.get_or_insert(cx.at);
            }),
            Input::Push { accepted: true } => self.docs.upsert(cx.key, new, |p| {
                p.outcome = Outcome::Accepted;
                p.consecutive_failures = 0;
            }),
            Input::Event(Event::PushFailed(e)) => self.docs.upsert(cx.key, new, |p| {
                p.outcome = Outcome::Failed(format!("failed {} {}", e.status, e.reason).into());
                p.failures += 1;
                p.consecutive_failures += 1;
                p.token_dead |= e.token_dead;
            }),
            // From its first TokenUpdate an enrollment can be pushed, so it has push health.
            Input::Event(Event::TokenUpdate(_)) => self.docs.upsert(cx.key, new, |p| {
                p.token_dead = false;
                p.seen(cx.at);
            }),
            _ if input.is_device_message() => {
                if let Some(p) = self.docs.update(cx.key) {
                    p.seen(cx.at);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn set_pending(&mut self, enrollment: &str, count: usize) {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if self.docs.get(enrollment).is_some_and(|p| p.pending_commands != count) {
            if let Some(p) = self.docs.update(enrollment) {
                p.pending_commands = count;
            }
        }
    }

    pub fn get(&self, enrollment: &str) -> Option<PushRecord> {
        self.docs.get(enrollment).map(|p| p.to_record(enrollment))
    }

    /// Enrollments whose push token APNs declared dead, in key order.
    pub fn token_dead(&self, after: Option<&str>, limit: usize) -> Page<PushRecord> {
        self.docs
            .page(after, limit, |p| p.token_dead, |key, p| p.to_record(key))
    }

    /// Enrollments pushed and silent since for longer than `longer_than` at `now`, in key order.
    pub fn silent(
        &self,
        now: DateTime<Utc>,
        longer_than: TimeDelta,
        after: Option<&str>,
        limit: usize,
    ) -> Page<PushRecord> {
        self.docs.page(
            after,
            limit,
            |p| p.unanswered_since.is_some_and(|t| now - t > longer_than),
            |key, p| p.to_record(key),
        )
    }

    /// Enrollments with pending commands, a live token, and neither a push nor a request from the
    /// device for `interval`: a periodic re-push wakes them (a push can be lost on the way).
    pub fn due_for_repush(
        &self,
        now: DateTime<Utc>,
        interval: TimeDelta,
        after: Option<&str>,
        limit: usize,
    ) -> Page<PushRecord> {
        let quiet = |t: Option<DateTime<Utc>>| t.is_none_or(|t| now - t >= interval);
        self.docs.page(
            after,
            limit,
            |p| p.pending_commands > 0 && !p.token_dead && quiet(p.last_push_at) && quiet(p.last_seen_at),
            |key, p| p.to_record(key),
        )
    }

    pub(crate) fn drain(&mut self, out: &mut Vec<Change>) {
        self.docs.drain(Self::NAME, Self::VERSION, out);
    }

    pub(crate) fn snapshot(&self, out: &mut Vec<Change>) {
        self.docs.snapshot(Self::NAME, Self::VERSION, out);
    }

    pub(crate) fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        self.docs
            .restore(Self::NAME, &change.key, change.doc.as_ref())
            .map(drop)
    }
}
