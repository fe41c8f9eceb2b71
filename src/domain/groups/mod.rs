//! Device groups: named targets for commands, folded from the `groups` stream. A group is a
//! fixed list of enrollments or a filter on the inventory and the admin tags (`tags.rs`);
//! which devices a filter meant is decided when a command is queued to it, not here.

mod names;
pub mod tags;
mod when;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use annal_schemas::events::group::{GroupDefined, GroupDefinition, GroupRemoved, TargetFilter};
use annal_schemas::Event;

pub use names::{check_enrollment_id, check_name, check_tag, BadName};
pub use when::{parse_when, BadTime};

pub const STREAM: &str = "groups";
/// Most enrollments a static group lists: as many as one enqueue fans out to.
pub const MAX_MEMBERS: usize = 10_000;
/// Most tags one filter asks for.
pub const MAX_FILTER_TAGS: usize = 16;
/// Longest model or OS version text a filter matches on.
const MAX_FILTER_TEXT: usize = 128;

#[derive(Debug, Clone, Default)]
pub struct GroupBook {
    pub groups: BTreeMap<String, GroupDefinition>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupRefusal {
    #[error(transparent)]
    Name(#[from] BadName),
    #[error(transparent)]
    Time(#[from] BadTime),
    #[error("no group {0:?}")]
    Unknown(String),
    #[error("a static group lists 1 to {MAX_MEMBERS} enrollments")]
    MemberCount,
    #[error("a filter asks for at most {MAX_FILTER_TAGS} tags")]
    TooManyTags,
    #[error("the filter's {0} is empty or longer than {MAX_FILTER_TEXT} characters")]
    FilterText(&'static str),
    #[error("the reason is longer than {} characters", crate::domain::rails::MAX_REASON_CHARS)]
    ReasonTooLong,
}

impl GroupRefusal {
    /// The request field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            GroupRefusal::Name(BadName::Group(_)) | GroupRefusal::Unknown(_) => "name",
            GroupRefusal::Name(BadName::Tag(_)) | GroupRefusal::TooManyTags => "filter.tags",
            GroupRefusal::Name(BadName::Enrollment(_)) | GroupRefusal::MemberCount => "members",
            GroupRefusal::Time(_) => "filter",
            GroupRefusal::FilterText(field) => field,
            GroupRefusal::ReasonTooLong => "reason",
        }
    }
}

/// Refuses a reason longer than the rails keep.
pub fn check_reason(reason: Option<&str>) -> Result<(), GroupRefusal> {
    match reason {
        Some(r) if r.chars().count() > crate::domain::rails::MAX_REASON_CHARS => Err(GroupRefusal::ReasonTooLong),
        _ => Ok(()),
    }
}

/// Checks a filter as written: its texts bounded, its tags well formed, its times readable.
pub fn check_filter(filter: &TargetFilter) -> Result<(), GroupRefusal> {
    let text = |value: &Option<String>, field: &'static str| match value {
        Some(v) if v.trim().is_empty() || v.chars().count() > MAX_FILTER_TEXT => Err(GroupRefusal::FilterText(field)),
        _ => Ok(()),
    };
    text(&filter.model, "filter.model")?;
    text(&filter.os_version, "filter.os_version")?;
    if filter.tags.len() > MAX_FILTER_TAGS {
        return Err(GroupRefusal::TooManyTags);
    }
    for tag in &filter.tags {
        check_tag(tag)?;
    }
    // Relative times are checked against any moment: they only have to be readable.
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    for when in [&filter.last_seen_before, &filter.last_seen_after]
        .into_iter()
        .flatten()
    {
        parse_when(when, now)?;
    }
    Ok(())
}

impl GroupBook {
    pub fn evolve(&mut self, event: &Event) {
        match event {
            Event::GroupDefined(e) => {
                self.groups.insert(e.name.clone(), e.definition.clone());
            }
            Event::GroupRemoved(e) => {
                self.groups.remove(&e.name);
            }
            _ => {}
        }
    }

    pub fn get(&self, name: &str) -> Result<&GroupDefinition, GroupRefusal> {
        self.groups
            .get(name)
            .ok_or_else(|| GroupRefusal::Unknown(name.to_string()))
    }

    /// Defines a group or replaces its definition; the same definition again appends nothing.
    pub fn decide_define(
        &self,
        name: &str,
        definition: &GroupDefinition,
        reason: Option<&str>,
    ) -> Result<Option<GroupDefined>, GroupRefusal> {
        check_name(name)?;
        check_reason(reason)?;
        match definition {
            GroupDefinition::Members(ids) => {
                if ids.is_empty() || ids.len() > MAX_MEMBERS {
                    return Err(GroupRefusal::MemberCount);
                }
                for id in ids {
                    check_enrollment_id(id)?;
                }
            }
            GroupDefinition::Filter(filter) => check_filter(filter)?,
        }
        if self.groups.get(name) == Some(definition) {
            return Ok(None);
        }
        Ok(Some(GroupDefined {
            name: name.to_string(),
            definition: definition.clone(),
            reason: reason.map(str::to_string),
        }))
    }

    pub fn decide_remove(&self, name: &str, reason: Option<&str>) -> Result<GroupRemoved, GroupRefusal> {
        check_reason(reason)?;
        self.get(name)?;
        Ok(GroupRemoved {
            name: name.to_string(),
            reason: reason.map(str::to_string),
        })
    }
}
