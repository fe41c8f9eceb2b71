//! `annal bench store`: durable append throughput with 1, 8 and 64 concurrent writers, single
//! events and batches, and `read_all` throughput. Every append counted here was acknowledged by
//! the store, i.e. committed with the backend's durability settings (SQLite: WAL +
//! synchronous=FULL; PostgreSQL: its own fsync settings).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use annal_schemas::NewEvent;
use serde::Serialize;
use uuid::Uuid;

use crate::store::{EventStore, ExpectedVersion, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub scenario: String,
    pub writers: usize,
    pub batch: usize,
    pub events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
}

/// A body the size of a typical device answer's event: ~250 bytes of JSON plus ~700 bytes of
/// raw plist.
pub fn sample_event(i: u64) -> NewEvent {
    let data = format!(
        r#"{{"command_uuid":"{}","request_type":"DeviceInformation","device":{{"udid":"00008020-{:016X}"}},"identity":{{"fingerprint_sha256":"{}","proof":"mdm-signature"}}}}"#,
        Uuid::now_v7(),
        i,
        "ab".repeat(32)
    );
    let raw = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\"><dict><key>CommandUUID</key><string>{}</string>\
         <key>QueryResponses</key><dict><key>DeviceName</key><string>iPad {i}</string><key>OSVersion</key><string>18.1</string>\
         <key>SerialNumber</key><string>F9FXL{i:07}</string></dict><key>Status</key><string>Acknowledged</string>\
         <key>UDID</key><string>00008020-{i:016X}</string></dict></plist>{}",
        Uuid::now_v7(),
        " ".repeat(300)
    );
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "CommandAcknowledged".into(),
        schema_version: 1,
        actor: "bench".into(),
        correlation_id: None,
        causation_id: None,
        data: data.into_bytes(),
        raw: Some(raw.into_bytes().into()),
    }
}

/// `writers` tasks append `total` events between them, `batch` events per append, each writer to
/// its own streams (one stream per simulated device, as the MDM endpoints do).
pub async fn appends(
    store: Arc<dyn EventStore>,
    writers: usize,
    total: u64,
    batch: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<BenchRow, StoreError> {
    let per_writer = total / writers as u64;
    let appended = Arc::new(AtomicU64::new(0));
    let run = Uuid::now_v7().simple().to_string();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let (store, appended, progress, run) = (store.clone(), appended.clone(), progress.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while done < per_writer {
                let n = (batch as u64).min(per_writer - done);
                let events = (0..n).map(|i| sample_event(done + i)).collect();
                let stream = format!("enrollment-bench-{run}-{w}-{}", done / (batch as u64 * 10));
                store.append(&stream, ExpectedVersion::Any, events).await?;
                done += n;
                progress(appended.fetch_add(n, Ordering::Relaxed) + n);
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| StoreError::Unavailable(format!("bench writer: {e}")))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    let events = per_writer * writers as u64;
    let scenario = if batch == 1 {
        "append, 1 event per append".to_string()
    } else {
        format!("append, {batch} events per append")
    };
    Ok(BenchRow {
        scenario,
        writers,
        batch,
        events,
        seconds,
        events_per_sec: events as f64 / seconds,
    })
}

/// Reads the whole log from position 1 in pages of `page`.
pub async fn read_all(
    store: Arc<dyn EventStore>,
    page: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<BenchRow, StoreError> {
    let start = Instant::now();
    let (mut next, mut events) = (1u64, 0u64);
    loop {
        let got = store.read_all(next, page).await?;
        let Some(last) = got.last() else { break };
        next = last.global_position + 1;
        events += got.len() as u64;
        progress(events);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchRow {
        scenario: format!("read_all, pages of {page}"),
        writers: 1,
        batch: page,
        events,
        seconds,
        events_per_sec: events as f64 / seconds,
    })
}
