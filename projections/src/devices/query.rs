//! Inventory queries: filters and cursor pagination in enrollment-key order.

use chrono::{DateTime, Utc};

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
}

impl DeviceFilter {
    pub fn matches(&self, d: &Device) -> bool {
        let model_needle = self.model.as_ref().map(|m| m.to_lowercase());
        self.matches_with(d, model_needle.as_deref())
    }

    fn matches_with(&self, d: &Device, model_needle: Option<&str>) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        self.state.is_none_or(|s| s == d.state)
            && eq(&self.serial_number, &d.serial_number)
            && eq(&self.topic, &d.topic)
            && self
                .os_version_prefix
                .as_ref()
                .is_none_or(|p| d.os_version.as_ref().is_some_and(|v| v.starts_with(p.as_str())))
            && model_needle.is_none_or(|needle| {
                [&d.model, &d.model_name, &d.product_name]
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
    }
}

impl Inventory {
    /// Up to `limit` devices matching `filter` with keys after `after`, in key order; pass the
    /// page's `next` as `after` to read on.
    pub fn list(&self, filter: &DeviceFilter, after: Option<&str>, limit: usize) -> Page<Device> {
        let needle = filter.model.as_ref().map(|m| m.to_lowercase());
        self.docs
            .page(after, limit, |d| filter.matches_with(d, needle.as_deref()))
    }
}
