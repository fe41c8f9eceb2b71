//! Device groups and admin tags as use cases: define, replace and remove groups, tag devices,
//! and resolve a group (or a filter) to the enrollments it means now (`resolve.rs`). Both books
//! are small streams folded through the aggregate runner, cached and caught up on every use, so
//! a change made on one node is seen by the next request on any node.

mod resolve;

use std::sync::Arc;

use annal_schemas::events::group::GroupDefinition;
use annal_schemas::Event;

use super::aggregate::{Aggregate, Decided, NoHooks, Options, Repository, RunError};
use crate::domain::groups::tags::{TagBook, TagRefusal, STREAM as TAGS_STREAM};
use crate::domain::groups::{GroupBook, GroupRefusal, STREAM as GROUPS_STREAM};
use crate::service::admin::{authorize, Action, AdminError, Caller};
use crate::store::{EventStore, StoreError};

pub use resolve::{Inventory, Matched, Resolution, Selection};

/// What can be done to the group book.
pub enum GroupCommand {
    Define {
        name: String,
        definition: GroupDefinition,
        reason: Option<String>,
    },
    Remove {
        name: String,
        reason: Option<String>,
    },
}

impl Aggregate for GroupBook {
    type Command = GroupCommand;
    type Decision = Decided;
    type Refusal = GroupRefusal;

    fn decide(&self, command: &GroupCommand) -> Result<Decided, GroupRefusal> {
        match command {
            GroupCommand::Define {
                name,
                definition,
                reason,
            } => Ok(Decided::optional(self.decide_define(
                name,
                definition,
                reason.as_deref(),
            )?)),
            GroupCommand::Remove { name, reason } => self.decide_remove(name, reason.as_deref()).map(Decided::one),
        }
    }

    fn evolve(&mut self, event: &Event, _raw: Option<&[u8]>) {
        GroupBook::evolve(self, event)
    }
}

/// What can be done to the tags.
pub enum TagCommand {
    Tag {
        enrollment_id: String,
        tag: String,
        reason: Option<String>,
    },
    Untag {
        enrollment_id: String,
        tag: String,
        reason: Option<String>,
    },
}

impl Aggregate for TagBook {
    type Command = TagCommand;
    type Decision = Decided;
    type Refusal = TagRefusal;

    fn decide(&self, command: &TagCommand) -> Result<Decided, TagRefusal> {
        match command {
            TagCommand::Tag {
                enrollment_id,
                tag,
                reason,
            } => Ok(Decided::optional(self.decide_tag(
                enrollment_id,
                tag,
                reason.as_deref(),
            )?)),
            TagCommand::Untag {
                enrollment_id,
                tag,
                reason,
            } => self
                .decide_untag(enrollment_id, tag, reason.as_deref())
                .map(Decided::one),
        }
    }

    fn evolve(&mut self, event: &Event, _raw: Option<&[u8]>) {
        TagBook::evolve(self, event)
    }
}

/// A group as listed: its name and definition.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub definition: GroupDefinition,
}

pub struct Groups {
    groups: Repository<GroupBook>,
    tags: Repository<TagBook>,
}

impl Groups {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        // One stream each, cached: a use reads only what the stream gained since the last one.
        let options = Options {
            cache: Some((1, 1)),
            page: 500,
            ..Options::default()
        };
        Self {
            groups: Repository::new(store.clone(), options),
            tags: Repository::new(store, options),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        self.groups.store()
    }

    async fn book(&self) -> Result<GroupBook, AdminError> {
        Ok(self.groups.load(GROUPS_STREAM).await.map_err(group_error)?.state)
    }

    async fn tag_book(&self) -> Result<TagBook, AdminError> {
        Ok(self.tags.load(TAGS_STREAM).await.map_err(tag_error)?.state)
    }

    /// Both books as they are now (for the declaration sets, which follow groups and tags).
    pub(crate) async fn books(&self) -> Result<(GroupBook, TagBook), AdminError> {
        Ok((self.book().await?, self.tag_book().await?))
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<GroupInfo>, AdminError> {
        authorize(caller, Action::Read)?;
        let book = self.book().await?;
        Ok(book
            .groups
            .into_iter()
            .map(|(name, definition)| GroupInfo { name, definition })
            .collect())
    }

    pub async fn get(&self, caller: &Caller, name: &str) -> Result<GroupInfo, AdminError> {
        authorize(caller, Action::Read)?;
        let definition = self.book().await?.get(name).map_err(refused)?.clone();
        Ok(GroupInfo {
            name: name.to_string(),
            definition,
        })
    }

    /// Defines the group or replaces its definition; `false` when it already had this one.
    pub async fn define(
        &self,
        caller: &Caller,
        name: &str,
        definition: GroupDefinition,
        reason: Option<String>,
    ) -> Result<bool, AdminError> {
        authorize(caller, Action::ManageGroups)?;
        let command = GroupCommand::Define {
            name: name.to_string(),
            definition,
            reason,
        };
        let (decided, ()) = self
            .groups
            .run(GROUPS_STREAM, &command, &caller.actor, &NoHooks)
            .await
            .map_err(group_error)?;
        Ok(!decided.0.is_empty())
    }

    pub async fn remove(&self, caller: &Caller, name: &str, reason: Option<String>) -> Result<(), AdminError> {
        authorize(caller, Action::ManageGroups)?;
        let command = GroupCommand::Remove {
            name: name.to_string(),
            reason,
        };
        self.groups
            .run(GROUPS_STREAM, &command, &caller.actor, &NoHooks)
            .await
            .map_err(group_error)?;
        Ok(())
    }

    /// The admin tags an enrollment carries.
    pub async fn tags_of(&self, caller: &Caller, enrollment_id: &str) -> Result<Vec<String>, AdminError> {
        authorize(caller, Action::Read)?;
        Ok(self.tag_book().await?.tags_of(enrollment_id))
    }

    /// The enrollments carrying every one of `tags` (for the inventory's tag filter).
    pub async fn carrying(
        &self,
        caller: &Caller,
        tags: &[String],
    ) -> Result<std::collections::BTreeSet<String>, AdminError> {
        authorize(caller, Action::Read)?;
        Ok(self.tag_book().await?.carrying_all(tags))
    }

    /// Tags a device; `false` when it already carried the tag.
    pub async fn tag(
        &self,
        caller: &Caller,
        enrollment_id: &str,
        tag: &str,
        reason: Option<String>,
    ) -> Result<bool, AdminError> {
        authorize(caller, Action::ManageGroups)?;
        let command = TagCommand::Tag {
            enrollment_id: enrollment_id.to_string(),
            tag: tag.to_string(),
            reason,
        };
        let (decided, ()) = self
            .tags
            .run(TAGS_STREAM, &command, &caller.actor, &NoHooks)
            .await
            .map_err(tag_error)?;
        Ok(!decided.0.is_empty())
    }

    pub async fn untag(
        &self,
        caller: &Caller,
        enrollment_id: &str,
        tag: &str,
        reason: Option<String>,
    ) -> Result<(), AdminError> {
        authorize(caller, Action::ManageGroups)?;
        let command = TagCommand::Untag {
            enrollment_id: enrollment_id.to_string(),
            tag: tag.to_string(),
            reason,
        };
        self.tags
            .run(TAGS_STREAM, &command, &caller.actor, &NoHooks)
            .await
            .map_err(tag_error)?;
        Ok(())
    }
}

fn refused(r: GroupRefusal) -> AdminError {
    match r {
        GroupRefusal::Unknown(_) => AdminError::NotFound(r.to_string()),
        other => AdminError::invalid_at(other.to_string(), other.field()),
    }
}

fn tag_refused(r: TagRefusal) -> AdminError {
    match r {
        TagRefusal::Invalid(r) => refused(r),
        TagRefusal::NotTagged { .. } => AdminError::NotFound(r.to_string()),
        TagRefusal::TooMany(_) => AdminError::Conflict(r.to_string()),
    }
}

/// The runner's failures other than a refusal, as the admin API reports them.
pub(crate) fn run_failure<R>(e: RunError<R>, refusal: impl FnOnce(R) -> AdminError) -> AdminError {
    match e {
        RunError::Refused(r) => refusal(r),
        RunError::Store(e) => e.into(),
        RunError::Contention(stream) => StoreError::Unavailable(format!("too much contention on {stream}")).into(),
        RunError::Unreadable {
            stream,
            version,
            detail,
            ..
        } => AdminError::Internal(format!("{stream} event {version} cannot be read: {detail}")),
        RunError::Prepare(detail) => AdminError::Internal(detail),
    }
}

fn group_error(e: RunError<GroupRefusal>) -> AdminError {
    run_failure(e, refused)
}

fn tag_error(e: RunError<TagRefusal>) -> AdminError {
    run_failure(e, tag_refused)
}
