//! The queries that reach settled documents (behind `queries.rs`): finished commands and their audit entries leave the
//! projector's memory once persisted (`Projections::evict`), so these read what memory still
//! holds and the rest from the read-model database.
//!
//! Memory is read first, then the database: a document is evicted only after the commit that
//! wrote it, so one missing from the memory read is already in the database. Where both hold
//! a document, memory's copy is the newer one and wins.

use std::collections::HashSet;

use annal_projections::audit::{audit_tag, AuditEntry, AuditFilter, AuditTrail};
use annal_projections::commands::{command_key, Commands, FanOut};
use annal_projections::Page;
use serde::de::DeserializeOwned;

use super::projector::{Projector, ProjectorError};

/// Stored audit entries read per round trip.
const BATCH: usize = 1000;

/// Every command queued under `command_uuid`, by enrollment, with counts per status.
pub(super) async fn fan_out(projector: &Projector, command_uuid: &str) -> Result<FanOut, ProjectorError> {
    let live = projector.read(|p| p.commands().by_command_uuid(command_uuid));
    let stored = projector
        .db
        .tagged(Commands::NAME, Commands::VERSION, command_uuid)
        .await?;
    // Stored rows memory also holds (every pending command) are not decoded at all.
    let held: HashSet<String> = live
        .iter()
        .map(|c| command_key(&c.enrollment, &c.command_uuid))
        .collect();
    let mut commands = live;
    for (key, doc) in stored {
        if !held.contains(&key) {
            commands.push(decode(Commands::NAME, &key, &doc)?);
        }
    }
    commands.sort_by(|a, b| a.enrollment.cmp(&b.enrollment));
    Ok(FanOut::of(commands))
}

/// Up to `limit` audit entries matching `filter` queued after position `after`, oldest first.
pub(super) async fn audit(
    projector: &Projector,
    filter: &AuditFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<AuditEntry, u64>, ProjectorError> {
    // Every key memory holds after `after` (its copy is newer than a stored one, whether or not
    // it matches), but only the first page and one more of its matching entries: later ones
    // cannot be on this page.
    let (held, mut entries) = projector.read(|p| {
        let held: HashSet<String> = p.audit().keys_after(after).map(str::to_owned).collect();
        (held, p.audit().query(filter, after, limit.saturating_add(1)).items)
    });
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
