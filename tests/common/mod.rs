//! Backends for the integration tests. Each test gets a log of its own: a fresh SQLite file in
//! a temporary directory, or a fresh schema in the PostgreSQL database named by
//! ANNAL_TEST_POSTGRES_URL (default: the local server). PostgreSQL being unreachable fails the
//! test: a skipped backend would let CI pass without testing it.

#![allow(dead_code)]

pub mod admin;
pub mod console;
pub mod inprocess;
pub mod ledger;
pub mod load;
pub mod outage;
pub mod pg_cluster;
pub mod proof;
pub mod push;
pub mod server;
pub mod transfer;

use std::sync::Arc;

use annal::store::{EventStore, PostgresStore, SqliteStore};
use annal_schemas::NewEvent;
use uuid::Uuid;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_base_url() -> String {
    std::env::var("ANNAL_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

pub struct Backend {
    pub store: Arc<dyn EventStore>,
    /// The URL another process can open the same log with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("annal.db");
    let store = SqliteStore::open(&path).expect("open sqlite store");
    Backend {
        store: Arc::new(store),
        url: format!("sqlite:{}", path.display()),
        _dir: Some(dir),
    }
}

pub async fn postgres() -> Backend {
    let url = postgres_url_for_new_schema().await;
    let store = PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL store on {url}: {e}"));
    Backend {
        store: Arc::new(store),
        url,
        _dir: None,
    }
}

/// A KurrentDB store when ANNAL_TEST_KURRENTDB_URL names a server; each test gets its own
/// namespace there (`annal-namespace=`), so tests see only their own events.
#[cfg(feature = "kurrentdb")]
pub async fn kurrentdb() -> Option<Backend> {
    let base = std::env::var("ANNAL_TEST_KURRENTDB_URL").ok()?;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}annal-namespace=t{}", Uuid::now_v7().simple());
    let store = annal::store::open(&url.parse().expect("KurrentDB URL"))
        .await
        .expect("connect to KurrentDB");
    Some(Backend { store, url, _dir: None })
}

/// A URL for a schema no other test uses.
pub async fn postgres_url_for_new_schema() -> String {
    let base = postgres_base_url();
    let schema = format!("annal_test_{}", Uuid::now_v7().simple());
    annal::store::url_with_new_schema(&base, &schema)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests and could not be reached at {base}: {e}"))
}

pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Idle".into(),
        schema_version: 1,
        actor: format!("device-{n}"),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: None,
        data: format!(r#"{{"n":{n}}}"#).into_bytes(),
        raw: Some(
            format!("<plist><dict><key>N</key><integer>{n}</integer></dict></plist>")
                .into_bytes()
                .into(),
        ),
    }
}

pub fn events(n: usize) -> Vec<NewEvent> {
    (0..n as u64).map(event).collect()
}

/// Writes a key or secret file readable by its owner only, as `annal serve` requires of them.
pub fn write_private(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).unwrap().write_all(contents.as_ref()).unwrap();
}

/// Runs `openssl <line>` (split on whitespace) in `dir`, as an admin or a device tool would;
/// asserts it succeeded and returns its standard output.
pub fn openssl(dir: &std::path::Path, line: &str) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(line.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
