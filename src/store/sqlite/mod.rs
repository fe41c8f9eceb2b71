//! The embedded default: one SQLite file in the data directory, WAL, `synchronous=FULL`.
//!
//! All appends go through one writer thread, which commits everything queued since its last
//! commit in one transaction: concurrent appenders share one fsync (group commit). Reads use a
//! small pool of read-only connections, which WAL lets run beside the writer.

mod rows;
mod tail;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use annal_schemas::{NewEvent, RecordedEvent};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::watch;

use super::group::submit;
use super::{AppendResult, Capabilities, EventStore, ExpectedVersion, Head, StoreError};
use writer::{WriteRequest, Writer};

pub struct SqliteStore {
    path: PathBuf,
    requests: std::sync::mpsc::Sender<WriteRequest>,
    readers: Arc<Mutex<Vec<Connection>>>,
    head: watch::Receiver<u64>,
    tail: Arc<tail::Tail>,
}

impl SqliteStore {
    /// Opens (creating if needed) the log at `path` and starts its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        crate::store::private::create_database_file(&path)
            .map_err(|e| unavailable(format!("creating {}: {e}", path.display())))?;
        let conn = Connection::open(&path).map_err(sql)?;
        configure(&conn)?;
        migrate(&conn)?;
        let head = rows::head(&conn)?;
        let (head_tx, head_rx) = watch::channel(head.position);
        let tail = Arc::new(tail::Tail::default());
        let requests = Writer::spawn(conn, head, head_tx, tail.clone())?;
        Ok(Self {
            path,
            requests,
            readers: Arc::new(Mutex::new(Vec::new())),
            head: head_rx,
            tail,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read-only connection on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().map_err(|_| unavailable("reader pool poisoned"))?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| unavailable(format!("reader task: {e}")))?
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        submit(stream, expected, events, |request| {
            self.requests.send(WriteRequest::Append(request)).is_ok()
        })
        .await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(WriteRequest::Import { events, reply })
            .map_err(|_| unavailable("the store's writer has stopped"))?;
        answer
            .await
            .map_err(|_| unavailable("the store's writer dropped the import"))?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.to_string();
        self.read(move |c| rows::read_stream(c, &stream, from_version, limit))
            .await
    }

    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read(move |c| rows::read_all(c, from_position, limit)).await
    }

    async fn head(&self) -> Result<Head, StoreError> {
        self.read(rows::head).await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    fn read_recent(&self, from_position: u64, limit: usize) -> Option<Vec<RecordedEvent>> {
        self.tail.read(from_position.max(1), limit)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            dense_positions: true,
            global_hash_chain: true,
            log_wide_event_ids: true,
        }
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL must be set explicitly (SQLite defaults to DELETE); FULL makes every commit fsync the
    // WAL, which is what "acknowledged means durable" needs.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unavailable(format!("could not switch to WAL (journal_mode is {mode})")));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")
        .map_err(sql)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
    for (version, ddl) in annal_schemas::migrations::SQLITE {
        if *version > current {
            conn.execute_batch(&format!("BEGIN; {ddl}; PRAGMA user_version={version}; COMMIT;"))
                .map_err(sql)?;
        }
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sql)?;
    conn.execute_batch("PRAGMA busy_timeout=5000;").map_err(sql)?;
    Ok(conn)
}

pub(super) fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn unavailable(msg: impl Into<String>) -> StoreError {
    StoreError::Unavailable(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw: &[u8]) -> NewEvent {
        NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "Idle".into(),
            schema_version: 1,
            actor: "device:t".into(),
            correlation_id: Some(uuid::Uuid::now_v7()),
            causation_id: None,
            data: br#"{"udid":"x"}"#.to_vec(),
            raw: Some(raw.to_vec().into()),
        }
    }

    /// What the writer keeps in memory is exactly what the file gives back, field by field
    /// (times in microseconds, raw bodies, hashes).
    #[tokio::test]
    async fn the_tail_reads_as_the_file_does() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("annal.db");
        let store = SqliteStore::open(&path).expect("opens");
        store
            .append(
                "enrollment-a",
                ExpectedVersion::Any,
                vec![event(b"<plist>1</plist>"), event(b"")],
            )
            .await
            .expect("appends");
        store
            .append("enrollment-b", ExpectedVersion::Any, vec![event(b"<plist>2</plist>")])
            .await
            .expect("appends");
        let from_tail = store.read_recent(1, 10).expect("served from memory");
        drop(store);
        let reopened = SqliteStore::open(&path).expect("opens again");
        assert!(
            reopened.tail.read(1, 10).is_none(),
            "a new process starts with an empty tail"
        );
        let from_file = reopened.read_all(1, 10).await.expect("reads");
        assert_eq!(from_tail.len(), 3);
        assert_eq!(from_tail, from_file);
        assert_eq!(reopened.read_all(2, 1).await.expect("reads"), from_tail[1..2].to_vec());
    }
}
