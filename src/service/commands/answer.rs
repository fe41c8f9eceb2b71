//! What an enqueue answers: each target's outcome, and one overall verdict a client that
//! reads only the status can act on. The verdict is decided here; the HTTP edge only maps it
//! to 200 / 207 / 503.

use std::collections::{BTreeMap, BTreeSet};

use crate::service::admin::AdminError;

/// What one enrollment did with the command.
#[derive(Debug)]
pub enum TargetOutcome {
    /// Queued; `duplicate` when an earlier enqueue with the same idempotency key did it (then
    /// `command_uuid` is that earlier command's).
    Queued {
        command_uuid: String,
        duplicate: bool,
    },
    Refused(AdminError),
}

impl TargetOutcome {
    pub fn is_queued(&self) -> bool {
        matches!(self, TargetOutcome::Queued { .. })
    }
}

/// The request as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// Every enrollment took the command.
    AllQueued,
    /// Some did not: the per-target outcomes say which, and why.
    Partial,
    /// None did, because the store is unavailable: the whole request is worth retrying, and a
    /// client that sees only the status must not take it for a partial success.
    Unavailable,
}

impl Overall {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a TargetOutcome>) -> Overall {
        let (mut queued, mut refused, mut unavailable) = (0, 0, 0);
        for outcome in outcomes {
            match outcome {
                TargetOutcome::Queued { .. } => queued += 1,
                TargetOutcome::Refused(e) if e.is_unavailable() => unavailable += 1,
                TargetOutcome::Refused(_) => refused += 1,
            }
        }
        match (queued, refused, unavailable) {
            (_, 0, 0) => Overall::AllQueued,
            (0, 0, _) => Overall::Unavailable,
            _ => Overall::Partial,
        }
    }
}

/// Whether the enrollments that took the command were asked to be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRequest {
    NotRequested,
    /// Wanted, but no push certificate is installed: said plainly rather than skipped.
    NotConfigured,
    Requested,
}

#[derive(Debug)]
pub struct EnqueueResult {
    /// The command the answer names: when every enrollment already had it (an idempotent
    /// retry), the one that was queued, not the one this request proposed.
    pub command_uuid: String,
    pub request_type: String,
    pub outcomes: BTreeMap<String, TargetOutcome>,
    pub overall: Overall,
    pub push: PushRequest,
}

impl EnqueueResult {
    pub fn new(proposed_uuid: String, request_type: String, outcomes: BTreeMap<String, TargetOutcome>) -> Self {
        let overall = Overall::of(outcomes.values());
        let queued: BTreeSet<&str> = outcomes
            .values()
            .filter_map(|o| match o {
                TargetOutcome::Queued { command_uuid, .. } => Some(command_uuid.as_str()),
                TargetOutcome::Refused(_) => None,
            })
            .collect();
        let command_uuid = match (queued.len(), queued.first()) {
            (1, Some(only)) if outcomes.values().all(TargetOutcome::is_queued) => only.to_string(),
            _ => proposed_uuid,
        };
        Self {
            command_uuid,
            request_type,
            outcomes,
            overall,
            push: PushRequest::NotRequested,
        }
    }

    /// The enrollments that took the command (the ones to push).
    pub fn queued(&self) -> impl Iterator<Item = &str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_queued())
            .map(|(id, _)| id.as_str())
    }
}
