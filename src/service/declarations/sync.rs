//! Gives each enrolled device its declaration set's tokens: a reconciliation, not a fan-out on
//! write. Each pass computes every enrolled device's set and, where its DeclarationsToken is not
//! the last one the device was given, queues `DeclarativeManagement` (`DDM-<token>`) through the
//! enrollment aggregate, which decides (and records) whether it is new, then asks for pushes.
//! A crash loses nothing: the next pass (on any node that leads) finds the same difference.

use std::collections::HashMap;
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

/// The last token each enrollment was given, by this worker's knowledge: a cache (the
/// aggregate holds the truth), keyed with the enrollment's generation so a re-enrolled device
/// is looked at again.
type Given = HashMap<String, (u64, String)>;

impl SyncWorker {
    pub fn spawn(self, stop: watch::Receiver<bool>) {
        tokio::spawn(self.run(stop));
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut given = Given::new();
        loop {
            if (self.is_leader)() {
                match self.pass(&mut given).await {
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

    /// One reconciliation over every enrolled device.
    pub async fn pass(&self, given: &mut Given) -> Result<PassReport, AdminError> {
        let catalog = self.declarations.catalog().await?;
        let (groups, tags) = self.declarations.groups.books().await?;
        let mut report = PassReport::default();
        let mut queued = Vec::new();
        let mut enrolled = std::collections::HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = self.facts.enrolled(after.as_deref(), PAGE).await;
            report.devices += page.len();
            enrolled.extend(page.iter().map(|f| f.key.clone()));
            let work: Vec<(String, u64, DeclSet)> = page
                .into_iter()
                .filter_map(|mut facts| {
                    facts.tags = tags.tags_of(&facts.key).into_iter().collect();
                    let set = catalog.set_for(&groups, &facts);
                    let known = given.get(&facts.key);
                    let same = known.is_some_and(|(g, t)| *g == facts.generation && *t == set.declarations_token);
                    (!same).then_some((facts.key, facts.generation, set))
                })
                .collect();
            let results: Vec<_> = futures::stream::iter(work)
                .map(|(key, generation, set)| async move {
                    let result = self.sync_one(&key, &set).await;
                    (key, generation, set.declarations_token, result)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (key, generation, token, result) in results {
                match result {
                    Ok(new) => {
                        if new {
                            report.queued += 1;
                            queued.push(key.clone());
                        }
                        given.insert(key, (generation, token));
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
        // Devices no longer enrolled leave the cache (a new enrollment starts a new generation).
        given.retain(|key, _| enrolled.contains(key));
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
