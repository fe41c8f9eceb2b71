//! Pure folds from Annal's events to read models (design brief §4): device inventory, command
//! queues and status, audit trail, push health. No I/O: the caller reads the log, persists the
//! documents [`Projections::drain_changes`] hands out, and serves the query helpers over HTTP.
//!
//! Every read model is a set of JSON documents keyed by a string, in a table named by the
//! projection's `NAME` and `VERSION` ([`Projections::models`]); a new version is rebuilt beside
//! the old one. The same fold over a prefix of the log (or of one stream) gives the state "as
//! of" that point ([`Projections::fold_as_of`]).
//!
//! A node restores the persisted documents, sets the checkpoint persisted with them, then
//! applies what follows and persists what changed:
//!
//! ```
//! use annal_projections::synthetic::{fleet, FleetSpec};
//! use annal_projections::{devices::DeviceFilter, Projections};
//!
//! let log = fleet(&FleetSpec { devices: 3, rounds: 2, seed: 1 });
//! let (before, after) = log.split_at(20);
//! let mut first = Projections::fold(before);
//! let persisted = first.drain_changes();
//!
//! let mut node = Projections::new();
//! for change in &persisted {
//!     node.restore(change).unwrap();
//! }
//! node.set_position(first.position());
//! for event in after {
//!     node.apply(event);
//! }
//! let changed = node.drain_changes(); // write these with `node.position()` in one transaction
//! assert!(!changed.is_empty());
//! assert_eq!(node.devices().list(&DeviceFilter::default(), None, 10).items.len(), 3);
//! ```

pub mod audit;
pub mod commands;
mod context;
pub mod devices;
mod docs;
mod plist_json;
mod projections;
pub mod push;
mod route;
pub mod synthetic;
#[cfg(test)]
mod tests;

pub use annal_schemas as schemas;
pub use projections::{AsOf, Projections};

/// One document that changed since the last drain, at its latest value.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The projection's `NAME`.
    pub model: &'static str,
    /// The projection's `VERSION`.
    pub version: u32,
    pub key: String,
    /// `None`: the document was deleted.
    pub doc: Option<serde_json::Value>,
    /// No later event changes it (a finished command): once persisted it may leave memory
    /// ([`Projections::evict`]), and a start-up need not load it.
    pub settled: bool,
    /// The secondary key the database indexes the document under (a command's CommandUUID,
    /// an audit entry's queued position), so queries find evicted documents.
    pub tag: Option<String>,
}

impl Change {
    /// A persisted document as the read-model database returns it, for [`Projections::restore`].
    pub fn stored(model: &'static str, version: u32, key: String, doc: serde_json::Value) -> Self {
        Self {
            model,
            version,
            key,
            doc: Some(doc),
            settled: false,
            tag: None,
        }
    }
}

/// One page of a query, in the query's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C = String> {
    pub items: Vec<T>,
    /// The cursor to pass as `after` for the next page; `None` on the last page.
    pub next: Option<C>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("no projection named {0:?}")]
    UnknownModel(String),
    #[error("{model} documents of version {found} cannot be restored into version {expected}: rebuild it")]
    VersionMismatch { model: String, found: u32, expected: u32 },
    #[error("{model} document {key:?} does not match its read model: {source}")]
    Document {
        model: &'static str,
        key: String,
        source: serde_json::Error,
    },
}
