//! SQL for the SQLite log: row <-> RecordedEvent, and the lookups an append needs.

use annal_schemas::envelope::{from_micros, to_micros};
use annal_schemas::{RecordedEvent, GENESIS_HASH};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::sql;
use crate::store::rules::Existing;
use crate::store::{Head, StoreError};

const COLUMNS: &str = "global_position, event_id, stream, stream_version, recorded_at_us, event_type, \
     schema_version, actor, correlation_id, causation_id, data, raw, hash";

pub fn head(conn: &Connection) -> Result<Head, StoreError> {
    let row = conn
        .query_row(
            "SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()
        .map_err(sql)?;
    match row {
        None => Ok(Head {
            position: 0,
            hash: GENESIS_HASH,
        }),
        Some((position, hash)) => Ok(Head {
            position: position as u64,
            hash: to_hash(hash)?,
        }),
    }
}

pub fn read_all(conn: &Connection, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE global_position >= ?1 ORDER BY global_position LIMIT ?2"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![from as i64, limit as i64], from_row)
        .map_err(sql)?;
    collect(rows)
}

pub fn read_stream(conn: &Connection, stream: &str, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![stream, from as i64, limit as i64], from_row)
        .map_err(sql)?;
    collect(rows)
}

pub fn stream_version(conn: &Connection, stream: &str) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT MAX(stream_version) FROM events WHERE stream = ?1")
        .map_err(sql)?;
    let v: Option<i64> = stmt.query_row([stream], |r| r.get(0)).map_err(sql)?;
    Ok(v.unwrap_or(0) as u64)
}

pub fn existing(conn: &Connection, ids: &[Uuid]) -> Result<Vec<Existing>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT stream, stream_version, global_position FROM events WHERE event_id = ?1")
        .map_err(sql)?;
    let mut found = Vec::new();
    for id in ids {
        let row = stmt
            .query_row([id.as_bytes().as_slice()], |r| {
                Ok(Existing {
                    event_id: *id,
                    stream: r.get(0)?,
                    stream_version: r.get::<_, i64>(1)? as u64,
                    global_position: r.get::<_, i64>(2)? as u64,
                })
            })
            .optional()
            .map_err(sql)?;
        found.extend(row);
    }
    Ok(found)
}

pub fn insert(conn: &Connection, e: &RecordedEvent) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))
        .map_err(sql)?;
    stmt.execute(params![
        e.global_position as i64,
        e.event_id.as_bytes().as_slice(),
        e.stream,
        e.stream_version as i64,
        to_micros(&e.recorded_at),
        e.event_type,
        e.schema_version,
        e.actor,
        e.correlation_id.as_ref().map(|u| u.as_bytes().to_vec()),
        e.causation_id.as_ref().map(|u| u.as_bytes().to_vec()),
        e.data,
        e.raw,
        e.hash.as_slice(),
    ])
    .map_err(sql)?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RecordedEvent> {
    let uuid = |i: usize| -> rusqlite::Result<Option<Uuid>> {
        let bytes: Option<Vec<u8>> = r.get(i)?;
        bytes
            .map(|b| {
                Uuid::from_slice(&b)
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, Box::new(e)))
            })
            .transpose()
    };
    // Bytes are read whatever their storage class: a BLOB rewritten as TEXT (by hand, or by a
    // tamperer) must still reach `audit verify`, which then names the event.
    let bytes =
        |i: usize| -> rusqlite::Result<Vec<u8>> { Ok(r.get_ref(i)?.as_bytes_or_null()?.unwrap_or_default().to_vec()) };
    let optional_bytes =
        |i: usize| -> rusqlite::Result<Option<Vec<u8>>> { Ok(r.get_ref(i)?.as_bytes_or_null()?.map(<[u8]>::to_vec)) };
    let hash = bytes(12)?;
    Ok(RecordedEvent {
        global_position: r.get::<_, i64>(0)? as u64,
        event_id: uuid(1)?.unwrap_or_default(),
        stream: r.get(2)?,
        stream_version: r.get::<_, i64>(3)? as u64,
        recorded_at: from_micros(r.get(4)?),
        event_type: r.get(5)?,
        schema_version: r.get(6)?,
        actor: r.get(7)?,
        correlation_id: uuid(8)?,
        causation_id: uuid(9)?,
        data: bytes(10)?,
        raw: optional_bytes(11)?,
        // A hash of the wrong length is kept as zeros: `audit verify` reports it as modified.
        hash: hash.try_into().unwrap_or([0; 32]),
    })
}

fn collect(rows: impl Iterator<Item = rusqlite::Result<RecordedEvent>>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.map(|r| r.map_err(|e| StoreError::Corrupt(format!("unreadable event row: {e}"))))
        .collect()
}

fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes".into()))
}
