//! A device's declaration set: the declarations assigned to it directly, through a group or a
//! filter on its inventory, closed over what its activations name. Derived, never stored: the
//! same catalog and the same facts give the same set and the same DeclarationsToken on every node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use annal_schemas::ddm::{declarations_token, SetEntry};
use annal_schemas::events::declaration::AssignmentTarget;
use annal_schemas::events::group::{GroupDefinition, TargetFilter};
use chrono::{DateTime, SecondsFormat, Utc};

use super::{references, Catalog};
use crate::domain::groups::GroupBook;
use crate::mdm::declarations::Category;

/// What the inventory knows of an enrollment that an assignment can match on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceFacts {
    /// The enrollment key (`<device>:<user>` for a user channel).
    pub key: String,
    /// Enrolled now (TokenUpdate seen, not checked out).
    pub enrolled: bool,
    /// The enrollment generation (a new Authenticate starts one, and a new sync with it).
    pub generation: u64,
    /// Model, model name and product name, as reported.
    pub models: Vec<String>,
    pub os_version: Option<String>,
    pub tags: BTreeSet<String>,
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    /// The DeclarationsToken of the last sync the log shows queued to it (the inventory's).
    pub given_token: Option<String>,
}

impl DeviceFacts {
    /// An enrollment the inventory knows nothing of: only direct assignments can reach it.
    pub fn unknown(key: &str) -> Self {
        DeviceFacts {
            key: key.to_string(),
            ..DeviceFacts::default()
        }
    }

    fn is_user_channel(&self) -> bool {
        self.key.contains(':')
    }

    /// The inventory filter's rules (`DeviceFilter`): model a case-insensitive substring of
    /// any model name, OS version a prefix, every tag carried. Filters pick device channels.
    fn matches(&self, filter: &TargetFilter) -> bool {
        if !self.enrolled || self.is_user_channel() {
            return false;
        }
        // A filter on the clock cannot decide a set (it is refused at assignment; a group that
        // later gains one matches nothing rather than installing by the hour).
        if filter.last_seen_before.is_some() || filter.last_seen_after.is_some() {
            return false;
        }
        let model_ok = filter.model.as_ref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            self.models.iter().any(|m| m.to_lowercase().contains(&needle))
        });
        let os_ok = filter
            .os_version
            .as_ref()
            .is_none_or(|p| self.os_version.as_deref().is_some_and(|v| v.starts_with(p.as_str())));
        model_ok && os_ok && filter.tags.iter().all(|t| self.tags.contains(t))
    }
}

/// One declaration of a set.
#[derive(Debug, Clone, PartialEq)]
pub struct SetItem {
    pub category: Category,
    pub identifier: String,
    pub server_token: String,
    /// The declaration as served.
    pub served: Arc<str>,
    /// Its payload (what the data it points at is read from).
    pub payload: Arc<serde_json::Value>,
    /// The assignments that brought it (empty: named by an activation in the set).
    pub assignments: Vec<String>,
}

/// A device's declaration set and its tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclSet {
    pub declarations_token: String,
    pub timestamp: DateTime<Utc>,
    /// In (category, identifier) order.
    pub items: Vec<SetItem>,
}

impl DeclSet {
    /// The set of a device nothing is assigned to.
    pub fn empty() -> Self {
        static EMPTY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DeclSet {
            declarations_token: EMPTY.get_or_init(|| declarations_token(&[])).clone(),
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            items: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn timestamp_text(&self) -> String {
        self.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The `tokens` answer (`protocol/tokensresponse.yaml`).
    pub fn tokens_json(&self) -> String {
        serde_json::json!({
            "SyncTokens": {
                "DeclarationsToken": self.declarations_token,
                "Timestamp": self.timestamp_text(),
            }
        })
        .to_string()
    }

    /// The `declaration-items` answer (`protocol/declarationitemsresponse.yaml`).
    pub fn items_json(&self) -> String {
        let mut groups: BTreeMap<&str, Vec<serde_json::Value>> = [
            ("Activations", Vec::new()),
            ("Assets", Vec::new()),
            ("Configurations", Vec::new()),
            ("Management", Vec::new()),
        ]
        .into_iter()
        .collect();
        for item in &self.items {
            let group = match item.category {
                Category::Activation => "Activations",
                Category::Asset => "Assets",
                Category::Configuration => "Configurations",
                Category::Management => "Management",
            };
            if let Some(list) = groups.get_mut(group) {
                list.push(serde_json::json!({
                    "Identifier": item.identifier,
                    "ServerToken": item.server_token,
                }));
            }
        }
        serde_json::json!({
            "Declarations": groups,
            "DeclarationsToken": self.declarations_token,
        })
        .to_string()
    }

    /// A declaration of the set, as the device addresses it.
    pub fn find(&self, category: Category, identifier: &str) -> Option<&SetItem> {
        self.items
            .iter()
            .find(|i| i.category == category && i.identifier == identifier)
    }
}

impl Catalog {
    /// The set of the enrollment `facts` describes. A user channel gets what is assigned to its
    /// own key (or a static group listing it); groups and filters on the inventory pick devices.
    pub fn set_for(&self, groups: &GroupBook, facts: &DeviceFacts) -> DeclSet {
        let mut chosen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (id, assigned) in &self.assignments {
            let matches = match &assigned.target {
                AssignmentTarget::Enrollment(key) => *key == facts.key,
                AssignmentTarget::Group(name) => match groups.groups.get(name) {
                    Some(GroupDefinition::Members(keys)) => keys.contains(&facts.key),
                    Some(GroupDefinition::Filter(filter)) => facts.matches(filter),
                    None => false,
                },
                AssignmentTarget::Filter(filter) => facts.matches(filter),
            };
            if matches && self.declarations.contains_key(&assigned.identifier) {
                chosen.entry(&assigned.identifier).or_default().push(id.clone());
            }
        }
        // An activation brings the configurations it names.
        let named: Vec<&str> = chosen
            .keys()
            .filter_map(|id| self.declarations.get(*id).map(|d| (d.category, &d.payload)))
            .flat_map(|(category, payload)| references(category, payload).into_iter().map(|(_, n)| n))
            .collect();
        for name in named {
            if self.declarations.contains_key(name) {
                chosen.entry(name).or_default();
            }
        }
        let mut items: Vec<SetItem> = chosen
            .into_iter()
            .filter_map(|(identifier, assignments)| {
                let d = self.declarations.get(identifier)?;
                Some(SetItem {
                    category: d.category,
                    identifier: identifier.to_string(),
                    server_token: d.server_token.clone(),
                    served: d.served.clone(),
                    payload: d.payload.clone(),
                    assignments,
                })
            })
            .collect();
        items.sort_by(|a, b| (a.category, &a.identifier).cmp(&(b.category, &b.identifier)));
        let entries: Vec<SetEntry<'_>> = items
            .iter()
            .map(|i| SetEntry {
                category: i.category.as_str(),
                identifier: &i.identifier,
                server_token: &i.server_token,
            })
            .collect();
        DeclSet {
            declarations_token: declarations_token(&entries),
            timestamp: self.changed_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            items,
        }
    }
}
