//! Where read models live: projection documents and subscription checkpoints, persisted in
//! SQLite (beside the embedded log, or in the data directory when the log is KurrentDB) or in
//! the log's PostgreSQL database.
//!
//! A projection's documents and its checkpoint are written in one transaction, so after a
//! crash the read model is exactly the fold of the log up to its checkpoint: catching up from
//! there neither skips nor double-applies an event.
//!
//! Reads go through one facade, [`Queries`] (`queries.rs`), which hides whether an answer comes
//! from memory, this database or the log.

mod declarations;
pub use declarations::ReadModelFacts;
mod inventory;
mod postgres;
pub mod projector;
mod queries;
mod settled;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::store::StoreUrl;

pub use postgres::PostgresReadModels;
pub use queries::{AsOfPoint, AtPosition, HistoryPage, Queries, QueryError};
pub use sqlite::SqliteReadModels;

#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read-model database: {0}")]
    Database(String),
    #[error("read-model database unavailable: {0}")]
    Unavailable(String),
}

/// One document write: `doc` None deletes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocWrite {
    pub model: &'static str,
    pub version: u32,
    pub key: String,
    pub doc: Option<Vec<u8>>,
    /// The document is final (see `annal_projections::Change::settled`): a start-up does not
    /// load it back into memory.
    pub settled: bool,
    /// Indexed, for [`ReadModelDb::tagged`] and [`ReadModelDb::tagged_after`].
    pub tag: Option<String>,
}

/// A document found by its tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    pub key: String,
    pub tag: String,
    pub doc: Vec<u8>,
}

/// Whether a commit landed. Two nodes may persist the same projection into one PostgreSQL
/// database; a checkpoint never moves backwards, so the node that is behind skips its write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    Written,
    /// The stored checkpoint was already past this one; nothing was written.
    Behind {
        stored: u64,
    },
}

#[async_trait]
pub trait ReadModelDb: Send + Sync {
    /// The position a checkpointed consumer (a projection, a webhook) has processed up to.
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, ReadModelError>;

    /// Writes `docs` and moves checkpoint `name` to `position`, in one transaction.
    async fn commit(&self, name: &str, position: u64, docs: Vec<DocWrite>) -> Result<Committed, ReadModelError> {
        self.commit_many(&[(name, position)], docs).await
    }

    /// Writes `docs` and moves every checkpoint to its position, in one transaction: the
    /// projections keep a checkpoint each, and a crash must never leave one ahead of another.
    /// Nothing is written when any stored checkpoint is already past its new position.
    async fn commit_many(&self, checkpoints: &[(&str, u64)], docs: Vec<DocWrite>) -> Result<Committed, ReadModelError>;

    /// Every stored document of one projection version, in key order.
    async fn load_docs(&self, model: &str, version: u32) -> Result<Vec<(String, Vec<u8>)>, ReadModelError>;

    /// Removes a projection version's documents and resets checkpoint `name` (for a rebuild).
    async fn reset(&self, name: &str, models: &[(&'static str, u32)]) -> Result<(), ReadModelError>;

    /// Checkpoint `name` and every document of `models` that is not settled (what a start-up
    /// restores), read in one transaction: a writer committing meanwhile cannot make the
    /// documents newer than the checkpoint.
    async fn load_all(&self, name: &str, models: &[(&'static str, u32)]) -> Result<Loaded, ReadModelError> {
        let mut many = self.load_many(&[name], models).await?;
        Ok(Loaded {
            checkpoint: many.checkpoints.pop().flatten(),
            docs: many.docs,
        })
    }

    /// As `load_all`, with several checkpoints (in the order of `names`), all read in the one
    /// transaction with the documents.
    async fn load_many(&self, names: &[&str], models: &[(&'static str, u32)]) -> Result<LoadedMany, ReadModelError>;

    /// Every document of one projection version tagged `tag` (a command's CommandUUID), in key
    /// order.
    async fn tagged(&self, model: &str, version: u32, tag: &str) -> Result<Vec<(String, Vec<u8>)>, ReadModelError>;

    /// Up to `limit` documents of one projection version with tags after `after` (all, for
    /// `None`), in tag order.
    async fn tagged_after(
        &self,
        model: &str,
        version: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tagged>, ReadModelError>;

    /// The right to write the read models, held until the lease is dropped; None if another
    /// process holds it. One writer at a time keeps documents and checkpoint consistent: every
    /// write comes from one complete fold.
    async fn try_lease(&self) -> Result<Option<Lease>, ReadModelError>;
}

/// What [`ReadModelDb::load_all`] read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub checkpoint: Option<u64>,
    /// `(model, version, key, document)`.
    pub docs: Vec<(&'static str, u32, String, Vec<u8>)>,
}

/// What [`ReadModelDb::load_many`] read in one transaction.
#[derive(Debug, Default)]
pub struct LoadedMany {
    /// One per name asked for, in that order.
    pub checkpoints: Vec<Option<u64>>,
    /// `(model, version, key, document)`.
    pub docs: Vec<(&'static str, u32, String, Vec<u8>)>,
}

/// Held while a process may write the read models (a file lock on SQLite, a session advisory
/// lock on PostgreSQL); released when dropped or when the process dies, and on PostgreSQL also
/// when its connection ends (a database restart): check `is_held` before writing.
pub struct Lease {
    held: Box<dyn Held>,
}

/// What keeps a lease: the locked file, or the connection whose session holds the lock.
pub(crate) trait Held: Send + Sync + 'static {
    fn is_held(&self) -> bool;
}

impl Held for std::fs::File {
    /// A file lock lasts as long as the open file.
    fn is_held(&self) -> bool {
        true
    }
}

impl Lease {
    pub(crate) fn new(held: impl Held) -> Self {
        Self { held: Box::new(held) }
    }

    /// Whether the lock still exists: a PostgreSQL session lock ends with its connection.
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }
}

/// Opens the read-model database that goes with the event store `url`.
pub async fn open(url: &StoreUrl, data_dir: &Path) -> Result<Arc<dyn ReadModelDb>, ReadModelError> {
    match url {
        StoreUrl::Sqlite(events) => Ok(Arc::new(SqliteReadModels::open(&sqlite_path_beside(events))?)),
        StoreUrl::Postgres(u) => Ok(Arc::new(PostgresReadModels::connect(u).await?)),
        // KurrentDB holds events only; its read models live in the data directory.
        StoreUrl::KurrentDb(_) => Ok(Arc::new(SqliteReadModels::open(&data_dir.join("readmodels.db"))?)),
    }
}

/// `annal.db` → `annal.readmodels.db`: beside the log, so one directory backs up both.
fn sqlite_path_beside(events: &Path) -> std::path::PathBuf {
    let stem = events
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "annal".into());
    events.with_file_name(format!("{stem}.readmodels.db"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_read_models_sit_beside_the_log() {
        let p = super::sqlite_path_beside(std::path::Path::new("/var/lib/annal/annal.db"));
        assert_eq!(p, std::path::Path::new("/var/lib/annal/annal.readmodels.db"));
    }
}
