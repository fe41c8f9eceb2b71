//! Audit trail queries, in the order the commands were queued.

use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::{AuditEntry, AuditTrail};
use crate::Page;

/// Every set field must match; an empty filter matches every entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub request_type: Option<String>,
    /// Who queued it (`api-key:<name>`).
    pub requester: Option<String>,
    /// An enrollment key, or a UDID (which also matches that device's user channels).
    pub device: Option<String>,
    /// Queued at or after.
    pub queued_from: Option<DateTime<Utc>>,
    /// Queued strictly before.
    pub queued_until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.request_type, &e.request_type)
            && eq(&self.requester, &e.requester)
            && self.device.as_deref().is_none_or(|d| {
                e.enrollment == d
                    || e.udid.as_deref() == Some(d)
                    || e.enrollment.strip_prefix(d).is_some_and(|rest| rest.starts_with(':'))
            })
            && self.queued_from.is_none_or(|t| e.queued_at >= t)
            && self.queued_until.is_none_or(|t| e.queued_at < t)
    }
}

impl AuditTrail {
    /// The document keys of the entries memory holds queued after position `after` (each newer
    /// than any stored copy), in queued order.
    pub fn keys_after(&self, after: Option<u64>) -> impl Iterator<Item = &str> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_position
            .range((start, Bound::Unbounded))
            .map(|(_, key)| key.as_str())
    }

    /// Up to `limit` entries matching `filter` queued after position `after`, oldest first; pass
    /// the page's `next` (a queued position) as `after` to read on.
    pub fn query(&self, filter: &AuditFilter, after: Option<u64>, limit: usize) -> Page<AuditEntry, u64> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = self
            .by_position
            .range((start, Bound::Unbounded))
            .filter_map(|(_, key)| self.docs.get(key))
            .filter(|e| filter.matches(e));
        let items: Vec<AuditEntry> = matching.by_ref().take(limit).cloned().collect();
        let more = limit > 0 && matching.next().is_some();
        Page {
            next: if more {
                items.last().map(|e| e.queued_position)
            } else {
                None
            },
            items,
        }
    }
}
