//! The declaration catalog (Declarative Device Management): declarations and their assignments
//! folded from the `declarations` stream, one consistency boundary, so an activation cannot name
//! a configuration that is being removed and an assignment cannot outlive its declaration.
//! `set.rs` derives a device's declaration set from the catalog and what the inventory knows.

mod set;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use annal_schemas::ddm::{canonical_json, server_token};
use annal_schemas::events::declaration::{
    AssignmentTarget, DeclarationAssigned, DeclarationDefined, DeclarationRemoved, DeclarationUnassigned,
};
use annal_schemas::Event;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::domain::groups::{check_enrollment_id, check_filter, check_name, GroupRefusal};
use crate::mdm::commands::error::CommandError;
use crate::mdm::declarations::{validate_declaration, Category};

pub use set::{DeclSet, DeviceFacts, SetItem};

pub const STREAM: &str = "declarations";
/// Most declarations the catalog holds: each is served to devices from memory.
pub const MAX_DECLARATIONS: usize = 2_000;
/// Most assignments: each is evaluated against every device whose set is asked for.
pub const MAX_ASSIGNMENTS: usize = 2_000;
/// Largest declaration accepted, as canonical JSON.
pub const MAX_DECLARATION_BYTES: usize = 256 * 1024;

/// Identifiers the admin API uses as paths under `/v1/declarations/`.
const RESERVED_IDENTIFIERS: [&str; 3] = ["data", "status", "validate"];

/// A declaration as the catalog holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub category: Category,
    pub declaration_type: String,
    pub payload: Arc<Json>,
    pub server_token: String,
    /// The declaration as served to a device (`{"Identifier","Payload","ServerToken","Type"}`),
    /// rendered once when folded.
    pub served: Arc<str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    pub identifier: String,
    pub target: AssignmentTarget,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub declarations: BTreeMap<String, Declared>,
    pub assignments: BTreeMap<String, Assigned>,
    /// When the catalog last changed: the `Timestamp` devices are given with their tokens.
    pub changed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogRefusal {
    /// The declaration does not match Apple's schema; the path is from its root.
    #[error("`{}`: {}", .0.path, .0.reason)]
    Invalid(CommandError),
    #[error("no declaration {0:?}")]
    Unknown(String),
    #[error("no assignment {0:?}")]
    UnknownAssignment(String),
    #[error("{identifier:?} is defined in category {}; an identifier cannot change category (remove it first)", .category.as_str())]
    CategoryChange { identifier: String, category: Category },
    #[error("`{path}`: {missing:?} is not a configuration in the catalog")]
    MissingReference { path: String, missing: String },
    #[error("{identifier:?} is referenced by {by:?} (`{path}`): change or remove that first")]
    Referenced {
        identifier: String,
        by: String,
        path: String,
    },
    #[error(transparent)]
    Target(#[from] GroupRefusal),
    #[error("a declaration set follows the log, not the clock: a filter with last_seen_before or last_seen_after cannot be assigned")]
    ClockFilter,
    #[error("the catalog holds at most {0} of these")]
    Full(usize),
    #[error("the declaration is larger than {MAX_DECLARATION_BYTES} bytes")]
    TooLarge,
}

impl CatalogRefusal {
    /// The request field (or the declaration's key path) the refusal is about.
    pub fn path(&self) -> String {
        match self {
            CatalogRefusal::Invalid(e) => e.path.clone(),
            CatalogRefusal::MissingReference { path, .. } => path.clone(),
            CatalogRefusal::Referenced { .. } | CatalogRefusal::Unknown(_) => "identifier".into(),
            CatalogRefusal::CategoryChange { .. } => "Type".into(),
            CatalogRefusal::UnknownAssignment(_) => "assignment_id".into(),
            CatalogRefusal::Target(r) => r.field().replace("members", "enrollment"),
            CatalogRefusal::ClockFilter => "filter".into(),
            CatalogRefusal::Full(_) | CatalogRefusal::TooLarge => "declaration".into(),
        }
    }
}

/// The id of assigning `identifier` to `target`: derived, so the same assignment twice is one.
pub fn assignment_id(identifier: &str, target: &AssignmentTarget) -> String {
    match target {
        AssignmentTarget::Enrollment(key) => format!("{identifier}@enrollment:{key}"),
        AssignmentTarget::Group(name) => format!("{identifier}@group:{name}"),
        AssignmentTarget::Filter(filter) => {
            let json = serde_json::to_value(filter).unwrap_or_default();
            let digest = annal_schemas::ddm::content_digest(&canonical_json(&json));
            format!("{identifier}@filter:{digest}")
        }
    }
}

/// The configurations an activation names (`StandardConfigurations`), with their key paths.
fn references(declared_type: Category, payload: &Json) -> Vec<(String, &str)> {
    if declared_type != Category::Activation {
        return Vec::new();
    }
    payload
        .get("StandardConfigurations")
        .and_then(Json::as_array)
        .map(|items| {
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((format!("Payload.StandardConfigurations[{i}]"), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl Catalog {
    pub fn evolve(&mut self, event: &Event) {
        match event {
            Event::DeclarationDefined(e) => {
                let Some(category) = Category::ALL.into_iter().find(|c| c.as_str() == e.category) else {
                    return;
                };
                let served = serde_json::json!({
                    "Identifier": e.identifier,
                    "Payload": e.payload,
                    "ServerToken": e.server_token,
                    "Type": e.declaration_type,
                });
                let served = String::from_utf8(canonical_json(&served)).unwrap_or_default();
                self.declarations.insert(
                    e.identifier.clone(),
                    Declared {
                        category,
                        declaration_type: e.declaration_type.clone(),
                        payload: Arc::new(e.payload.clone()),
                        server_token: e.server_token.clone(),
                        served: Arc::from(served),
                    },
                );
                self.changed_at = Some(e.changed_at);
            }
            Event::DeclarationRemoved(e) => {
                self.declarations.remove(&e.identifier);
                self.changed_at = Some(e.changed_at);
            }
            Event::DeclarationAssigned(e) => {
                self.assignments.insert(
                    e.assignment_id.clone(),
                    Assigned {
                        identifier: e.identifier.clone(),
                        target: e.target.clone(),
                    },
                );
                self.changed_at = Some(e.changed_at);
            }
            Event::DeclarationUnassigned(e) => {
                self.assignments.remove(&e.assignment_id);
                self.changed_at = Some(e.changed_at);
            }
            _ => {}
        }
    }

    /// Defines `identifier` as `declaration_type` with `payload`, or replaces its content; the
    /// same content again appends nothing.
    pub fn decide_define(
        &self,
        identifier: &str,
        declaration_type: &str,
        payload: &Json,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<DeclarationDefined>, CatalogRefusal> {
        crate::domain::groups::check_reason(reason)?;
        if RESERVED_IDENTIFIERS.contains(&identifier) {
            return Err(CatalogRefusal::Invalid(CommandError::new(
                "Identifier",
                format!("{identifier:?} names an admin API path (/v1/declarations/{identifier}); choose another"),
            )));
        }
        let declaration = serde_json::json!({
            "Identifier": identifier,
            "Type": declaration_type,
            "Payload": payload,
        });
        let checked = validate_declaration(&declaration).map_err(CatalogRefusal::Invalid)?;
        if canonical_json(&declaration).len() > MAX_DECLARATION_BYTES {
            return Err(CatalogRefusal::TooLarge);
        }
        let existing = self.declarations.get(identifier);
        if let Some(d) = existing.filter(|d| d.category != checked.category) {
            return Err(CatalogRefusal::CategoryChange {
                identifier: identifier.to_string(),
                category: d.category,
            });
        }
        if existing.is_none() && self.declarations.len() >= MAX_DECLARATIONS {
            return Err(CatalogRefusal::Full(MAX_DECLARATIONS));
        }
        for (path, name) in references(checked.category, payload) {
            let ok = self
                .declarations
                .get(name)
                .is_some_and(|d| d.category == Category::Configuration);
            if !ok {
                return Err(CatalogRefusal::MissingReference {
                    path,
                    missing: name.to_string(),
                });
            }
        }
        let token = server_token(identifier, declaration_type, payload);
        if existing.is_some_and(|d| d.server_token == token) {
            return Ok(None);
        }
        Ok(Some(DeclarationDefined {
            identifier: identifier.to_string(),
            category: checked.category.as_str().to_string(),
            declaration_type: declaration_type.to_string(),
            payload: payload.clone(),
            server_token: token,
            changed_at: now,
            reason: reason.map(str::to_string),
        }))
    }

    /// Removes a declaration and, in the same decision, its assignments; refused while an
    /// activation still names it.
    pub fn decide_remove(
        &self,
        identifier: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<DeclarationUnassigned>, DeclarationRemoved), CatalogRefusal> {
        crate::domain::groups::check_reason(reason)?;
        let declared = self
            .declarations
            .get(identifier)
            .ok_or_else(|| CatalogRefusal::Unknown(identifier.to_string()))?;
        for (by, d) in &self.declarations {
            if let Some((path, _)) = references(d.category, &d.payload)
                .into_iter()
                .find(|(_, name)| *name == identifier)
            {
                return Err(CatalogRefusal::Referenced {
                    identifier: identifier.to_string(),
                    by: by.clone(),
                    path,
                });
            }
        }
        let unassigned = self
            .assignments
            .iter()
            .filter(|(_, a)| a.identifier == identifier)
            .map(|(id, _)| DeclarationUnassigned {
                assignment_id: id.clone(),
                identifier: identifier.to_string(),
                changed_at: now,
                reason: reason.map(str::to_string),
            })
            .collect();
        Ok((
            unassigned,
            DeclarationRemoved {
                identifier: identifier.to_string(),
                category: declared.category.as_str().to_string(),
                server_token: declared.server_token.clone(),
                changed_at: now,
                reason: reason.map(str::to_string),
            },
        ))
    }

    /// Assigns a declaration; the same assignment again appends nothing.
    pub fn decide_assign(
        &self,
        identifier: &str,
        target: &AssignmentTarget,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<DeclarationAssigned>, CatalogRefusal> {
        crate::domain::groups::check_reason(reason)?;
        if !self.declarations.contains_key(identifier) {
            return Err(CatalogRefusal::Unknown(identifier.to_string()));
        }
        match target {
            AssignmentTarget::Enrollment(key) => check_enrollment_id(key).map_err(GroupRefusal::from)?,
            AssignmentTarget::Group(name) => check_name(name).map_err(GroupRefusal::from)?,
            AssignmentTarget::Filter(filter) => {
                check_filter(filter)?;
                if filter.last_seen_before.is_some() || filter.last_seen_after.is_some() {
                    return Err(CatalogRefusal::ClockFilter);
                }
            }
        }
        let id = assignment_id(identifier, target);
        if self.assignments.contains_key(&id) {
            return Ok(None);
        }
        if self.assignments.len() >= MAX_ASSIGNMENTS {
            return Err(CatalogRefusal::Full(MAX_ASSIGNMENTS));
        }
        Ok(Some(DeclarationAssigned {
            assignment_id: id,
            identifier: identifier.to_string(),
            target: target.clone(),
            changed_at: now,
            reason: reason.map(str::to_string),
        }))
    }

    /// Removes assignment `assignment_id` of declaration `identifier` (an id of another
    /// declaration's assignment is unknown here).
    pub fn decide_unassign(
        &self,
        identifier: &str,
        assignment_id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<DeclarationUnassigned, CatalogRefusal> {
        crate::domain::groups::check_reason(reason)?;
        let assigned = self
            .assignments
            .get(assignment_id)
            .filter(|a| a.identifier == identifier)
            .ok_or_else(|| CatalogRefusal::UnknownAssignment(assignment_id.to_string()))?;
        Ok(DeclarationUnassigned {
            assignment_id: assignment_id.to_string(),
            identifier: assigned.identifier.clone(),
            changed_at: now,
            reason: reason.map(str::to_string),
        })
    }
}
