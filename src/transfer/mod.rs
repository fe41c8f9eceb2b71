//! Moving a whole log verbatim: `annal events export` (store → NDJSON), `annal events import`
//! (NDJSON → empty store) and `annal migrate` (store → empty store). Every event keeps its id,
//! position, stream version, time and hash, so `annal audit head` gives the same answer on
//! both sides; secrets stay sealed as stored.

mod export;
mod file;
mod migrate;
pub mod nanomdm;
pub mod ndjson;

use std::fmt;
use std::path::PathBuf;

use uuid::Uuid;

use crate::integrity::Finding;
use crate::store::{Capabilities, EventStore, Head, StoreError};

pub use export::export;
pub use file::{import_file, verify_file};
pub use migrate::{migrate, MigrateProgress};

/// Events per read and per import batch: large enough to amortize a commit, small enough that
/// a batch of big device payloads stays in memory comfortably.
pub const BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("line {line}: not an exported event: {detail}; nothing was imported")]
    Malformed { line: u64, detail: String },
    #[error("line {line}, event {event_id}: {problem}; nothing was imported")]
    Broken { line: u64, event_id: Uuid, problem: String },
    #[error("{0} has no events; nothing was imported")]
    Empty(PathBuf),
    #[error(
        "the target event store is not empty (its head is at position {position}): import and migrate \
         write only into an empty log; give them a new SQLite file or PostgreSQL schema"
    )]
    NotEmpty { position: u64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("the source log is empty: nothing to migrate")]
    SourceEmpty,
    #[error("the source log is broken, nothing was copied: {0}")]
    SourceBroken(Finding),
    #[error("after writing, the target log does not verify: {0}")]
    TargetBroken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many events went through and the head they end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub head: Head,
}

impl Summary {
    /// `<position>:<hex hash>`, as `annal audit head` prints it.
    pub fn head_text(&self) -> String {
        format!("{}:{}", self.head.position, hex::encode(self.head.hash))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} events, head {}", self.events, self.head_text())
    }
}

/// A log can be written verbatim only where positions are dense and the chain global.
fn check_verbatim(what: &str, capabilities: Capabilities) -> Result<(), TransferError> {
    if capabilities.verbatim_import() {
        return Ok(());
    }
    Err(TransferError::Unsupported(format!(
        "the {what} is a KurrentDB log, whose positions are not dense and whose hash chain runs per \
         stream: it cannot be moved verbatim; use SQLite or PostgreSQL"
    )))
}

/// Import and migrate refuse a target that holds anything: a restored log must be the source's
/// log exactly, not a mix.
async fn check_empty(target: &dyn EventStore) -> Result<(), TransferError> {
    check_verbatim("target", target.capabilities())?;
    let head = target.head().await?;
    if head.position != 0 {
        return Err(TransferError::NotEmpty {
            position: head.position,
        });
    }
    Ok(())
}
