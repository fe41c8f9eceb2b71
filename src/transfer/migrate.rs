//! `annal migrate`: one store's log into another, empty one (export and import without a file).
//!
//! The source is verified first (as `annal audit verify` would), so a broken log is refused
//! before anything is written; then events are copied in batches up to the head the source had
//! at the start, each batch checked again by the target under its lock; finally the target is
//! read back and verified against that head as a checkpoint.

use super::{check_empty, check_verbatim, Summary, TransferError, BATCH};
use crate::integrity::{verify, Checkpoint};
use crate::store::EventStore;

/// Progress callbacks, one per phase; each gets the number of events done in that phase.
pub trait MigrateProgress {
    fn verifying_source(&mut self, events: u64);
    fn copying(&mut self, events: u64);
    fn verifying_target(&mut self, events: u64);
}

pub async fn migrate(
    source: &dyn EventStore,
    target: &dyn EventStore,
    progress: &mut impl MigrateProgress,
) -> Result<Summary, TransferError> {
    check_verbatim("source", source.capabilities())?;
    check_empty(target).await?;
    let head = source.head().await?;
    let checkpoint = Checkpoint {
        position: head.position,
        hash: head.hash,
    };
    if head.position == 0 {
        return Err(TransferError::SourceEmpty);
    }
    let report = verify(source, Some(checkpoint), |n| progress.verifying_source(n)).await?;
    if let Some(problem) = report.first_problem {
        return Err(TransferError::SourceBroken(problem));
    }
    let mut copied = 0u64;
    let mut next = 1;
    while next <= head.position {
        let mut page = source.read_all(next, BATCH).await?;
        page.retain(|e| e.global_position <= head.position);
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        copied += page.len() as u64;
        target.import(page).await?;
        progress.copying(copied);
    }
    let report = verify(target, Some(checkpoint), |n| progress.verifying_target(n)).await?;
    if let Some(problem) = report.first_problem {
        return Err(TransferError::TargetBroken(problem.to_string()));
    }
    let written = target.head().await?;
    if written != head {
        return Err(TransferError::TargetBroken(format!(
            "its head is at position {}, the source's at {}",
            written.position, head.position
        )));
    }
    Ok(Summary { events: copied, head })
}
