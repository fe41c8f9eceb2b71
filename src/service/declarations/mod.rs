//! Declarative Device Management as use cases: the declaration catalog (define, replace,
//! remove, assign, unassign: `declarations` stream, through the aggregate runner), each
//! device's declaration set (`set_of`), its status (`status.rs`) and the worker that gives
//! devices their new tokens (`sync.rs`).

mod data;
mod status;
mod sync;

use std::collections::BTreeSet;
use std::sync::Arc;

use annal_projections::devices::DdmStatus;
use annal_schemas::events::declaration::AssignmentTarget;
use annal_schemas::Event;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::aggregate::{Aggregate, Decided, NoHooks, Options, Repository, RunError};
use crate::domain::declarations::{Catalog, CatalogRefusal, DeclSet, DeviceFacts, STREAM};
use crate::service::admin::{authorize, Action, AdminError, Caller};
use crate::service::groups::Groups;
use crate::store::EventStore;

pub use data::{DataInfo, FetchError, DATA_PATH, MAX_DATA_BYTES};
pub use status::{DeclarationSummary, FleetStatus, StatusRow};
pub use sync::{PassReport, SyncWorker, SYNC_ACTOR, SYNC_INTERVAL};

/// What can be done to the catalog.
pub enum CatalogCommand {
    Define {
        identifier: String,
        declaration_type: String,
        payload: Json,
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    Remove {
        identifier: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    Assign {
        identifier: String,
        target: AssignmentTarget,
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    Unassign {
        identifier: String,
        assignment_id: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    },
}

impl Aggregate for Catalog {
    type Command = CatalogCommand;
    type Decision = Decided;
    type Refusal = CatalogRefusal;

    fn decide(&self, command: &CatalogCommand) -> Result<Decided, CatalogRefusal> {
        match command {
            CatalogCommand::Define {
                identifier,
                declaration_type,
                payload,
                reason,
                now,
            } => Ok(Decided::optional(self.decide_define(
                identifier,
                declaration_type,
                payload,
                reason.as_deref(),
                *now,
            )?)),
            CatalogCommand::Remove {
                identifier,
                reason,
                now,
            } => {
                let (unassigned, removed) = self.decide_remove(identifier, reason.as_deref(), *now)?;
                let mut events: Vec<_> = unassigned.into_iter().map(|e| (Event::from(e), None)).collect();
                events.push((Event::from(removed), None));
                Ok(Decided(events))
            }
            CatalogCommand::Assign {
                identifier,
                target,
                reason,
                now,
            } => Ok(Decided::optional(self.decide_assign(
                identifier,
                target,
                reason.as_deref(),
                *now,
            )?)),
            CatalogCommand::Unassign {
                identifier,
                assignment_id,
                reason,
                now,
            } => self
                .decide_unassign(identifier, assignment_id, reason.as_deref(), *now)
                .map(Decided::one),
        }
    }

    fn evolve(&mut self, event: &Event, _raw: Option<&[u8]>) {
        Catalog::evolve(self, event)
    }
}

/// The inventory as the declaration sets read it: behind this seam so the use case does not
/// depend on how the read models are kept.
#[async_trait::async_trait]
pub trait Facts: Send + Sync {
    /// What the inventory knows of one enrollment (tags aside); `None` if it knows nothing.
    async fn facts(&self, enrollment_key: &str) -> Option<DeviceFacts>;
    /// Enrolled enrollments with keys after `after`, in key order, at most `limit`; and the
    /// cursor for the next page.
    async fn enrolled(&self, after: Option<&str>, limit: usize) -> (Vec<DeviceFacts>, Option<String>);
    /// As `enrolled`, with each one's DDM status as its reports left it.
    async fn enrolled_reports(&self, after: Option<&str>, limit: usize) -> (Vec<Reported>, Option<String>);
}

/// An enrolled device and the status it reported.
#[derive(Debug, Clone)]
pub struct Reported {
    pub facts: DeviceFacts,
    pub status: Option<DdmStatus>,
    pub reported_at: Option<DateTime<Utc>>,
}

/// A declaration as listed and shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeclarationInfo {
    pub identifier: String,
    pub category: &'static str,
    #[serde(rename = "type")]
    pub declaration_type: String,
    pub server_token: String,
    pub payload: Json,
    pub assignments: Vec<AssignmentInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AssignmentInfo {
    pub assignment_id: String,
    pub identifier: String,
    pub target: AssignmentTarget,
}

/// What a define or assign did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Changed {
    pub identifier: String,
    /// The declaration's ServerToken (define) or the assignment's id (assign).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<String>,
    /// `false`: it was so already; nothing was appended.
    pub changed: bool,
}

pub struct Declarations {
    catalog: Repository<Catalog>,
    groups: Arc<Groups>,
    /// Wakes the sync worker after a change made on this node.
    changed: tokio::sync::Notify,
    /// The URL devices reach this server at: data declarations point under it.
    base_url: String,
}

impl Declarations {
    pub fn new(store: Arc<dyn EventStore>, groups: Arc<Groups>, base_url: &str) -> Self {
        // One stream, cached: a use reads only what the stream gained since the last one.
        let options = Options {
            cache: Some((1, 1)),
            page: 500,
            ..Options::default()
        };
        Self {
            catalog: Repository::new(store, options),
            groups,
            changed: tokio::sync::Notify::new(),
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        self.catalog.store()
    }

    pub(crate) async fn catalog(&self) -> Result<Catalog, AdminError> {
        Ok(self.catalog.load(STREAM).await.map_err(catalog_error)?.state)
    }

    async fn run(&self, caller: &Caller, command: CatalogCommand) -> Result<Decided, AdminError> {
        authorize(caller, Action::ManageDeclarations)?;
        let (decided, ()) = self
            .catalog
            .run(STREAM, &command, &caller.actor, &NoHooks)
            .await
            .map_err(catalog_error)?;
        if !decided.0.is_empty() {
            self.changed.notify_one();
        }
        Ok(decided)
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<DeclarationInfo>, AdminError> {
        authorize(caller, Action::Read)?;
        let catalog = self.catalog().await?;
        Ok(catalog
            .declarations
            .keys()
            .filter_map(|id| info(&catalog, id))
            .collect())
    }

    pub async fn get(&self, caller: &Caller, identifier: &str) -> Result<DeclarationInfo, AdminError> {
        authorize(caller, Action::Read)?;
        let catalog = self.catalog().await?;
        info(&catalog, identifier).ok_or_else(|| AdminError::NotFound(format!("no declaration {identifier:?}")))
    }

    /// Checks a declaration as `define` would, appending nothing.
    pub async fn validate(
        &self,
        caller: &Caller,
        identifier: &str,
        declaration_type: &str,
        payload: &Json,
    ) -> Result<String, AdminError> {
        authorize(caller, Action::Read)?;
        let catalog = self.catalog().await?;
        catalog
            .decide_define(identifier, declaration_type, payload, None, Utc::now())
            .map_err(refused)?;
        self.check_data_refs(payload).await?;
        Ok(annal_schemas::ddm::server_token(identifier, declaration_type, payload))
    }

    pub async fn define(
        &self,
        caller: &Caller,
        identifier: &str,
        declaration_type: &str,
        payload: Json,
        reason: Option<String>,
    ) -> Result<Changed, AdminError> {
        authorize(caller, Action::ManageDeclarations)?;
        // A rule that needs the log beside the catalog: data a declaration points at must exist.
        self.check_data_refs(&payload).await?;
        let server_token = annal_schemas::ddm::server_token(identifier, declaration_type, &payload);
        let command = CatalogCommand::Define {
            identifier: identifier.to_string(),
            declaration_type: declaration_type.to_string(),
            payload,
            reason,
            now: Utc::now(),
        };
        let decided = self.run(caller, command).await?;
        Ok(Changed {
            identifier: identifier.to_string(),
            server_token: Some(server_token),
            assignment_id: None,
            changed: !decided.0.is_empty(),
        })
    }

    pub async fn remove(&self, caller: &Caller, identifier: &str, reason: Option<String>) -> Result<(), AdminError> {
        let command = CatalogCommand::Remove {
            identifier: identifier.to_string(),
            reason,
            now: Utc::now(),
        };
        self.run(caller, command).await.map(drop)
    }

    pub async fn assign(
        &self,
        caller: &Caller,
        identifier: &str,
        target: AssignmentTarget,
        reason: Option<String>,
    ) -> Result<Changed, AdminError> {
        let assignment_id = crate::domain::declarations::assignment_id(identifier, &target);
        let command = CatalogCommand::Assign {
            identifier: identifier.to_string(),
            target,
            reason,
            now: Utc::now(),
        };
        let decided = self.run(caller, command).await?;
        Ok(Changed {
            identifier: identifier.to_string(),
            server_token: None,
            assignment_id: Some(assignment_id),
            changed: !decided.0.is_empty(),
        })
    }

    pub async fn unassign(
        &self,
        caller: &Caller,
        identifier: &str,
        assignment_id: &str,
        reason: Option<String>,
    ) -> Result<(), AdminError> {
        let command = CatalogCommand::Unassign {
            identifier: identifier.to_string(),
            assignment_id: assignment_id.to_string(),
            reason,
            now: Utc::now(),
        };
        self.run(caller, command).await.map(drop)
    }

    /// The declaration set of one enrollment, from the catalog, the groups, its tags and what
    /// the inventory knows of it.
    pub async fn set_of(&self, enrollment_key: &str, facts: &dyn Facts) -> Result<DeclSet, AdminError> {
        let catalog = self.catalog().await?;
        if catalog.assignments.is_empty() {
            return Ok(DeclSet::empty());
        }
        let device = facts
            .facts(enrollment_key)
            .await
            .unwrap_or_else(|| DeviceFacts::unknown(enrollment_key));
        self.set_with(&catalog, device).await
    }

    /// The set of the enrollment `device` describes, for an admin (who has its facts already).
    pub async fn device_set(&self, caller: &Caller, device: DeviceFacts) -> Result<DeclSet, AdminError> {
        authorize(caller, Action::Read)?;
        let catalog = self.catalog().await?;
        self.set_with(&catalog, device).await
    }

    async fn set_with(&self, catalog: &Catalog, mut device: DeviceFacts) -> Result<DeclSet, AdminError> {
        let (groups, tags) = self.groups.books().await?;
        device.tags = tags.tags_of(&device.key).into_iter().collect::<BTreeSet<_>>();
        Ok(catalog.set_for(&groups, &device))
    }
}

fn info(catalog: &Catalog, identifier: &str) -> Option<DeclarationInfo> {
    let d = catalog.declarations.get(identifier)?;
    Some(DeclarationInfo {
        identifier: identifier.to_string(),
        category: d.category.as_str(),
        declaration_type: d.declaration_type.clone(),
        server_token: d.server_token.clone(),
        payload: (*d.payload).clone(),
        assignments: catalog
            .assignments
            .iter()
            .filter(|(_, a)| a.identifier == identifier)
            .map(|(id, a)| AssignmentInfo {
                assignment_id: id.clone(),
                identifier: a.identifier.clone(),
                target: a.target.clone(),
            })
            .collect(),
    })
}

fn refused(r: CatalogRefusal) -> AdminError {
    match r {
        CatalogRefusal::Unknown(_) | CatalogRefusal::UnknownAssignment(_) => AdminError::NotFound(r.to_string()),
        CatalogRefusal::Referenced { .. } | CatalogRefusal::CategoryChange { .. } | CatalogRefusal::Full(_) => {
            AdminError::Conflict(r.to_string())
        }
        other => AdminError::invalid_at(other.to_string(), &other.path()),
    }
}

fn catalog_error(e: RunError<CatalogRefusal>) -> AdminError {
    crate::service::groups::run_failure(e, refused)
}

impl Declarations {
    /// An operator keeps groups and tags (`ManageGroups`), but not those declarations follow:
    /// changing one of those decides which devices get settings installed, which is the
    /// admin's (`ManageDeclarations`). `group` is the group to be defined or removed, `tag` the
    /// tag to be put on or taken off a device.
    pub async fn guard_targeting(
        &self,
        caller: &Caller,
        group: Option<&str>,
        tag: Option<&str>,
    ) -> Result<(), AdminError> {
        if authorize(caller, Action::ManageDeclarations).is_ok() {
            return Ok(());
        }
        let catalog = self.catalog().await?;
        if catalog.assignments.is_empty() {
            return Ok(());
        }
        let (groups, _) = self.groups.books().await?;
        let names_tag = |filter: &annal_schemas::events::group::TargetFilter| {
            tag.is_some_and(|t| filter.tags.iter().any(|have| have == t))
        };
        let followed = catalog.assignments.values().any(|a| match &a.target {
            AssignmentTarget::Enrollment(_) => false,
            AssignmentTarget::Filter(filter) => names_tag(filter),
            AssignmentTarget::Group(name) => {
                group == Some(name.as_str())
                    || matches!(
                        groups.groups.get(name),
                        Some(annal_schemas::events::group::GroupDefinition::Filter(f)) if names_tag(f)
                    )
            }
        });
        if followed {
            return Err(AdminError::Forbidden(
                crate::domain::access::Denied::DeclarationsAdminOnly,
            ));
        }
        Ok(())
    }
}
