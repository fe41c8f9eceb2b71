//! `annal bench projections`: a generated fleet log (annal-projections' `synthetic::fleet`:
//! enrollments, polls, every command outcome, pushes) loaded into a real store, then a full
//! rebuild: read, fold, write the documents.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use annal_projections::synthetic::{fleet, FleetSpec};
use annal_schemas::NewEvent;
use futures::StreamExt;
use serde::Serialize;

use crate::readmodel::projector::{rebuild, ProjectorError, RebuildReport};
use crate::readmodel::ReadModelDb;
use crate::store::{EventStore, ExpectedVersion, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct RebuildRow {
    pub devices: u64,
    pub events: u64,
    pub load_seconds: f64,
    #[serde(flatten)]
    pub rebuild: RebuildReport,
    /// Events per second of reading and folding together (the target's figure).
    pub events_per_sec: f64,
    /// Events per second of the fold alone.
    pub fold_events_per_sec: f64,
}

/// The generated log, as new events grouped by stream (order kept within each stream).
pub fn generate(spec: &FleetSpec) -> Vec<(String, Vec<NewEvent>)> {
    let mut by_stream: HashMap<String, Vec<NewEvent>> = HashMap::new();
    let mut order = Vec::new();
    for e in fleet(spec) {
        let (stream, new) = e.into_new();
        let entry = by_stream.entry(stream.clone()).or_insert_with(|| {
            order.push(stream);
            Vec::new()
        });
        entry.push(new);
    }
    order
        .into_iter()
        .filter_map(|s| by_stream.remove(&s).map(|events| (s, events)))
        .collect()
}

/// Appends every stream (64 at a time, 500 events per append); returns the seconds taken.
pub async fn load(
    store: Arc<dyn EventStore>,
    streams: Vec<(String, Vec<NewEvent>)>,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<f64, StoreError> {
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(streams)
        .map(|(stream, events)| {
            let (store, done, progress) = (store.clone(), done.clone(), progress.clone());
            async move {
                let mut version = 0u64;
                let mut rest = events;
                while !rest.is_empty() {
                    let tail = rest.split_off(rest.len().min(500));
                    let n = rest.len() as u64;
                    let expected = if version == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(version)
                    };
                    version = store.append(&stream, expected, rest).await?.stream_version;
                    progress(done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n);
                    rest = tail;
                }
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(started.elapsed().as_secs_f64())
}

pub async fn measure(
    store: Arc<dyn EventStore>,
    db: &dyn ReadModelDb,
    spec: &FleetSpec,
    load_progress: Arc<dyn Fn(u64) + Send + Sync>,
    fold_progress: impl FnMut(u64),
) -> Result<RebuildRow, ProjectorError> {
    let streams = generate(spec);
    let load_seconds = load(store.clone(), streams, load_progress).await?;
    let rebuild = rebuild(store, db, fold_progress).await?;
    Ok(RebuildRow {
        devices: spec.devices,
        events: rebuild.events,
        load_seconds,
        events_per_sec: rebuild.events as f64 / rebuild.read_and_fold_seconds.max(1e-9),
        fold_events_per_sec: rebuild.events as f64 / rebuild.fold_seconds.max(1e-9),
        rebuild,
    })
}
