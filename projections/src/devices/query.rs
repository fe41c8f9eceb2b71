//! Inventory queries: filters and cursor pagination in enrollment-key order.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::compact::DeviceDoc;
use super::{Device, DeviceState, Inventory};
use crate::Page;

/// Every set field must match; an empty filter matches every device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceFilter {
    pub state: Option<DeviceState>,
    /// Case-insensitive substring of `model`, `model_name` or `product_name`.
    pub model: Option<String>,
    /// Prefix of `os_version` (`17` matches `17.4.1`).
    pub os_version_prefix: Option<String>,
    pub serial_number: Option<String>,
    pub topic: Option<String>,
    /// Last seen strictly before this time (never-seen devices match too: they are silent).
    pub last_seen_before: Option<DateTime<Utc>>,
    /// Last seen at or after this time.
    pub last_seen_after: Option<DateTime<Utc>>,
    /// Substring of the identity certificate's issuer name (a CA rotation is done when no
    /// device matches the old CA's name).
    pub identity_issuer: Option<String>,
    /// Identity certificate expiring strictly before this time.
    pub identity_expires_before: Option<DateTime<Utc>>,
    /// Only these enrollments: what another model chose, such as the devices carrying an admin
    /// tag, joined here so paging stays in key order.
    pub keys: Option<BTreeSet<String>>,
}

/// The fields a filter reads, borrowed from either form of a device.
struct Facts<'a> {
    state: DeviceState,
    serial_number: Option<&'a str>,
    topic: Option<&'a str>,
    os_version: Option<&'a str>,
    models: [Option<&'a str>; 3],
    last_seen_at: Option<DateTime<Utc>>,
    certificate: Option<(&'a str, DateTime<Utc>)>,
}

impl DeviceFilter {
    fn matches_doc(&self, d: &DeviceDoc, model_needle: Option<&str>) -> bool {
        let facts = Facts {
            state: d.state,
            serial_number: d.ids.serial_number(),
            topic: d.topic.as_deref(),
            os_version: d.os_version.as_deref(),
            models: [d.model.as_deref(), d.model_name.as_deref(), d.product_name.as_deref()],
            last_seen_at: d.last_seen_at,
            certificate: d.certificate_facts(),
        };
        self.matches_facts(&facts, model_needle)
    }

    fn matches_facts(&self, d: &Facts<'_>, model_needle: Option<&str>) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == have);
        self.state.is_none_or(|s| s == d.state)
            && eq(&self.serial_number, d.serial_number)
            && eq(&self.topic, d.topic)
            && self
                .os_version_prefix
                .as_ref()
                .is_none_or(|p| d.os_version.is_some_and(|v| v.starts_with(p.as_str())))
            && model_needle.is_none_or(|needle| {
                d.models
                    .into_iter()
                    .flatten()
                    .any(|v| v.to_lowercase().contains(needle))
            })
            && self
                .last_seen_before
                .is_none_or(|t| d.last_seen_at.is_none_or(|seen| seen < t))
            && self
                .last_seen_after
                .is_none_or(|t| d.last_seen_at.is_some_and(|seen| seen >= t))
            && self
                .identity_issuer
                .as_deref()
                .is_none_or(|want| d.certificate.is_some_and(|(issuer, _)| issuer.contains(want)))
            && self
                .identity_expires_before
                .is_none_or(|t| d.certificate.is_some_and(|(_, not_after)| not_after < t))
    }
}

impl Inventory {
    /// Up to `limit` devices matching `filter` with keys after `after`, in key order; pass the
    /// page's `next` as `after` to read on.
    pub fn list(&self, filter: &DeviceFilter, after: Option<&str>, limit: usize) -> Page<Device> {
        let needle = filter.model.as_ref().map(|m| m.to_lowercase());
        if let Some(keys) = &filter.keys {
            return self.list_keys(keys, filter, needle.as_deref(), after, limit);
        }
        self.docs.page(
            after,
            limit,
            |d| filter.matches_doc(d, needle.as_deref()),
            |key, d| d.to_device(key),
        )
    }

    /// As `list`, walking the given keys rather than the whole inventory.
    fn list_keys(
        &self,
        keys: &BTreeSet<String>,
        filter: &DeviceFilter,
        needle: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Page<Device> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let matching = keys
            .range::<str, _>((start, Bound::Unbounded))
            .filter_map(|k| self.docs.get(k).map(|d| (k, d)))
            .filter(|(_, d)| filter.matches_doc(d, needle));
        crate::docs::take_page(matching, limit, |k, d| d.to_device(k))
    }
}
