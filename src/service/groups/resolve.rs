//! Which enrollments a group (or a filter given with a request) means now: a static group its
//! list, a filter the enrolled devices of the inventory matching it and carrying its tags, with
//! relative times read against this moment. The answer is recorded on the command's own
//! `targets-<CommandUUID>` stream before anything is queued, so the log says exactly whom a
//! group meant when the command was sent.

use std::collections::HashSet;

use annal_projections::devices::{DeviceFilter, DeviceState};
use annal_schemas::events::group::{GroupDefinition, TargetFilter, TargetsResolved};
use annal_schemas::NewEvent;
use chrono::{DateTime, Utc};

use super::{refused, Groups};
use crate::domain::groups::{check_filter, parse_when, GroupRefusal, MAX_MEMBERS};
use crate::service::admin::{authorize, Action, AdminError, Caller};
use crate::store::ExpectedVersion;

/// What a request targets instead of a list of enrollments.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Group(String),
    Filter(TargetFilter),
}

/// Enrollments an inventory query matched, in key order.
#[derive(Debug, Clone, Default)]
pub struct Matched {
    pub enrollments: Vec<String>,
    /// Whether more matched than were asked for.
    pub more: bool,
    /// The log position the inventory was read at.
    pub position: u64,
}

/// The inventory a filter is evaluated against: the read models, behind this seam so the use
/// case does not depend on how they are kept.
#[async_trait::async_trait]
pub trait Inventory: Send + Sync {
    /// Up to `limit` enrollments matching `filter`, once the read models include this node's
    /// latest append.
    async fn matching(&self, filter: &DeviceFilter, limit: usize) -> Matched;
}

/// Whom a group or filter meant at one moment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resolution {
    pub group: Option<String>,
    pub definition: GroupDefinition,
    pub last_seen_before: Option<DateTime<Utc>>,
    pub last_seen_after: Option<DateTime<Utc>>,
    pub inventory_position: Option<u64>,
    /// In order, each once.
    pub enrollments: Vec<String>,
}

impl Groups {
    /// Resolves `selection` as of `now`. A filter matching more devices than one enqueue may
    /// reach is refused rather than cut short.
    pub async fn resolve(
        &self,
        caller: &Caller,
        selection: &Selection,
        inventory: &dyn Inventory,
        now: DateTime<Utc>,
    ) -> Result<Resolution, AdminError> {
        authorize(caller, Action::Read)?;
        let (group, definition) = match selection {
            Selection::Group(name) => (
                Some(name.clone()),
                self.book().await?.get(name).map_err(refused)?.clone(),
            ),
            Selection::Filter(filter) => {
                check_filter(filter).map_err(refused)?;
                (None, GroupDefinition::Filter(filter.clone()))
            }
        };
        let mut resolution = Resolution {
            group,
            definition: definition.clone(),
            last_seen_before: None,
            last_seen_after: None,
            inventory_position: None,
            enrollments: Vec::new(),
        };
        match &definition {
            GroupDefinition::Members(ids) => {
                let mut seen = HashSet::new();
                resolution.enrollments = ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
            }
            GroupDefinition::Filter(filter) => {
                let when = |w: &Option<String>| {
                    w.as_deref()
                        .map(|w| parse_when(w, now).map_err(|e| refused(GroupRefusal::Time(e))))
                        .transpose()
                };
                resolution.last_seen_before = when(&filter.last_seen_before)?;
                resolution.last_seen_after = when(&filter.last_seen_after)?;
                let keys = if filter.tags.is_empty() {
                    None
                } else {
                    Some(self.tag_book().await?.carrying_all(&filter.tags))
                };
                // Only enrolled devices: a checked-out one would refuse the command anyway.
                let query = DeviceFilter {
                    state: Some(DeviceState::Enrolled),
                    model: filter.model.clone(),
                    os_version_prefix: filter.os_version.clone(),
                    last_seen_before: resolution.last_seen_before,
                    last_seen_after: resolution.last_seen_after,
                    keys,
                    ..DeviceFilter::default()
                };
                let matched = inventory.matching(&query, MAX_MEMBERS).await;
                if matched.more {
                    return Err(AdminError::invalid_at(
                        format!("the filter matches more than {MAX_MEMBERS} devices: narrow it"),
                        "group",
                    ));
                }
                resolution.inventory_position = Some(matched.position);
                resolution.enrollments = matched.enrollments;
            }
        }
        Ok(resolution)
    }

    /// Records whom `resolution` meant for one command, before the command is queued.
    pub async fn record(
        &self,
        resolution: &Resolution,
        command_uuid: &str,
        request_type: &str,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<(), AdminError> {
        let event = TargetsResolved {
            command_uuid: command_uuid.to_string(),
            request_type: request_type.to_string(),
            group: resolution.group.clone(),
            definition: resolution.definition.clone(),
            last_seen_before: resolution.last_seen_before,
            last_seen_after: resolution.last_seen_after,
            inventory_position: resolution.inventory_position,
            enrollments: resolution.enrollments.clone(),
            reason: reason.map(str::to_string),
        };
        // Any version: a retry of the same CommandUUID records what it meant then, too.
        self.store()
            .append(
                &targets_stream(command_uuid),
                ExpectedVersion::Any,
                vec![NewEvent::new(actor, &event)],
            )
            .await?;
        Ok(())
    }

    /// Every resolution recorded for a command, oldest first.
    pub async fn recorded(&self, command_uuid: &str) -> Result<Vec<TargetsResolved>, AdminError> {
        let events = self.store().read_stream(&targets_stream(command_uuid), 1, 100).await?;
        Ok(events
            .iter()
            .filter_map(
                |e| match annal_schemas::Event::decode(&e.event_type, e.schema_version, &e.data) {
                    Ok(annal_schemas::Event::TargetsResolved(t)) => Some(t),
                    _ => None,
                },
            )
            .collect())
    }
}

/// The stream a command's resolutions are recorded on.
pub fn targets_stream(command_uuid: &str) -> String {
    format!("targets-{command_uuid}")
}
