//! `EventStore::import` on PostgreSQL: one transaction under the same row lock appends take,
//! so an import serializes with every node's appends; the commit notifies like an append.

use annal_schemas::RecordedEvent;
use deadpool_postgres::Pool;

use super::writer::{lock_and_prefetch, write};
use super::{pg, pool_error};
use crate::store::import::check_import;
use crate::store::{Head, StoreError};

pub async fn import(pool: &Pool, channel: &str, events: &[RecordedEvent]) -> Result<Head, StoreError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(pg)?;
    let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
    let streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
    let (head, _, mut lookup) = lock_and_prefetch(&tx, &ids, streams).await?;
    let new_head = check_import(head, events, &mut lookup)?;
    write(&tx, channel, events, &new_head).await?;
    tx.commit().await.map_err(pg)?;
    Ok(new_head)
}
