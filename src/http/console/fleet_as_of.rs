//! The device list as the log knew the fleet at a past point: each enrollment refolded from its
//! own stream up to that point, through the same "as of" read as `GET /v1/devices/{id}` with
//! `as_of_position` or `as_of_time` (`Queries::device`), and the search applied to what it was
//! then (its state, name, model, OS, serial number, last contact).
//!
//! The enrollments are walked in key order from the inventory, which never forgets one (a
//! checked-out or forgotten device stays in it), so every enrollment the log had then is
//! among them; one not enrolled yet at that point is left out. Refolding costs a read of each
//! enrollment's stream, so a request reads at most [`SCAN`] of them and the page says where
//! it stopped (its "Next page" reads on), as the name search does.

use annal_projections::devices::{Device, DeviceFilter, DeviceState};
use annal_projections::AsOf;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};

use crate::http::AppState;
use crate::readmodel::QueryError;

/// Enrollments refolded per request at most.
pub const SCAN: usize = 200;
/// Enrollments read from the inventory per round.
const ROUND: usize = 25;
/// Enrollments refolded at once.
const PARALLEL: usize = 8;

/// The search, applied to each device as it was then.
#[derive(Debug, Default)]
pub struct Wanted {
    pub state: Option<DeviceState>,
    /// Lowercase; a substring of the model, model name or product name.
    pub model: Option<String>,
    pub os_prefix: Option<String>,
    pub serial: Option<String>,
    /// Lowercase; a substring of the device's name.
    pub name: Option<String>,
    /// No contact for this many days before the point (before now for a log position, whose
    /// time is not known here).
    pub quiet_days: Option<i64>,
    /// Only this enrollment (the UDID field).
    pub udid: Option<String>,
}

impl Wanted {
    fn matches(&self, d: &Device, quiet_before: Option<DateTime<Utc>>) -> bool {
        let contains = |have: Option<&str>, needle: &str| have.is_some_and(|h| h.to_lowercase().contains(needle));
        self.state.is_none_or(|s| s == d.state)
            && self
                .serial
                .as_deref()
                .is_none_or(|s| d.serial_number.as_deref() == Some(s))
            && self
                .os_prefix
                .as_deref()
                .is_none_or(|p| d.os_version.as_deref().is_some_and(|v| v.starts_with(p)))
            && self.model.as_deref().is_none_or(|m| {
                [&d.model, &d.model_name, &d.product_name]
                    .into_iter()
                    .any(|v| contains(v.as_deref(), m))
            })
            && self
                .name
                .as_deref()
                .is_none_or(|n| contains(d.device_name.as_deref(), n))
            && quiet_before.is_none_or(|t| d.last_seen_at.is_none_or(|seen| seen < t))
    }
}

/// One page of the fleet as of then.
#[derive(Debug)]
pub struct Then {
    pub devices: Vec<Device>,
    /// The enrollment key to read on after; `None` when the inventory is exhausted.
    pub next: Option<String>,
    /// Enrollments refolded for this page.
    pub read: usize,
}

/// Up to `limit` devices as of `point` matching `wanted`, with enrollment keys after `after`.
pub async fn page(
    app: &AppState,
    wanted: &Wanted,
    point: AsOf,
    after: Option<&str>,
    limit: usize,
) -> Result<Then, QueryError> {
    let queries = app.queries();
    let quiet_before = wanted.quiet_days.map(|days| {
        let reference = match point {
            AsOf::Time(t) => t,
            AsOf::Position(_) => Utc::now(),
        };
        reference - chrono::Duration::days(days)
    });
    let keys = DeviceFilter {
        keys: wanted.udid.clone().map(|u| std::collections::BTreeSet::from([u])),
        ..DeviceFilter::default()
    };
    let mut cursor = after.map(str::to_string);
    let mut found = Vec::new();
    let mut read = 0usize;
    loop {
        let round = queries.devices(&keys, cursor.as_deref(), ROUND).await.value;
        let exhausted = round.next.is_none();
        let enrollments: Vec<String> = round.items.into_iter().map(|d| d.enrollment).collect();
        let then: Vec<Result<Option<Device>, QueryError>> = stream::iter(enrollments.clone())
            .map(|key| async move { queries.device(&key, Some(point)).await })
            .buffered(PARALLEL)
            .collect()
            .await;
        for (key, device) in enrollments.iter().zip(then) {
            read += 1;
            cursor = Some(key.clone());
            if let Some(device) = device? {
                if wanted.matches(&device, quiet_before) {
                    found.push(device);
                }
            }
            if found.len() == limit || read >= SCAN {
                return Ok(Then {
                    devices: found,
                    next: cursor,
                    read,
                });
            }
        }
        if exhausted {
            return Ok(Then {
                devices: found,
                next: None,
                read,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str, seen: Option<DateTime<Utc>>) -> Device {
        let mut d: Device = serde_json::from_value(serde_json::json!({
            "enrollment": "U1",
            "channel": "device",
            "state": "enrolled",
            "generation": 1,
            "token_dead": false,
            "pending_commands": 0,
            "query_responses": {},
        }))
        .expect("a device document");
        d.device_name = Some(name.to_string());
        d.os_version = Some("17.4.1".into());
        d.product_name = Some("iPad13,18".into());
        d.last_seen_at = seen;
        d
    }

    #[test]
    fn the_search_applies_to_the_device_as_it_was() {
        let now = Utc::now();
        let d = device("Front Desk", Some(now - chrono::Duration::days(3)));
        assert!(Wanted::default().matches(&d, None));
        let by_name = Wanted {
            name: Some("desk".into()),
            os_prefix: Some("17".into()),
            model: Some("ipad13".into()),
            state: Some(DeviceState::Enrolled),
            ..Wanted::default()
        };
        assert!(by_name.matches(&d, None));
        let other_os = Wanted {
            os_prefix: Some("18".into()),
            ..Wanted::default()
        };
        assert!(!other_os.matches(&d, None));
        let checked_out = Wanted {
            state: Some(DeviceState::CheckedOut),
            ..Wanted::default()
        };
        assert!(!checked_out.matches(&d, None));
        // Quiet: seen 3 days ago is quiet for 2 days, not for 7.
        assert!(Wanted::default().matches(&d, Some(now - chrono::Duration::days(2))));
        assert!(!Wanted::default().matches(&d, Some(now - chrono::Duration::days(7))));
    }
}
