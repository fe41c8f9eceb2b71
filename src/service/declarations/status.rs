//! What the fleet's status reports say about the declarations: per device and declaration a
//! row (expected by its set, and what the device last reported of it), per declaration a
//! summary, and counts of the status items. Computed from the catalog and the inventory on
//! request, page by page, so 100,000 devices never sit in memory as rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Declarations, Facts, Reported};
use crate::domain::declarations::{Catalog, DeclSet, SetItem};
use crate::domain::groups::tags::TagBook;
use crate::domain::groups::GroupBook;
use crate::service::admin::{authorize, Action, AdminError, Caller};

/// Devices read from the inventory at a time.
const PAGE: usize = 2_000;

/// One declaration a device's set holds, and what the device last said of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRow {
    pub enrollment: String,
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    pub identifier: String,
    pub category: &'static str,
    /// The ServerToken of the declaration now.
    pub server_token: String,
    /// The ServerToken the device reported processing.
    pub reported_server_token: Option<String>,
    /// `pending` (no report names it), `stale` (reported for older content) or `reported`.
    pub state: &'static str,
    /// `valid`, `invalid` or `unknown`, as reported.
    pub valid: Option<String>,
    pub active: Option<bool>,
    pub reasons: Vec<String>,
    pub reported_at: Option<DateTime<Utc>>,
}

impl StatusRow {
    /// Whether the declaration is in force on the device: reported for its current content,
    /// valid and active.
    pub fn in_force(&self) -> bool {
        self.state == "reported" && self.valid.as_deref() == Some("valid") && self.active == Some(true)
    }
}

/// One declaration across the fleet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeclarationSummary {
    pub identifier: String,
    pub category: &'static str,
    /// Enrolled devices whose set holds it.
    pub devices: usize,
    pub pending: usize,
    pub stale: usize,
    pub valid: usize,
    pub invalid: usize,
    pub unknown: usize,
    pub active: usize,
    /// Reported for the current content and not active (why: `reasons`).
    pub inactive: usize,
    /// Reason codes and how many devices gave each.
    pub reasons: BTreeMap<String, usize>,
}

/// The fleet's DDM state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetStatus {
    /// Enrolled devices.
    pub devices: usize,
    /// Of them, those that ever reported a DDM status.
    pub reporting: usize,
    pub declarations: Vec<DeclarationSummary>,
    pub os_versions: BTreeMap<String, usize>,
    pub softwareupdate_install_states: BTreeMap<String, usize>,
    pub softwareupdate_pending_versions: BTreeMap<String, usize>,
    /// `true`, `false` or `unknown` (not reported).
    pub passcode_compliant: BTreeMap<String, usize>,
}

/// The rows of one device.
fn rows_of(catalog: &Catalog, groups: &GroupBook, tags: &TagBook, mut device: Reported) -> Vec<StatusRow> {
    device.facts.tags = tags.tags_of(&device.facts.key).into_iter().collect::<BTreeSet<_>>();
    let set = catalog.set_for(groups, &device.facts);
    set.items.iter().map(|item| row(&device, item)).collect()
}

fn row(device: &Reported, item: &SetItem) -> StatusRow {
    let reported = device.status.as_ref().and_then(|s| {
        s.declarations
            .iter()
            .find(|d| d.identifier == item.identifier && d.category == item.category.as_str())
    });
    let state = match reported {
        None => "pending",
        Some(r) if r.server_token != item.server_token => "stale",
        Some(_) => "reported",
    };
    StatusRow {
        enrollment: device.facts.key.clone(),
        udid: device.facts.udid.clone(),
        serial_number: device.facts.serial_number.clone(),
        identifier: item.identifier.clone(),
        category: item.category.as_str(),
        server_token: item.server_token.clone(),
        reported_server_token: reported.map(|r| r.server_token.clone()),
        state,
        valid: reported.map(|r| r.valid.clone()),
        active: reported.map(|r| r.active),
        reasons: reported.map(|r| r.reasons.clone()).unwrap_or_default(),
        reported_at: device.reported_at,
    }
}

impl FleetStatus {
    fn count(&mut self, device: &Reported, rows: &[StatusRow]) {
        self.devices += 1;
        let bump = |map: &mut BTreeMap<String, usize>, key: Option<&str>| {
            *map.entry(key.unwrap_or("unknown").to_string()).or_default() += 1;
        };
        let items = device.status.as_ref().map(|s| &s.items);
        if device.status.is_some() {
            self.reporting += 1;
        }
        bump(
            &mut self.os_versions,
            items
                .and_then(|i| i.os_version.as_deref())
                .or(device.facts.os_version.as_deref()),
        );
        bump(
            &mut self.softwareupdate_install_states,
            items.and_then(|i| i.softwareupdate_install_state.as_deref()),
        );
        if let Some(pending) = items.and_then(|i| i.softwareupdate_pending_version.as_deref()) {
            bump(&mut self.softwareupdate_pending_versions, Some(pending));
        }
        let compliant = items.and_then(|i| i.passcode_is_compliant).map(|c| c.to_string());
        bump(&mut self.passcode_compliant, compliant.as_deref());
        for r in rows {
            let i = match self
                .declarations
                .binary_search_by(|d| d.identifier.as_str().cmp(&r.identifier))
            {
                Ok(i) => i,
                Err(i) => {
                    self.declarations.insert(
                        i,
                        DeclarationSummary {
                            identifier: r.identifier.clone(),
                            category: r.category,
                            ..DeclarationSummary::default()
                        },
                    );
                    i
                }
            };
            let s = &mut self.declarations[i];
            s.devices += 1;
            match r.state {
                "pending" => s.pending += 1,
                "stale" => s.stale += 1,
                _ => {
                    match r.valid.as_deref() {
                        Some("valid") => s.valid += 1,
                        Some("invalid") => s.invalid += 1,
                        _ => s.unknown += 1,
                    }
                    if r.active == Some(true) {
                        s.active += 1;
                    } else {
                        s.inactive += 1;
                    }
                    for code in &r.reasons {
                        *s.reasons.entry(code.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
}

impl Declarations {
    /// Calls `visit` with each enrolled device's rows, in enrollment order.
    async fn visit(
        &self,
        facts: &dyn Facts,
        mut visit: impl FnMut(&Reported, Vec<StatusRow>),
    ) -> Result<(), AdminError> {
        let catalog = self.catalog().await?;
        let (groups, tags) = self.groups.books().await?;
        let mut after: Option<String> = None;
        loop {
            let (page, next) = facts.enrolled_reports(after.as_deref(), PAGE).await;
            for device in page {
                let rows = rows_of(&catalog, &groups, &tags, device.clone());
                visit(&device, rows);
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }

    /// The fleet view: every declaration's summary and the status items' counts.
    pub async fn fleet_status(&self, caller: &Caller, facts: &dyn Facts) -> Result<FleetStatus, AdminError> {
        authorize(caller, Action::Read)?;
        // Every declaration is listed, those no device holds with zeros.
        let declarations = self
            .catalog()
            .await?
            .declarations
            .iter()
            .map(|(identifier, d)| DeclarationSummary {
                identifier: identifier.clone(),
                category: d.category.as_str(),
                ..DeclarationSummary::default()
            })
            .collect();
        let mut fleet = FleetStatus {
            declarations,
            ..FleetStatus::default()
        };
        self.visit(facts, |device, rows| fleet.count(device, &rows)).await?;
        Ok(fleet)
    }

    /// The rows, optionally of one declaration and only those not in force (pending, stale,
    /// invalid or inactive), each handed to `emit`; for exports and the per-declaration view.
    pub async fn status_rows(
        &self,
        caller: &Caller,
        facts: &dyn Facts,
        identifier: Option<&str>,
        not_in_force: bool,
        mut emit: impl FnMut(StatusRow),
    ) -> Result<(), AdminError> {
        authorize(caller, Action::Read)?;
        self.visit(facts, |_, rows| {
            rows.into_iter()
                .filter(|r| identifier.is_none_or(|id| r.identifier == id))
                .filter(|r| !not_in_force || !r.in_force())
                .for_each(&mut emit)
        })
        .await
    }

    /// One device's rows: `set` (as computed for it) and what it reported of each.
    pub fn device_rows(set: &DeclSet, reported: &Reported) -> Vec<StatusRow> {
        set.items.iter().map(|item| row(reported, item)).collect()
    }
}
