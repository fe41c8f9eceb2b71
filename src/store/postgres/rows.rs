//! SQL for the PostgreSQL log.

use std::collections::HashMap;

use annal_schemas::envelope::{from_micros, to_micros};
use annal_schemas::RecordedEvent;
use deadpool_postgres::Transaction;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use super::pg;
use crate::store::rules::Existing;
use crate::store::{Head, StoreError};

const COLUMNS: &str = "global_position, event_id, stream, stream_version, recorded_at_us, event_type, \
     schema_version, actor, correlation_id, causation_id, data, raw, hash";

/// Applies missing migrations; an advisory lock keeps two nodes starting at once from racing.
pub async fn migrate(client: &Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "BEGIN;
             SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':annal-migrate'));
             CREATE TABLE IF NOT EXISTS annal_migrations (
                 version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
        )
        .await
        .map_err(pg)?;
    let result = apply_missing(client).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    client.batch_execute(end).await.map_err(pg)?;
    result
}

async fn apply_missing(client: &Client) -> Result<(), StoreError> {
    let applied: Vec<i32> = client
        .query("SELECT version FROM annal_migrations", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_, _>>()?;
    for (version, sql) in annal_schemas::migrations::POSTGRES {
        let version = *version as i32;
        if !applied.contains(&version) {
            client.batch_execute(sql).await.map_err(pg)?;
            client
                .execute("INSERT INTO annal_migrations (version) VALUES ($1)", &[&version])
                .await
                .map_err(pg)?;
        }
    }
    Ok(())
}

/// NOTIFY channels are database-wide; naming the channel after the schema keeps two logs in
/// one database (e.g. parallel test runs) from waking each other.
pub async fn notify_channel(client: &Client) -> Result<String, StoreError> {
    let schema: String = client
        .query_one("SELECT current_schema()", &[])
        .await
        .map_err(pg)?
        .get(0);
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    Ok(format!("annal_{}", &clean[..clean.len().min(50)]))
}

pub async fn head(client: &Client) -> Result<Head, StoreError> {
    let row = client
        .query_one("SELECT position, hash FROM annal_head WHERE id = 1", &[])
        .await
        .map_err(pg)?;
    to_head(&row)
}

pub fn to_head(row: &Row) -> Result<Head, StoreError> {
    let position: i64 = col(row, 0)?;
    let hash: Vec<u8> = col(row, 1)?;
    let hash = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("annal_head.hash is not 32 bytes".into()))?;
    Ok(Head {
        position: position as u64,
        hash,
    })
}

pub async fn read_all(
    client: &deadpool_postgres::Client,
    from: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM annal_events WHERE global_position >= $1 ORDER BY global_position LIMIT $2");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let rows = client
        .query(&stmt, &[&(from as i64), &(limit as i64)])
        .await
        .map_err(pg)?;
    rows.iter().map(from_row).collect()
}

pub async fn read_stream(
    client: &deadpool_postgres::Client,
    stream: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM annal_events WHERE stream = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let rows = client
        .query(&stmt, &[&stream, &(from as i64), &(limit as i64)])
        .await
        .map_err(pg)?;
    rows.iter().map(from_row).collect()
}

/// Where each of `ids` already stands in the log.
pub async fn existing(tx: &Transaction<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, Existing>, StoreError> {
    // A join on the unnested ids keeps this an index probe per id, whatever the planner
    // estimates for `= ANY`.
    let stmt = tx
        .prepare_cached(
            "SELECT e.event_id, e.stream, e.stream_version, e.global_position \
             FROM unnest($1::uuid[]) AS wanted(id) JOIN annal_events e ON e.event_id = wanted.id",
        )
        .await
        .map_err(pg)?;
    let rows = tx.query(&stmt, &[&ids]).await.map_err(pg)?;
    rows.iter()
        .map(|r| {
            let e = Existing {
                event_id: col(r, 0)?,
                stream: col(r, 1)?,
                stream_version: col::<i64>(r, 2)? as u64,
                global_position: col::<i64>(r, 3)? as u64,
            };
            Ok((e.event_id, e))
        })
        .collect()
}

pub async fn stream_versions(tx: &Transaction<'_>, streams: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
    // One backward probe of the (stream, stream_version) index per stream: MAX() with GROUP BY
    // would read a device's whole history on every append.
    let stmt = tx
        .prepare_cached(
            "SELECT s.stream, (SELECT e.stream_version FROM annal_events e WHERE e.stream = s.stream \
             ORDER BY e.stream_version DESC LIMIT 1) FROM unnest($1::text[]) AS s(stream)",
        )
        .await
        .map_err(pg)?;
    let rows = tx.query(&stmt, &[&streams]).await.map_err(pg)?;
    let mut versions = HashMap::new();
    for r in &rows {
        // NULL: the stream has no events yet.
        if let Some(v) = col::<Option<i64>>(r, 1)? {
            versions.insert(col::<String>(r, 0)?, v as u64);
        }
    }
    Ok(versions)
}

/// Inserts `events` in one statement (arrays unnested server-side: one round trip per group).
pub async fn insert(tx: &Transaction<'_>, events: &[RecordedEvent]) -> Result<(), StoreError> {
    let positions: Vec<i64> = events.iter().map(|e| e.global_position as i64).collect();
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.stream_version as i64).collect();
    let times: Vec<i64> = events.iter().map(|e| to_micros(&e.recorded_at)).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    let correlations: Vec<Option<Uuid>> = events.iter().map(|e| e.correlation_id).collect();
    let causations: Vec<Option<Uuid>> = events.iter().map(|e| e.causation_id).collect();
    let data: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
    let raw: Vec<Option<&[u8]>> = events.iter().map(|e| e.raw.as_deref()).collect();
    let hashes: Vec<&[u8]> = events.iter().map(|e| e.hash.as_slice()).collect();
    let sql = format!(
        "INSERT INTO annal_events ({COLUMNS}) SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], \
         $4::bigint[], $5::bigint[], $6::text[], $7::int4[], $8::text[], $9::uuid[], $10::uuid[], $11::bytea[], \
         $12::bytea[], $13::bytea[])"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(
        &stmt,
        &[
            &positions,
            &ids,
            &streams,
            &versions,
            &times,
            &types,
            &schema_versions,
            &actors,
            &correlations,
            &causations,
            &data,
            &raw,
            &hashes,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

fn from_row(r: &Row) -> Result<RecordedEvent, StoreError> {
    let hash: Vec<u8> = col(r, 12)?;
    Ok(RecordedEvent {
        global_position: col::<i64>(r, 0)? as u64,
        event_id: col(r, 1)?,
        stream: col(r, 2)?,
        stream_version: col::<i64>(r, 3)? as u64,
        recorded_at: from_micros(col(r, 4)?),
        event_type: col(r, 5)?,
        schema_version: col::<i32>(r, 6)? as u32,
        actor: col(r, 7)?,
        correlation_id: col(r, 8)?,
        causation_id: col(r, 9)?,
        data: col(r, 10)?,
        raw: col(r, 11)?,
        // A hash of the wrong length is kept as zeros: `audit verify` reports it as modified.
        hash: hash.try_into().unwrap_or([0; 32]),
    })
}

/// A column's value, or `Corrupt` when the row does not hold what the schema promises: a row
/// must never panic the writer task, which every append in the process goes through.
pub fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}
