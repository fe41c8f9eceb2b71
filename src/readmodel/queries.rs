//! The one way to read the read models: handlers (and any other adapter, such as a console)
//! ask here and never see where an answer came from.
//!
//! Behind it: the projector's memory (the fleet's current state, updated as soon as an event
//! is seen), the read-model database (settled documents that left memory: `settled.rs`), and
//! the log itself (a device's history, and its inventory "as of" a past point, which are folds
//! of its own stream). Every read first waits, briefly, until the read models include what this
//! node has appended, so a client reads its own writes; answers carry the position they were
//! read at.

use std::time::Duration;

use annal_projections::audit::{AuditEntry, AuditFilter};
use annal_projections::commands::{CommandStatus, FanOut};
use annal_projections::devices::{Device, DeviceFilter};
use annal_projections::push::PushRecord;
use annal_projections::{AsOf, Page, Projections};
use annal_schemas::RecordedEvent;
use chrono::{DateTime, Utc};

use super::projector::{Projector, ProjectorError};
use super::settled;
use crate::domain::enrollment::stream_name;
use crate::store::{EventStore, StoreError};

/// How long a read waits for the read models to include this node's latest append.
const READ_YOUR_WRITES: Duration = Duration::from_secs(2);
/// Events read per round trip when folding or paging a stream.
const STREAM_PAGE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ReadModel(#[from] ProjectorError),
}

/// An answer and the log position the read models were at when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct AtPosition<T> {
    pub value: T,
    pub position: u64,
}

/// One page of an enrollment's events, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub events: Vec<RecordedEvent>,
    /// The stream version to continue after; `None` on the last page.
    pub next: Option<u64>,
}

/// A point of the log up to which to read (inclusive): `None` is now.
pub type AsOfPoint = Option<AsOf>;

#[derive(Clone, Copy)]
pub struct Queries<'a> {
    projector: &'a Projector,
    store: &'a dyn EventStore,
}

impl<'a> Queries<'a> {
    pub fn new(projector: &'a Projector, store: &'a dyn EventStore) -> Self {
        Self { projector, store }
    }

    /// The position the read models have folded up to (no wait).
    pub fn position(&self) -> u64 {
        self.projector.position()
    }

    /// Commands queued and not finished, fleet-wide (no wait: a gauge).
    pub fn pending_total(&self) -> usize {
        self.projector.read(|p| p.commands().pending_total())
    }

    /// The enrolled user channels under a device channel (`<UDID>:`), from memory: a device's
    /// CheckOut ends them too.
    pub fn user_channels(&self, prefix: &str) -> Vec<String> {
        self.projector.read(|p| p.devices().enrolled_with_prefix(prefix))
    }

    pub async fn devices(&self, filter: &DeviceFilter, after: Option<&str>, limit: usize) -> AtPosition<Page<Device>> {
        self.fresh(|p| p.devices().list(filter, after, limit)).await
    }

    /// One enrollment's inventory now, or as the log knew it at `as_of` (refolded from the
    /// enrollment's own stream, so the past is exact).
    pub async fn device(&self, enrollment: &str, as_of: AsOfPoint) -> Result<Option<Device>, QueryError> {
        match as_of {
            None => Ok(self.fresh(|p| p.devices().get(enrollment)).await.value),
            Some(as_of) => Ok(self
                .fold_stream_as_of(enrollment, as_of)
                .await?
                .devices()
                .get(enrollment)),
        }
    }

    /// The enrollment's pending commands in the order they will be sent; `None` for an
    /// enrollment the inventory does not know.
    pub async fn queue(&self, enrollment: &str) -> Option<AtPosition<Vec<CommandStatus>>> {
        let answer = self
            .fresh(|p| p.devices().contains(enrollment).then(|| p.commands().queue(enrollment)))
            .await;
        answer.value.map(|value| AtPosition {
            value,
            position: answer.position,
        })
    }

    /// Every command queued under `command_uuid`, by enrollment, with counts per status.
    pub async fn fan_out(&self, command_uuid: &str) -> Result<AtPosition<FanOut>, QueryError> {
        let position = self.caught_up().await;
        let value = settled::fan_out(self.projector, command_uuid).await?;
        Ok(AtPosition { value, position })
    }

    /// Up to `limit` audit entries matching `filter` queued after position `after`, oldest
    /// first (`usize::MAX`: every one, for an export).
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<AtPosition<Page<AuditEntry, u64>>, QueryError> {
        let position = self.caught_up().await;
        let value = settled::audit(self.projector, filter, after, limit).await?;
        Ok(AtPosition { value, position })
    }

    /// Enrollments whose push token APNs declared dead.
    pub async fn push_token_dead(&self, after: Option<&str>, limit: usize) -> AtPosition<Page<PushRecord>> {
        self.fresh(|p| p.push().token_dead(after, limit)).await
    }

    /// Enrollments pushed and silent for longer than `silent_for` at `now`.
    pub async fn push_silent(
        &self,
        now: DateTime<Utc>,
        silent_for: chrono::Duration,
        after: Option<&str>,
        limit: usize,
    ) -> AtPosition<Page<PushRecord>> {
        self.fresh(|p| p.push().silent(now, silent_for, after, limit)).await
    }

    pub async fn push_record(&self, enrollment: &str) -> Option<PushRecord> {
        self.fresh(|p| p.push().get(enrollment)).await.value
    }

    /// Up to `limit` events of one enrollment after stream version `after`, leaving out what
    /// follows `as_of`; `None` when the enrollment has no events at all.
    pub async fn history(
        &self,
        enrollment: &str,
        after: u64,
        limit: usize,
        as_of: AsOfPoint,
    ) -> Result<Option<HistoryPage>, QueryError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Some(HistoryPage {
                events: Vec::new(),
                next: None,
            }));
        };
        let mut page = self
            .store
            .read_stream(&stream_name(enrollment), first, limit + 1)
            .await?;
        if page.is_empty() && after == 0 {
            return Ok(None);
        }
        let in_view = |e: &RecordedEvent| as_of.is_none_or(|a| a.includes(e));
        // Stream order is global order within a stream, so the first event past the "as of"
        // point ends the history.
        let more = page.len() > limit && in_view(&page[limit]);
        page.truncate(limit);
        let visible = page.iter().take_while(|e| in_view(e)).count();
        let more = more && visible == limit;
        page.truncate(visible);
        let next = if more {
            page.last().map(|e| e.stream_version)
        } else {
            None
        };
        Ok(Some(HistoryPage { events: page, next }))
    }

    /// Runs `f` over read models that include the log's head as of the call (or, if they lag
    /// more than two seconds behind, over what they have).
    pub(super) async fn fresh<T>(&self, f: impl FnOnce(&Projections) -> T) -> AtPosition<T> {
        self.caught_up().await;
        let (value, position) = self.projector.read(|p| (f(p), p.position()));
        AtPosition { value, position }
    }

    /// Waits as [`Self::fresh`] does; returns the position the read models are at.
    async fn caught_up(&self) -> u64 {
        let head = *self.store.watch_head().borrow();
        self.projector.wait_for(head, READ_YOUR_WRITES).await;
        self.projector.position()
    }

    /// Folds the enrollment's stream page by page up to `as_of`: a long history with large
    /// answers never sits in memory whole.
    async fn fold_stream_as_of(&self, enrollment: &str, as_of: AsOf) -> Result<Projections, QueryError> {
        let stream = stream_name(enrollment);
        let mut projections = Projections::new();
        let mut next = 1;
        loop {
            let page = self.store.read_stream(&stream, next, STREAM_PAGE).await?;
            let Some(last) = page.last().map(|e| e.stream_version) else {
                return Ok(projections);
            };
            for e in &page {
                if !as_of.includes(e) {
                    return Ok(projections);
                }
                projections.apply(e);
            }
            next = last + 1;
        }
    }
}
