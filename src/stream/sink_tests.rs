//! A sink on the runner, against a SQLite log and read-model database: a receiver that fails
//! is retried until it takes the event, a shutdown while it is down saves the checkpoint
//! before that event, and the next start delivers it first.

use std::sync::{Arc, Mutex};

use super::*;
use crate::readmodel::SqliteReadModels;
use crate::store::{ExpectedVersion, SqliteStore};

/// Fails its first `failures` attempts, and every attempt at `down_at`.
struct Flaky {
    delivered: Arc<Mutex<Vec<u64>>>,
    failures: Mutex<u32>,
    down_at: Option<u64>,
}

const RETRY: Backoff = Backoff::new(Duration::from_millis(2), Duration::from_millis(10));

impl Sink for Flaky {
    const KIND: &'static str = "test";

    fn target(&self) -> String {
        "test".into()
    }

    async fn deliver(&self, event: &RecordedEvent, stop: &mut watch::Receiver<bool>) -> Step {
        let attempt = || {
            let mut failures = self.failures.lock().unwrap();
            let down = Some(event.global_position) == self.down_at;
            let result = if down || *failures > 0 { Err("refused") } else { Ok(()) };
            *failures = failures.saturating_sub(1);
            std::future::ready(result)
        };
        match until_ok(RETRY, stop, attempt, |_, _, _| {}).await {
            Some(()) => {
                self.delivered.lock().unwrap().push(event.global_position);
                Step::Done
            }
            None => Step::Stopped,
        }
    }
}

struct Log {
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    _dir: tempfile::TempDir,
}

fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    Log {
        store: Arc::new(SqliteStore::open(dir.path().join("annal.db")).unwrap()),
        readmodels: Arc::new(SqliteReadModels::open(&dir.path().join("rm.db")).unwrap()),
        _dir: dir,
    }
}

async fn append(log: &Log, n: usize) {
    let events = super::super::test_events(n);
    log.store.append("UDID-1", ExpectedVersion::Any, events).await.unwrap();
}

fn start(log: &Log, failures: u32, down_at: Option<u64>) -> (SinkHandle, Arc<Mutex<Vec<u64>>>) {
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let sink = Flaky {
        delivered: delivered.clone(),
        failures: Mutex::new(failures),
        down_at,
    };
    let checkpointing = Checkpointing {
        name: "test:sink".into(),
        every: 2,
        interval: Duration::from_millis(20),
        backoff: RETRY,
    };
    (
        spawn(log.store.clone(), log.readmodels.clone(), sink, checkpointing),
        delivered,
    )
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_a_stop_keeps_the_undelivered_event() {
    let log = log();
    append(&log, 5).await;
    let (sink, delivered) = start(&log, 3, None);
    until("every event", || delivered.lock().unwrap().len() >= 5).await;
    sink.shutdown().await;
    assert_eq!(*delivered.lock().unwrap(), [1, 2, 3, 4, 5], "each once, in order");
    assert_eq!(log.readmodels.load_checkpoint("test:sink").await.unwrap(), Some(5));

    // The receiver refuses event 7: a shutdown while it does saves the checkpoint at 6.
    append(&log, 4).await;
    let (sink, delivered) = start(&log, 0, Some(7));
    until("the event before the refused one", || {
        !delivered.lock().unwrap().is_empty()
    })
    .await;
    sink.shutdown().await;
    assert_eq!(*delivered.lock().unwrap(), [6]);
    assert_eq!(log.readmodels.load_checkpoint("test:sink").await.unwrap(), Some(6));

    let (sink, delivered) = start(&log, 0, None);
    until("the rest", || delivered.lock().unwrap().len() >= 3).await;
    sink.shutdown().await;
    assert_eq!(*delivered.lock().unwrap(), [7, 8, 9], "nothing skipped");
    assert_eq!(log.readmodels.load_checkpoint("test:sink").await.unwrap(), Some(9));
}
