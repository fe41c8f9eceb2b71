//! Read models in the log's PostgreSQL database (the same schema, so a test's or a tenant's
//! schema holds its log and its read models together).

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{Committed, DocWrite, Lease, LoadedMany, ReadModelDb, ReadModelError, Tagged};

/// The advisory lock key of the read-model writer's lease (per database; a schema per tenant
/// or test shares it, so the key mixes in the schema's name).
const LEASE_KEY: &str = "annal-read-models";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS read_models (
    model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, doc BYTEA NOT NULL,
    PRIMARY KEY (model, version, key)
);
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
ALTER TABLE read_models ADD COLUMN IF NOT EXISTS settled BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE read_models ADD COLUMN IF NOT EXISTS tag TEXT;
CREATE INDEX IF NOT EXISTS read_models_tag ON read_models (model, version, tag) WHERE tag IS NOT NULL;
";

impl super::Held for deadpool_postgres::ClientWrapper {
    /// The advisory lock is the session's: it ended with the connection (a restart of the
    /// database, a dropped network link), and another node may hold it now.
    fn is_held(&self) -> bool {
        !self.is_closed()
    }
}

/// One (model, version)'s writes of a commit, as arrays for one statement each.
#[derive(Default)]
struct Group<'a> {
    keys: Vec<&'a str>,
    bodies: Vec<&'a [u8]>,
    settled: Vec<bool>,
    tags: Vec<Option<&'a str>>,
    deleted: Vec<&'a str>,
}

pub struct PostgresReadModels {
    pool: Pool,
}

fn db(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Database(e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Unavailable(e.to_string())
}

impl PostgresReadModels {
    pub async fn connect(url: &str) -> Result<Self, ReadModelError> {
        let config: tokio_postgres::Config = url.parse().map_err(db)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(4).build().map_err(db)?;
        let client = pool.get().await.map_err(unavailable)?;
        // Several nodes may start at once: CREATE TABLE IF NOT EXISTS races on the catalog.
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7312001); {SCHEMA} COMMIT;"
            ))
            .await
            .map_err(db)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl ReadModelDb for PostgresReadModels {
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, ReadModelError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let row = client
            .query_opt("SELECT position FROM checkpoints WHERE name = $1", &[&name])
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    async fn commit_many(&self, checkpoints: &[(&str, u64)], docs: Vec<DocWrite>) -> Result<Committed, ReadModelError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let tx = client.transaction().await.map_err(db)?;
        // The row locks order two nodes persisting the same projections (taken in the callers'
        // one order, so two writers never wait on each other crosswise).
        for (name, position) in checkpoints {
            tx.execute(
                "INSERT INTO checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
                &[name],
            )
            .await
            .map_err(db)?;
            let stored: i64 = tx
                .query_one("SELECT position FROM checkpoints WHERE name = $1 FOR UPDATE", &[name])
                .await
                .map_err(db)?
                .get(0);
            if stored as u64 > *position {
                return Ok(Committed::Behind { stored: stored as u64 });
            }
        }
        // One statement per (model, version) and kind: a rebuild writes tens of thousands of
        // documents, and a round trip each would dominate.
        let mut groups: std::collections::BTreeMap<(&str, u32), Group> = Default::default();
        for d in &docs {
            let g = groups.entry((d.model, d.version)).or_default();
            match &d.doc {
                Some(doc) => {
                    g.keys.push(&d.key);
                    g.bodies.push(doc);
                    g.settled.push(d.settled);
                    g.tags.push(d.tag.as_deref());
                }
                None => g.deleted.push(&d.key),
            }
        }
        for ((model, version), g) in groups {
            let version = version as i32;
            let Group {
                keys,
                bodies,
                settled,
                tags,
                deleted,
            } = g;
            if !keys.is_empty() {
                tx.execute(
                    "INSERT INTO read_models (model, version, key, doc, settled, tag)
                     SELECT $1, $2, k, d, s, t FROM UNNEST($3::text[], $4::bytea[], $5::bool[], $6::text[]) AS u(k, d, s, t)
                     ON CONFLICT (model, version, key)
                     DO UPDATE SET doc = EXCLUDED.doc, settled = EXCLUDED.settled, tag = EXCLUDED.tag",
                    &[&model, &version, &keys, &bodies, &settled, &tags],
                )
                .await
                .map_err(db)?;
            }
            if !deleted.is_empty() {
                tx.execute(
                    "DELETE FROM read_models WHERE model = $1 AND version = $2 AND key = ANY($3)",
                    &[&model, &version, &deleted],
                )
                .await
                .map_err(db)?;
            }
        }
        for (name, position) in checkpoints {
            tx.execute(
                "UPDATE checkpoints SET position = $2 WHERE name = $1",
                &[name, &(*position as i64)],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Committed::Written)
    }

    async fn load_docs(&self, model: &str, version: u32) -> Result<Vec<(String, Vec<u8>)>, ReadModelError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT key, doc FROM read_models WHERE model = $1 AND version = $2 ORDER BY key",
                &[&model, &(version as i32)],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn reset(&self, name: &str, models: &[(&'static str, u32)]) -> Result<(), ReadModelError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let tx = client.transaction().await.map_err(db)?;
        for (model, version) in models {
            tx.execute(
                "DELETE FROM read_models WHERE model = $1 AND version = $2",
                &[model, &(*version as i32)],
            )
            .await
            .map_err(db)?;
        }
        tx.execute("DELETE FROM checkpoints WHERE name = $1", &[&name])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn load_many(&self, names: &[&str], models: &[(&'static str, u32)]) -> Result<LoadedMany, ReadModelError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let mut loaded = LoadedMany::default();
        for name in names {
            let checkpoint = tx
                .query_opt("SELECT position FROM checkpoints WHERE name = $1", &[name])
                .await
                .map_err(db)?
                .map(|r| r.get::<_, i64>(0) as u64);
            loaded.checkpoints.push(checkpoint);
        }
        for (model, version) in models {
            let rows = tx
                .query(
                    "SELECT key, doc FROM read_models WHERE model = $1 AND version = $2 AND NOT settled
                     ORDER BY key",
                    &[model, &(*version as i32)],
                )
                .await
                .map_err(db)?;
            loaded
                .docs
                .extend(rows.iter().map(|r| (*model, *version, r.get(0), r.get(1))));
        }
        tx.commit().await.map_err(db)?;
        Ok(loaded)
    }

    async fn tagged(&self, model: &str, version: u32, tag: &str) -> Result<Vec<(String, Vec<u8>)>, ReadModelError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT key, doc FROM read_models WHERE model = $1 AND version = $2 AND tag = $3 ORDER BY key",
                &[&model, &(version as i32), &tag],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn tagged_after(
        &self,
        model: &str,
        version: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tagged>, ReadModelError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT key, tag, doc FROM read_models WHERE model = $1 AND version = $2 AND tag > $3
                 ORDER BY tag LIMIT $4",
                &[
                    &model,
                    &(version as i32),
                    &after.unwrap_or(""),
                    &(limit.min(i64::MAX as usize) as i64),
                ],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Tagged {
                key: r.get(0),
                tag: r.get(1),
                doc: r.get(2),
            })
            .collect())
    }

    async fn try_lease(&self) -> Result<Option<Lease>, ReadModelError> {
        // A session lock lives as long as its connection: take the connection out of the pool
        // (so it is never reused by someone else) and keep it in the lease.
        let client = self.pool.get().await.map_err(unavailable)?;
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || $1))",
                &[&LEASE_KEY],
            )
            .await
            .map_err(db)?
            .get(0);
        if !got {
            return Ok(None);
        }
        Ok(Some(Lease::new(deadpool_postgres::Object::take(client))))
    }
}
