//! Device groups and admin tags: named sets of devices an admin targets commands at, and the
//! record of which devices a group meant when a command was sent to it. Groups live on the
//! `groups` stream, tags on `device-tags`, each resolution on `targets-<CommandUUID>`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

/// What a group is: a fixed list of enrollments, or a filter on the inventory and the tags
/// evaluated each time the group is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupDefinition {
    /// These enrollment ids, exactly.
    Members(Vec<String>),
    /// The enrolled devices matching every field set.
    Filter(TargetFilter),
}

/// A filter on the inventory and the admin tags; every field set must match. Times may be
/// relative (`30d`, `12h`, `2w`: that long before the moment the group is resolved) or RFC 3339.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFilter {
    /// Case-insensitive substring of the model, model name or product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Prefix of the OS version (`17` matches `17.4.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Last seen before this time (a never-seen device matches: it is silent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_before: Option<String>,
    /// Last seen at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_after: Option<String>,
    /// Admin tags the device must carry, all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A group was defined, or its definition replaced. The actor is the envelope's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupDefined {
    pub name: String,
    pub definition: GroupDefinition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupRemoved {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An admin put a tag on an enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceTagged {
    pub enrollment_id: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An admin took a tag off an enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceUntagged {
    pub enrollment_id: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Which devices a group or filter meant when a command was queued to it, written before the
/// command is queued to any of them: the audit trail's answer to "who did `lab-ipads` mean".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetsResolved {
    pub command_uuid: String,
    pub request_type: String,
    /// The group's name; absent for a filter given with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The definition used, as it was at that moment.
    pub definition: GroupDefinition,
    /// Relative times of the filter, as the absolute times they meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_after: Option<DateTime<Utc>>,
    /// The log position the inventory was read at; absent for a static list, which is not
    /// read from the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_position: Option<u64>,
    /// The enrollments the command was sent to, in order.
    pub enrollments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

event_data! {
    GroupDefined => "GroupDefined" v 1,
    GroupRemoved => "GroupRemoved" v 1,
    DeviceTagged => "DeviceTagged" v 1,
    DeviceUntagged => "DeviceUntagged" v 1,
    TargetsResolved => "TargetsResolved" v 1,
}
