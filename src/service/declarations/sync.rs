//! Gives each enrolled device its declaration set's tokens: a reconciliation, not a fan-out on
//! write. Each pass computes every enrolled device's set and, where its DeclarationsToken is not
//! the last one the device was given (the inventory's), queues `DeclarativeManagement` (`DDM-<token>`) through the
//! enrollment aggregate, which decides (and records) whether it is new, then asks for pushes.
//! A crash loses nothing: the next pass (on any node that leads) finds the same difference.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::watch;

use super::{Declarations, Facts};
use crate::domain::declarations::DeclSet;
use crate::domain::enrollment::{AdminInput, Input, Reply, DDM_COMMAND_PREFIX};
use crate::mdm::command::command_envelope;
use crate::mdm::commands::builders::{Command, DeclarativeManagement};
use crate::push::PushService;
use crate::secrets::DataKey;
use crate::service::admin::AdminError;
use crate::service::enrollments::Enrollments;

/// Who the sync commands are recorded as queued by.
pub const SYNC_ACTOR: &str = "system:ddm-sync";
/// Longest wait between passes when nothing changed on this node: how late a device newly
/// enrolled (or newly matching a filter), or a change made on another node, is synced.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(10);
/// Enrolled devices read from the inventory at a time.
const PAGE: usize = 2_000;
/// Enrollments queued to at once (each is one append).
const CONCURRENCY: usize = 64;

pub struct SyncWorker {
    pub declarations: Arc<Declarations>,
    pub enrollments: Arc<Enrollments>,
    pub data_key: Arc<DataKey>,
    pub push: Arc<PushService>,
    pub facts: Arc<dyn Facts>,
    /// Only the node that keeps the read models runs passes (any could, safely: the aggregate
    /// decides; one is enough).
    pub is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Longest wait between passes when nothing changed here (a change on another node, a
    /// device newly enrolled or moved into a filter).
    pub interval: Duration,
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub devices: usize,
    pub queued: usize,
    pub failed: usize,
}

impl SyncWorker {
    pub fn spawn(self, stop: watch::Receiver<bool>) {
        tokio::spawn(self.run(stop));
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if (self.is_leader)() {
                match self.pass().await {
                    Ok(r) if r.queued > 0 || r.failed > 0 => {
                        tracing::info!(
                            devices = r.devices,
                            queued = r.queued,
                            failed = r.failed,
                            "declaration sync pass"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "declaration sync pass failed; retrying at the next one"),
                }
            }
            tokio::select! {
                () = self.declarations.changed.notified() => {}
                () = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    /// One reconciliation over every enrolled device. Which token each was last given is the
    /// inventory's (folded from the `DDM-` commands queued): a device whose set has that token,
    /// or that was never given one and whose set is empty, costs no aggregate load. The
    /// inventory may trail the log by the syncs this node just queued; the aggregate, which
    /// reads the log, answers those with "already given".
    pub async fn pass(&self) -> Result<PassReport, AdminError> {
        let catalog = self.declarations.catalog().await?;
        let (groups, tags) = self.declarations.groups.books().await?;
        let mut report = PassReport::default();
        let mut queued = Vec::new();
        let empty = DeclSet::empty().declarations_token;
        let mut after: Option<String> = None;
        loop {
            let (page, next) = self.facts.enrolled(after.as_deref(), PAGE).await;
            report.devices += page.len();
            let work: Vec<(String, DeclSet)> = page
                .into_iter()
                .filter_map(|mut facts| {
                    facts.tags = tags.tags_of(&facts.key).into_iter().collect();
                    let set = catalog.set_for(&groups, &facts);
                    let given = facts.given_token.as_deref();
                    let in_sync = match given {
                        Some(token) => token == set.declarations_token,
                        None => set.declarations_token == empty,
                    };
                    (!in_sync).then_some((facts.key, set))
                })
                .collect();
            let results: Vec<_> = futures::stream::iter(work)
                .map(|(key, set)| async move {
                    let result = self.sync_one(&key, &set).await;
                    (key, result)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (key, result) in results {
                match result {
                    Ok(new) => {
                        if new {
                            report.queued += 1;
                            queued.push(key);
                        }
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::debug!(enrollment = %key, error = %e, "declaration sync not queued");
                    }
                }
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        if !queued.is_empty() && self.push.topic().is_some() {
            self.push.request(queued, "ddm-sync");
        }
        Ok(report)
    }

    /// Queues the sync for one enrollment unless its last one carried this token; `true` when
    /// a command was queued.
    pub async fn sync_one(&self, key: &str, set: &DeclSet) -> Result<bool, AdminError> {
        let command = DeclarativeManagement {
            declarations_token: set.declarations_token.clone(),
            timestamp: set.timestamp_text(),
        };
        let command_uuid = format!("{DDM_COMMAND_PREFIX}{}", set.declarations_token);
        let envelope =
            command_envelope(&command_uuid, command.to_command()).map_err(|e| AdminError::Internal(e.to_string()))?;
        let payload = self
            .data_key
            .seal_raw(&envelope)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let input = Input::Admin(AdminInput::SyncDeclarations {
            declarations_token: set.declarations_token.clone(),
            payload,
        });
        let outcome = self.enrollments.handle(key, input, SYNC_ACTOR, Utc::now()).await?;
        Ok(matches!(outcome.reply, Some(Reply::Queued { duplicate: false, .. })))
    }
}
