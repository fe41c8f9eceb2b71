//! Admin tags on devices, folded from the `device-tags` stream: labels an admin sets (`lab`,
//! `loaner`) that group filters match on. Devices never set them.

use std::collections::{BTreeMap, BTreeSet};

use annal_schemas::events::group::{DeviceTagged, DeviceUntagged};
use annal_schemas::Event;

use super::{check_enrollment_id, check_reason, check_tag, GroupRefusal};

pub const STREAM: &str = "device-tags";
/// Most tags one device carries.
pub const MAX_TAGS_PER_DEVICE: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct TagBook {
    pub by_device: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagRefusal {
    #[error(transparent)]
    Invalid(#[from] GroupRefusal),
    #[error("{0} already carries {MAX_TAGS_PER_DEVICE} tags")]
    TooMany(String),
    #[error("{enrollment_id} does not carry the tag {tag:?}")]
    NotTagged { enrollment_id: String, tag: String },
}

impl From<super::BadName> for TagRefusal {
    fn from(e: super::BadName) -> Self {
        TagRefusal::Invalid(e.into())
    }
}

impl TagBook {
    pub fn evolve(&mut self, event: &Event) {
        match event {
            Event::DeviceTagged(e) => {
                self.by_device
                    .entry(e.enrollment_id.clone())
                    .or_default()
                    .insert(e.tag.clone());
            }
            Event::DeviceUntagged(e) => {
                if let Some(tags) = self.by_device.get_mut(&e.enrollment_id) {
                    tags.remove(&e.tag);
                    if tags.is_empty() {
                        self.by_device.remove(&e.enrollment_id);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn tags_of(&self, enrollment_id: &str) -> Vec<String> {
        self.by_device
            .get(enrollment_id)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The enrollments carrying every one of `tags`.
    pub fn carrying_all(&self, tags: &[String]) -> BTreeSet<String> {
        self.by_device
            .iter()
            .filter(|(_, have)| tags.iter().all(|t| have.contains(t)))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Tags a device; a tag it already carries appends nothing.
    pub fn decide_tag(
        &self,
        enrollment_id: &str,
        tag: &str,
        reason: Option<&str>,
    ) -> Result<Option<DeviceTagged>, TagRefusal> {
        check_enrollment_id(enrollment_id)?;
        check_tag(tag)?;
        check_reason(reason)?;
        let have = self.by_device.get(enrollment_id);
        if have.is_some_and(|t| t.contains(tag)) {
            return Ok(None);
        }
        if have.is_some_and(|t| t.len() >= MAX_TAGS_PER_DEVICE) {
            return Err(TagRefusal::TooMany(enrollment_id.to_string()));
        }
        Ok(Some(DeviceTagged {
            enrollment_id: enrollment_id.to_string(),
            tag: tag.to_string(),
            reason: reason.map(str::to_string),
        }))
    }

    pub fn decide_untag(
        &self,
        enrollment_id: &str,
        tag: &str,
        reason: Option<&str>,
    ) -> Result<DeviceUntagged, TagRefusal> {
        check_reason(reason)?;
        if !self.by_device.get(enrollment_id).is_some_and(|t| t.contains(tag)) {
            return Err(TagRefusal::NotTagged {
                enrollment_id: enrollment_id.chars().take(80).collect(),
                tag: tag.chars().take(80).collect(),
            });
        }
        Ok(DeviceUntagged {
            enrollment_id: enrollment_id.to_string(),
            tag: tag.to_string(),
            reason: reason.map(str::to_string),
        })
    }
}
