//! The audit trail: every security-relevant command (`CommandClass::is_security_relevant`:
//! data loss, management loss, lock, credential, installation) with who asked for it and why,
//! the device it went to as it was then, the times of queue, push, delivery and result, and the
//! device's raw answer. Keyed like the command status (`<enrollment>/<CommandUUID>`). Refused
//! enrollments (`EnrollmentRefused`, an attempt to take a device over with another identity)
//! are entries too, keyed `<enrollment>/refused-<position>`, with status `refused`; so are
//! administrative actions (an API key or enrollment token created or revoked, a push
//! certificate installed), keyed `<stream>/<EventType>-<position>`, class `administration`,
//! status `recorded`, with who did it and what it was done to (`subject`).
//!
//! The trail folds from the events alone: it follows each audited command's progress by the
//! rules the command status follows (`commands/progress.rs`) and keeps, per enrollment,
//! the device's UDID and serial number (`DeviceIds`, the inventory's rules) to record with each
//! entry. Those are documents of this model too, keyed by the bare enrollment key: enrollment
//! keys never contain `/`, so no entry's key is one. They have no tag, so the queries over
//! stored entries (by tag, the queued position) never meet them.

mod fold;
mod query;

use std::collections::BTreeMap;

use annal_schemas::events::command::{CancelReason, ErrorChainItem, ErrorReason};
use chrono::{DateTime, Utc};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

use crate::commands::CommandState;
use crate::devices::ids::DeviceIds;
use crate::docs::{plain_document, DocStore};
use crate::Change;

pub use query::AuditFilter;

/// The device's answer as recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "encoding", content = "body", rename_all = "snake_case")]
pub enum RawAnswer {
    /// An XML plist, as the device sent it.
    Xml(String),
    /// A binary plist (or bytes that are not UTF-8), base64.
    Base64(String),
    /// Stored sealed because it carried a secret (an UnlockToken, a bypass code): not shown.
    Sealed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub enrollment: String,
    pub command_uuid: String,
    pub request_type: String,
    pub class: String,
    /// The device's UDID and serial number when the command was queued.
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    pub requester: String,
    pub reason: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub queued_position: u64,
    pub pushed_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the command left the queue: the device's result, a cancellation or expiry.
    pub result_at: Option<DateTime<Utc>>,
    pub status: CommandState,
    pub error_chain: Vec<ErrorChainItem>,
    pub cancel_reason: Option<CancelReason>,
    /// Who cancelled it (an API key's name, or `system`) and why, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_note: Option<String>,
    /// Set when Annal ended the command as an error itself (`unparseable_report`).
    #[serde(default)]
    pub error_reason: Option<ErrorReason>,
    pub answer: Option<RawAnswer>,
    /// Global position of the event holding the device's answer.
    pub result_position: Option<u64>,
    /// A refused enrollment (`request_type` EnrollmentRefused): the certificate that asked,
    /// and the one the enrollment is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_fingerprint_sha256: Option<String>,
    /// An administrative action (`class` administration): what it was done to, e.g. `admin key
    /// "alice" (K1)` or the push certificate's topic, fingerprint and expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

// Settled with its command; indexed by queued position, the trail's order, zero-padded so the
// database orders the text as the numbers.
plain_document!(
    AuditEntry,
    settled: |e: &AuditEntry| !e.status.is_pending(),
    tag: |e: &AuditEntry, _: &str| Some(audit_tag(e.queued_position))
);

/// The read-model database's index of an audit entry: its queued position, ordered as text.
pub fn audit_tag(queued_position: u64) -> String {
    format!("{queued_position:020}")
}

/// The audit trail projection.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    docs: DocStore<AuditEntry>,
    /// The UDID and serial number of each enrollment that has checked in, by enrollment key.
    devices: DocStore<DeviceIds>,
    /// The CommandUUIDs of each enrollment's pending entries (a push is a step of each); only
    /// enrollments that have one are listed. Pending entries are never evicted, so a restart
    /// rebuilds this from the entries it restores.
    pending: HashMap<String, Vec<String>>,
    /// Document keys by queued position: the trail's order.
    by_position: BTreeMap<u64, String>,
    scratch: String,
}

impl AuditTrail {
    pub const NAME: &'static str = "audit";
    /// 3: folded from the events alone, with the devices' identifiers as documents.
    pub const VERSION: u32 = 4;

    pub(crate) fn drain(&mut self, out: &mut Vec<Change>) {
        let start = out.len();
        self.docs.drain(Self::NAME, Self::VERSION, out);
        self.devices.drain(Self::NAME, Self::VERSION, out);
        // One model's documents come out in key order, whichever store holds them.
        out[start..].sort_by(|a, b| a.key.cmp(&b.key));
    }

    pub(crate) fn snapshot(&self, out: &mut Vec<Change>) {
        let start = out.len();
        self.docs.snapshot(Self::NAME, Self::VERSION, out);
        self.devices.snapshot(Self::NAME, Self::VERSION, out);
        out[start..].sort_by(|a, b| a.key.cmp(&b.key));
    }

    /// Drops a persisted settled entry from memory: no step moves it any more, so the trail
    /// folds on without it.
    pub(crate) fn evict(&mut self, key: &str) {
        if self.docs.get(key).is_none_or(|e| e.status.is_pending()) {
            return;
        }
        let old = self.docs.evict(key);
        self.reindex(key, old);
    }

    pub fn get(&self, enrollment: &str, command_uuid: &str) -> Option<&AuditEntry> {
        self.docs.get(&crate::commands::command_key(enrollment, command_uuid))
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }
}
