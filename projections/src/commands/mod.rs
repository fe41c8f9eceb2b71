//! Command queues and command status: one document per queued command, keyed
//! `<enrollment key>/<CommandUUID>`, following it from queued through pushes, deliveries and
//! NotNow answers to its result, cancellation or expiry.

mod fold;
pub(crate) mod progress;
mod query;

use annal_schemas::events::command::{CancelReason, ErrorChainItem, ErrorReason};
use chrono::{DateTime, Utc};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

use crate::docs::{plain_document, DocStore};
use crate::Change;

pub use query::FanOut;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Waiting to be fetched by the device.
    Queued,
    /// Handed to the device, no answer yet.
    Delivered,
    /// The device answered NotNow; it stays queued.
    NotNow,
    Acknowledged,
    Error,
    CommandFormatError,
    Cancelled,
    Expired,
    /// Audit trail only: not a command but a refused enrollment (`EnrollmentRefused`), an
    /// attempt to take a device over with another identity.
    Refused,
    /// Audit trail only: an administrative action (an API key or enrollment token created or
    /// revoked, a push certificate installed), done when recorded.
    Recorded,
}

impl CommandState {
    /// Still in the device's queue.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            CommandState::Queued | CommandState::Delivered | CommandState::NotNow
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Delivered => "delivered",
            CommandState::NotNow => "not_now",
            CommandState::Acknowledged => "acknowledged",
            CommandState::Error => "error",
            CommandState::CommandFormatError => "command_format_error",
            CommandState::Cancelled => "cancelled",
            CommandState::Expired => "expired",
            CommandState::Refused => "refused",
            CommandState::Recorded => "recorded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandStatus {
    pub enrollment: String,
    pub command_uuid: String,
    pub request_type: String,
    /// `CommandClass::as_str` of the request type.
    pub class: String,
    /// Who queued it (`api-key:<name>`, `system`).
    pub requester: String,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub generation: u64,
    pub queued_at: DateTime<Utc>,
    pub queued_position: u64,
    pub expires_at: Option<DateTime<Utc>>,
    /// The latest push to the device after it was queued and before it was first delivered.
    pub pushed_at: Option<DateTime<Utc>>,
    /// The first delivery.
    pub delivered_at: Option<DateTime<Utc>>,
    pub deliveries: u32,
    pub not_now_count: u32,
    pub last_not_now_at: Option<DateTime<Utc>>,
    pub status: CommandState,
    /// When it left the queue: its result, cancellation or expiry.
    pub completed_at: Option<DateTime<Utc>>,
    /// Global position of the result event (Acknowledged, Error, CommandFormatError).
    pub result_position: Option<u64>,
    pub error_chain: Vec<ErrorChainItem>,
    pub cancel_reason: Option<CancelReason>,
    /// Who cancelled it (an API key's name, or `system`) and why, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_note: Option<String>,
    /// Set when Annal ended the command as an error itself (`unparseable_report`: the device's
    /// answer could not be read), with what could not be read in `error_detail`.
    #[serde(default)]
    pub error_reason: Option<ErrorReason>,
    #[serde(default)]
    pub error_detail: Option<String>,
}

// A command out of the queue is final: persisted, it may leave memory (queries then read it
// from the read-model database, found by its CommandUUID).
plain_document!(
    CommandStatus,
    settled: |c: &CommandStatus| !c.status.is_pending(),
    tag: |c: &CommandStatus, _: &str| Some(c.command_uuid.clone())
);

/// The command status projection.
#[derive(Debug, Clone, Default)]
pub struct Commands {
    docs: DocStore<CommandStatus>,
    /// Pending CommandUUIDs per enrollment, in queue order (queued position).
    queues: HashMap<String, Vec<(u64, String)>>,
    /// Enrollments that have a command with this CommandUUID (a fan-out has many).
    by_uuid: HashMap<String, Vec<String>>,
    /// Reused buffer for document keys, so finding a command allocates nothing.
    scratch: String,
}

impl Commands {
    pub const NAME: &'static str = "commands";
    pub const VERSION: u32 = 3;

    pub(crate) fn drain(&mut self, out: &mut Vec<Change>) {
        self.docs.drain(Self::NAME, Self::VERSION, out);
    }

    pub(crate) fn snapshot(&self, out: &mut Vec<Change>) {
        self.docs.snapshot(Self::NAME, Self::VERSION, out);
    }

    /// Drops a persisted settled command from memory.
    pub(crate) fn evict(&mut self, key: &str) {
        if self.docs.get(key).is_none_or(|c| c.status.is_pending()) {
            return;
        }
        if let Some(old) = self.docs.evict(key) {
            self.reindex(Some(&old), &old.enrollment, &old.command_uuid, None, false);
        }
    }
}

/// The document key of a command: enrollment keys never contain `/`, so the first `/` splits it.
pub fn command_key(enrollment: &str, command_uuid: &str) -> String {
    let mut key = String::with_capacity(enrollment.len() + 1 + command_uuid.len());
    write_key(&mut key, enrollment, command_uuid);
    key
}

pub(crate) fn write_key(buf: &mut String, enrollment: &str, command_uuid: &str) {
    buf.clear();
    buf.push_str(enrollment);
    buf.push('/');
    buf.push_str(command_uuid);
}
