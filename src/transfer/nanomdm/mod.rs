//! `annal migrate from-nanomdm`: a NanoMDM deployment's enrollments, identities, push tokens
//! and queues as events in Annal's log, so its devices keep working without enrolling again.
//!
//! - `rows.rs`: NanoMDM's state as plain rows, whatever it was stored in;
//! - `pgsql.rs`, `mysql.rs`, `file.rs`: reading them from NanoMDM's PostgreSQL or MySQL
//!   schema, or its file store;
//! - `map.rs`: replaying them through the device path's translation and the enrollment's
//!   `decide` (secrets sealed there, as for a device), marked as imported;
//! - `write.rs`: checking the target log and writing every event in one atomic import.
//!
//! Identities: NanoMDM's devices hold certificates from NanoMDM's CA, which Annal does not
//! trust. The import records each enrollment's certificate (`IdentityImported`, by the SHA-256
//! NanoMDM associated with it) and claims it for that enrollment alone; the server trusts
//! exactly those certificates at start, never their CA.

mod file;
mod map;
mod mysql;
mod pgsql;
pub mod rows;
mod sql;
mod write;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use map::{plan, Channel, Counts, Plan, Skipped, ACTOR, PROOF};
pub use rows::Snapshot;
pub use write::{existing, without, write, Written};

use crate::store::StoreError;

/// Where NanoMDM's state is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `postgres://…` or `postgresql://…` (tokio-postgres' URL form, `options=-c search_path=…`
    /// for a schema other than `public`).
    Postgres(String),
    /// `mysql://user:password@host:3306/nanomdm` (NanoMDM's MySQL or MariaDB schema).
    Mysql(String),
    /// `file:<directory>`: NanoMDM's file store (`-storage file`).
    File(PathBuf),
}

impl FromStr for Source {
    type Err = NanoError;

    fn from_str(s: &str) -> Result<Self, NanoError> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Source::Postgres(s.to_owned()));
        }
        if s.starts_with("mysql://") {
            return Ok(Source::Mysql(s.to_owned()));
        }
        if let Some(path) = s.strip_prefix("file://").or_else(|| s.strip_prefix("file:")) {
            if !path.is_empty() {
                return Ok(Source::File(PathBuf::from(path)));
            }
        }
        Err(NanoError::Url(s.to_owned()))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The password, if the URL has one, is not printed.
            Source::Postgres(url) | Source::Mysql(url) => f.write_str(&redact(url)),
            Source::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Reads NanoMDM's whole state, before anything is written.
pub async fn read(source: &Source) -> Result<Snapshot, NanoError> {
    match source {
        Source::Postgres(url) => pgsql::read(url).await,
        Source::Mysql(url) => mysql::read(url).await,
        Source::File(root) => {
            let root = root.clone();
            // A directory walk: off the async runtime's threads.
            tokio::task::spawn_blocking(move || file::read(&root))
                .await
                .map_err(|e| NanoError::Source {
                    what: "NanoMDM's file store".into(),
                    detail: e.to_string(),
                })?
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NanoError {
    #[error("NanoMDM's {table} row {id}: {detail}; nothing was imported")]
    Row {
        table: &'static str,
        id: String,
        detail: String,
    },
    #[error("reading {what}: {detail}")]
    Source { what: String, detail: String },
    #[error(
        "--source {0}: give NanoMDM's database as postgres://… or mysql://…, or its file store as file:<directory>"
    )]
    Url(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NanoError {
    pub(crate) fn row(table: &'static str, id: &str, detail: String) -> Self {
        NanoError::Row {
            table,
            id: id.to_owned(),
            detail,
        }
    }
}

/// `scheme://user:password@host/…` without the password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}
