//! Read models in a SQLite file of their own: the log's writer thread is never held up by a
//! projection's transaction.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Committed, DocWrite, Lease, LoadedMany, ReadModelDb, ReadModelError, Tagged};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS read_models (
    model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, doc BLOB NOT NULL,
    settled INTEGER NOT NULL DEFAULT 0, tag TEXT,
    PRIMARY KEY (model, version, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
";

/// Databases made before documents were tagged and settled get the columns (older projection
/// versions keep their documents untagged; the current ones are rebuilt beside them).
const TAGS: [(&str, &str); 2] = [
    (
        "settled",
        "ALTER TABLE read_models ADD COLUMN settled INTEGER NOT NULL DEFAULT 0",
    ),
    ("tag", "ALTER TABLE read_models ADD COLUMN tag TEXT"),
];
const TAG_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS read_models_tag ON read_models (model, version, tag) WHERE tag IS NOT NULL";

pub struct SqliteReadModels {
    conn: Arc<Mutex<Connection>>,
    lock_path: std::path::PathBuf,
}

fn db(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Database(e.to_string())
}

impl SqliteReadModels {
    pub fn open(path: &Path) -> Result<Self, ReadModelError> {
        crate::store::private::create_database_file(path)
            .map_err(|e| ReadModelError::Unavailable(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path).map_err(db)?;
        // Read models can be rebuilt from the log, but the checkpoint and documents must still
        // agree after a crash: WAL keeps each commit atomic; NORMAL may lose the last commits,
        // which only means catching up a little further back.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        for (column, add) in TAGS {
            let present: bool = conn
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info('read_models') WHERE name = ?1",
                    [column],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if !present {
                conn.execute_batch(add).map_err(db)?;
            }
        }
        conn.execute_batch(TAG_INDEX).map_err(db)?;
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            lock_path: lock_path.into(),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ReadModelError> + Send + 'static,
    ) -> Result<T, ReadModelError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| ReadModelError::Unavailable("poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| ReadModelError::Unavailable(e.to_string()))?
    }
}

fn checkpoint(conn: &Connection, name: &str) -> Result<Option<u64>, ReadModelError> {
    conn.query_row("SELECT position FROM checkpoints WHERE name = ?1", [name], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
    .map(|p| p.map(|p| p as u64))
    .map_err(db)
}

#[async_trait]
impl ReadModelDb for SqliteReadModels {
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, ReadModelError> {
        let name = name.to_string();
        self.with(move |c| checkpoint(c, &name)).await
    }

    async fn commit_many(&self, checkpoints: &[(&str, u64)], docs: Vec<DocWrite>) -> Result<Committed, ReadModelError> {
        let checkpoints: Vec<(String, u64)> = checkpoints.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        self.with(move |c| {
            let tx = c.transaction().map_err(db)?;
            for (name, position) in &checkpoints {
                if let Some(stored) = checkpoint(&tx, name)?.filter(|s| s > position) {
                    return Ok(Committed::Behind { stored });
                }
            }
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO read_models (model, version, key, doc, settled, tag)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(db)?;
                let mut delete = tx
                    .prepare_cached("DELETE FROM read_models WHERE model = ?1 AND version = ?2 AND key = ?3")
                    .map_err(db)?;
                for d in &docs {
                    match &d.doc {
                        Some(doc) => upsert.execute(params![d.model, d.version, d.key, doc, d.settled, d.tag]),
                        None => delete.execute(params![d.model, d.version, d.key]),
                    }
                    .map_err(db)?;
                }
            }
            for (name, position) in &checkpoints {
                tx.execute(
                    "INSERT INTO checkpoints (name, position) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    params![name, *position as i64],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)?;
            Ok(Committed::Written)
        })
        .await
    }

    async fn load_docs(&self, model: &str, version: u32) -> Result<Vec<(String, Vec<u8>)>, ReadModelError> {
        let model = model.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT key, doc FROM read_models WHERE model = ?1 AND version = ?2 ORDER BY key")
                .map_err(db)?;
            let rows = stmt
                .query_map(params![model, version], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn reset(&self, name: &str, models: &[(&'static str, u32)]) -> Result<(), ReadModelError> {
        let name = name.to_string();
        let models = models.to_vec();
        self.with(move |c| {
            let tx = c.transaction().map_err(db)?;
            for (model, version) in models {
                tx.execute(
                    "DELETE FROM read_models WHERE model = ?1 AND version = ?2",
                    params![model, version],
                )
                .map_err(db)?;
            }
            tx.execute("DELETE FROM checkpoints WHERE name = ?1", [name])
                .map_err(db)?;
            tx.commit().map_err(db)
        })
        .await
    }

    async fn load_many(&self, names: &[&str], models: &[(&'static str, u32)]) -> Result<LoadedMany, ReadModelError> {
        let (names, models): (Vec<String>, _) = (names.iter().map(|n| n.to_string()).collect(), models.to_vec());
        self.with(move |c| {
            let tx = c.transaction().map_err(db)?;
            let mut loaded = LoadedMany {
                checkpoints: names.iter().map(|n| checkpoint(&tx, n)).collect::<Result<_, _>>()?,
                docs: Vec::new(),
            };
            {
                let mut stmt = tx
                    .prepare(
                        "SELECT key, doc FROM read_models WHERE model = ?1 AND version = ?2 AND settled = 0
                         ORDER BY key",
                    )
                    .map_err(db)?;
                for (model, version) in models {
                    let rows = stmt
                        .query_map(params![model, version], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                        })
                        .map_err(db)?;
                    for row in rows {
                        let (key, doc) = row.map_err(db)?;
                        loaded.docs.push((model, version, key, doc));
                    }
                }
            }
            tx.commit().map_err(db)?;
            Ok(loaded)
        })
        .await
    }

    async fn tagged(&self, model: &str, version: u32, tag: &str) -> Result<Vec<(String, Vec<u8>)>, ReadModelError> {
        let (model, tag) = (model.to_string(), tag.to_string());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key, doc FROM read_models WHERE model = ?1 AND version = ?2 AND tag = ?3 ORDER BY key",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![model, version, tag], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn tagged_after(
        &self,
        model: &str,
        version: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tagged>, ReadModelError> {
        let (model, after) = (model.to_string(), after.unwrap_or("").to_string());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key, tag, doc FROM read_models WHERE model = ?1 AND version = ?2 AND tag > ?3
                     ORDER BY tag LIMIT ?4",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![model, version, after, limit as i64], |r| {
                    Ok(Tagged {
                        key: r.get(0)?,
                        tag: r.get(1)?,
                        doc: r.get(2)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn try_lease(&self) -> Result<Option<Lease>, ReadModelError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| ReadModelError::Unavailable(format!("{}: {e}", self.lock_path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lease::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(ReadModelError::Unavailable(format!(
                "locking {}: {e}",
                self.lock_path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before documents had `settled` and `tag` keeps its documents and
    /// takes tagged writes once reopened.
    #[tokio::test]
    async fn an_older_database_gets_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rm.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE read_models (model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL,
               doc BLOB NOT NULL, PRIMARY KEY (model, version, key)) WITHOUT ROWID;
             INSERT INTO read_models VALUES ('devices', 1, 'a', x'7b7d');",
        )
        .unwrap();
        drop(old);
        let db = SqliteReadModels::open(&path).unwrap();
        assert_eq!(db.load_docs("devices", 1).await.unwrap().len(), 1);
        let write = DocWrite {
            model: "commands",
            version: 2,
            key: "a/U".into(),
            doc: Some(b"{}".to_vec()),
            settled: true,
            tag: Some("U".into()),
        };
        db.commit("projections", 3, vec![write]).await.unwrap();
        assert_eq!(db.tagged("commands", 2, "U").await.unwrap().len(), 1);
        let loaded = db
            .load_all("projections", &[("devices", 1), ("commands", 2)])
            .await
            .unwrap();
        assert_eq!(loaded.docs.len(), 1, "the settled command is not restored");
    }
}
