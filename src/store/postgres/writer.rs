//! The per-process writer task: group commit under the cross-process append lock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{pg, pool_error, rows, OPERATION_TIMEOUT};
use crate::store::group::{gather, plan_group, AppendRequest, LogLookup};
use crate::store::rules::Existing;
use crate::store::{Head, StoreError};

pub fn spawn(pool: Pool, channel: String, head_tx: watch::Sender<u64>) -> mpsc::UnboundedSender<AppendRequest> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AppendRequest>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let group = gather(first, || rx.try_recv().ok());
            // A commit that does not finish in time is dropped with its answers: each append
            // fails as unavailable (and may yet have committed, as after any lost answer).
            let commit = commit_group(&pool, &channel, &head_tx, group);
            if tokio::time::timeout(OPERATION_TIMEOUT, commit).await.is_err() {
                tracing::warn!(
                    timeout_s = OPERATION_TIMEOUT.as_secs(),
                    "PostgreSQL did not finish a group commit in time"
                );
            }
        }
    });
    tx
}

async fn commit_group(pool: &Pool, channel: &str, head_tx: &watch::Sender<u64>, group: Vec<AppendRequest>) {
    let mut client = match pool.get().await {
        Ok(c) => c,
        Err(e) => return fail_all(group, pool_error(e)),
    };
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(group, pg(e)),
    };
    let ids: Vec<Uuid> = group.iter().flat_map(|r| r.events.iter().map(|e| e.event_id)).collect();
    let streams: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
    let (head, now, mut lookup) = match lock_and_prefetch(&tx, &ids, streams).await {
        Ok(x) => x,
        Err(e) => return fail_all(group, e),
    };
    let plan = plan_group(group, head, now, &mut lookup);
    let mut commit = Ok(());
    if !plan.events.is_empty() {
        commit = write(&tx, channel, &plan.events, &plan.head).await;
    }
    commit = match commit {
        Ok(()) => tx.commit().await.map_err(pg),
        Err(e) => Err(e), // dropping `tx` rolls back
    };
    if commit.is_ok() {
        let position = plan.head.position;
        head_tx.send_if_modified(|h| (position > *h).then(|| *h = position).is_some());
    }
    plan.answer(commit);
}

/// Takes the append lock, reads the head and the database clock, and fetches what the planner
/// needs to know about the new events' ids and streams in two queries.
pub(super) async fn lock_and_prefetch(
    tx: &Transaction<'_>,
    ids: &[Uuid],
    mut streams: Vec<&str>,
) -> Result<(Head, DateTime<Utc>, Prefetched), StoreError> {
    let lock = tx
        .prepare_cached(
            "SELECT position, hash, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint \
             FROM annal_head WHERE id = 1 FOR UPDATE",
        )
        .await
        .map_err(pg)?;
    let row = tx.query_one(&lock, &[]).await.map_err(pg)?;
    let head = rows::to_head(&row)?;
    // The database's clock, read under the lock, keeps recorded_at in commit order across nodes.
    let now = annal_schemas::envelope::from_micros(rows::col(&row, 2)?);
    streams.sort_unstable();
    streams.dedup();
    // Issued together, the two queries are pipelined on the connection: one round trip.
    let (existing, versions) = tokio::try_join!(rows::existing(tx, ids), rows::stream_versions(tx, &streams))?;
    Ok((head, now, Prefetched { existing, versions }))
}

pub(super) async fn write(
    tx: &Transaction<'_>,
    channel: &str,
    events: &[annal_schemas::RecordedEvent],
    head: &Head,
) -> Result<(), StoreError> {
    rows::insert(tx, events).await?;
    let moved = tx
        .prepare_cached(
            "WITH moved AS (UPDATE annal_head SET position = $1, hash = $2 WHERE id = 1 RETURNING position) \
             SELECT pg_notify($3, position::text) FROM moved",
        )
        .await
        .map_err(pg)?;
    let position = head.position as i64;
    tx.execute(&moved, &[&position, &head.hash.as_slice(), &channel])
        .await
        .map_err(pg)?;
    Ok(())
}

pub(super) struct Prefetched {
    existing: HashMap<Uuid, Existing>,
    versions: HashMap<String, u64>,
}

impl LogLookup for Prefetched {
    fn existing(&mut self, ids: &[Uuid]) -> Result<Vec<Existing>, StoreError> {
        Ok(ids.iter().filter_map(|id| self.existing.get(id).cloned()).collect())
    }
    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError> {
        Ok(self.versions.get(stream).copied().unwrap_or(0))
    }
}

fn fail_all(group: Vec<AppendRequest>, e: StoreError) {
    for r in group {
        let _ = r.reply.send(Err(StoreError::Unavailable(e.to_string())));
    }
}
