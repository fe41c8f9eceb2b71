//! Choosing a backend from one URL, as `--store` and `ANNAL_STORE` give it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{EventStore, PostgresStore, SqliteStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:<path>` or `sqlite://<path>`.
    Sqlite(PathBuf),
    /// `postgres://…` / `postgresql://…`, passed to the driver as is.
    Postgres(String),
    /// `kurrentdb://…` / `esdb://…` (needs the `kurrentdb` cargo feature).
    KurrentDb(String),
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        if let Some(path) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(StoreError::Config("--store sqlite: URL without a path".into()));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        if s.starts_with("kurrentdb://") || s.starts_with("esdb://") || s.starts_with("kurrentdb+discover://") {
            return Ok(StoreUrl::KurrentDb(s.to_string()));
        }
        Err(StoreError::Config(format!(
            "--store {:?} is not a store Annal can use: give sqlite:<path>, postgres://… or kurrentdb://… (MySQL and others are not supported)",
            redact(s)
        )))
    }
}

impl std::fmt::Display for StoreUrl {
    /// Shows the URL without its password, for logs and `config check`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreUrl::Postgres(u) | StoreUrl::KurrentDb(u) => f.write_str(&redact(u)),
        }
    }
}

/// Replaces the password in `scheme://user:password@host` and the value of any query
/// parameter that carries one (`?password=…`, `sslpassword=…`) with `***`.
pub fn redact(url: &str) -> String {
    redact_with(url, "***")
}

/// As [`redact`], with `marker` in place of each password. The userinfo ends at the last `@`
/// before the query, so a password holding `@` or `/` never shows in part.
pub fn redact_with(url: &str, marker: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:{marker}@{host}"),
                None => base.to_string(),
            },
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    let Some(query) = query else {
        return base;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}={marker}"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_never_show() {
        let shown = super::redact("postgres://annal:pw1@db/annal?sslmode=require&password=pw2&sslpassword=pw3");
        assert_eq!(
            shown,
            "postgres://annal:***@db/annal?sslmode=require&password=***&sslpassword=***"
        );
        let url: super::StoreUrl = "postgres://db/annal?password=pw4".parse().unwrap();
        assert!(!url.to_string().contains("pw4"));
        for awkward in ["postgres://u:pa/ss5@h/db", "postgres://u:p@ss6@h/db"] {
            let shown = super::redact_with(awkward, "<redacted>");
            assert_eq!(shown, "postgres://u:<redacted>@h/db", "{awkward}");
        }
    }
}

/// Opens the backend `url` names.
/// Reaches the store without changing it (no schema made, no file created): what `annal config
/// check` asks before a first start. KurrentDB is not probed.
pub async fn probe(url: &StoreUrl) -> Result<(), StoreError> {
    match url {
        StoreUrl::Sqlite(path) => {
            if path.exists() {
                return std::fs::File::open(path)
                    .map(|_| ())
                    .map_err(|e| StoreError::Config(format!("--store {}: {e}", path.display())));
            }
            // Missing directories are made at the first start (the data directory's are);
            // what exists on the way must be a directory.
            let existing = path.ancestors().skip(1).find(|a| a.exists()).unwrap_or(Path::new("."));
            if !existing.is_dir() {
                return Err(StoreError::Config(format!(
                    "--store {}: {} is not a directory",
                    path.display(),
                    existing.display()
                )));
            }
            Ok(())
        }
        StoreUrl::Postgres(u) => super::postgres::probe(u).await,
        StoreUrl::KurrentDb(_) => Ok(()),
    }
}

pub async fn open(url: &StoreUrl) -> Result<Arc<dyn EventStore>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path)?)),
        StoreUrl::Postgres(u) => Ok(Arc::new(PostgresStore::connect(u).await?)),
        #[cfg(feature = "kurrentdb")]
        StoreUrl::KurrentDb(u) => Ok(Arc::new(super::kurrentdb::KurrentStore::connect(u).await?)),
        #[cfg(not(feature = "kurrentdb"))]
        StoreUrl::KurrentDb(_) => Err(StoreError::Config(
            "this build has no KurrentDB backend: build with `--features kurrentdb`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        assert_eq!(
            "sqlite:data/annal.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite("data/annal.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        let pg: StoreUrl = "postgres://annal:s3cret@db:5432/annal".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://annal:***@db:5432/annal");
        assert!("mysql://x".parse::<StoreUrl>().is_err());
        assert!("sqlite:".parse::<StoreUrl>().is_err());
    }
}
