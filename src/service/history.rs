//! Queries that reach settled documents: finished commands and their audit entries leave the
//! projector's memory once persisted (`Projections::evict`), so these read what memory still
//! holds and the rest from the read-model database.
//!
//! Memory is read first, then the database: a document is evicted only after the commit that
//! wrote it, so one missing from the memory read is already in the database. Where both hold
//! a document, memory's copy is the newer one and wins.

use std::collections::{BTreeMap, HashSet};

use annal_projections::audit::{audit_tag, AuditEntry, AuditFilter, AuditTrail};
use annal_projections::commands::{command_key, CommandStatus, Commands, FanOut};
use annal_projections::Page;
use serde::de::DeserializeOwned;

use super::projector::{Projector, ProjectorError};

/// Stored audit entries read per round trip.
const BATCH: usize = 1000;

/// Every command queued under `command_uuid`, by enrollment, with counts per status.
pub async fn fan_out(projector: &Projector, command_uuid: &str) -> Result<FanOut, ProjectorError> {
    let live = projector.read(|p| p.commands().by_command_uuid(command_uuid));
    let stored = projector
        .db
        .tagged(Commands::NAME, Commands::VERSION, command_uuid)
        .await?;
    let mut by_key: BTreeMap<String, CommandStatus> = BTreeMap::new();
    for (key, doc) in stored {
        let command: CommandStatus = decode(Commands::NAME, &key, &doc)?;
        by_key.insert(key, command);
    }
    for command in live {
        by_key.insert(command_key(&command.enrollment, &command.command_uuid), command);
    }
    // Keys are `<enrollment>/<uuid>` with one uuid: key order is enrollment order.
    Ok(FanOut::of(by_key.into_values().collect()))
}

/// Up to `limit` audit entries matching `filter` queued after position `after`, oldest first.
pub async fn audit(
    projector: &Projector,
    filter: &AuditFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<AuditEntry, u64>, ProjectorError> {
    let everything = AuditFilter::default();
    let live = projector.read(|p| p.audit().query(&everything, after, usize::MAX).items);
    let held: HashSet<String> = live
        .iter()
        .map(|e| command_key(&e.enrollment, &e.command_uuid))
        .collect();
    let mut entries: Vec<AuditEntry> = live.into_iter().filter(|e| filter.matches(e)).collect();
    // Stored entries in queued order until one more than a page matches: any entry before the
    // last of those is then either among them or in memory.
    let (mut cursor, mut stored) = (after.map(audit_tag), 0usize);
    loop {
        let batch = projector
            .db
            .tagged_after(AuditTrail::NAME, AuditTrail::VERSION, cursor.as_deref(), BATCH)
            .await?;
        for row in &batch {
            if held.contains(&row.key) {
                continue;
            }
            let entry: AuditEntry = decode(AuditTrail::NAME, &row.key, &row.doc)?;
            if filter.matches(&entry) {
                entries.push(entry);
                stored += 1;
            }
        }
        if batch.len() < BATCH || stored > limit {
            break;
        }
        cursor = batch.last().map(|row| row.tag.clone());
    }
    entries.sort_by_key(|e| e.queued_position);
    let more = limit > 0 && entries.len() > limit;
    entries.truncate(limit);
    Ok(Page {
        next: if more {
            entries.last().map(|e| e.queued_position)
        } else {
            None
        },
        items: entries,
    })
}

fn decode<T: DeserializeOwned>(model: &str, key: &str, doc: &[u8]) -> Result<T, ProjectorError> {
    serde_json::from_slice(doc).map_err(|e| ProjectorError::Document {
        model: model.into(),
        key: key.into(),
        detail: e.to_string(),
    })
}
