//! The runner against a real SQLite log: a subscription that fails is resumed right after the
//! last handled event, a failed save is asked again, a stop in the middle of a batch saves what
//! was handled and nothing after it, and a consumer that needs the lease saves only once it
//! holds it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use annal_schemas::{NewEvent, RecordedEvent};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::*;
use crate::readmodel::SqliteReadModels;
use crate::store::{AppendResult, Capabilities, ExpectedVersion, Head, SqliteStore, StoreError};
use crate::stream::retry::stopped;

/// The SQLite log, whose first subscription fails after `fail_after` events.
struct Flaky {
    inner: Arc<SqliteStore>,
    fail_after: usize,
    subscriptions: AtomicU32,
}

#[async_trait]
impl EventStore for Flaky {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(&self, stream: &str, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, limit).await
    }
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, limit).await
    }
    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }
    fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner.watch_head()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        self.inner.import(events).await
    }
    fn subscribe_all(self: Arc<Self>, from: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        let events = self.inner.clone().subscribe_all(from);
        if self.subscriptions.fetch_add(1, Ordering::SeqCst) > 0 {
            return events;
        }
        let failure = futures::stream::once(async { Err(StoreError::Unavailable("connection reset".into())) });
        events.take(self.fail_after).chain(failure).boxed()
    }
}

struct Log {
    store: Arc<Flaky>,
    readmodels: Arc<SqliteReadModels>,
    _dir: tempfile::TempDir,
}

fn log(fail_after: usize) -> Log {
    let dir = tempfile::tempdir().unwrap();
    Log {
        store: Arc::new(Flaky {
            inner: Arc::new(SqliteStore::open(dir.path().join("annal.db")).unwrap()),
            fail_after,
            subscriptions: AtomicU32::new(0),
        }),
        readmodels: Arc::new(SqliteReadModels::open(&dir.path().join("rm.db")).unwrap()),
        _dir: dir,
    }
}

async fn append(log: &Log, n: usize) {
    let events = super::super::test_events(n);
    log.store.append("UDID-1", ExpectedVersion::Any, events).await.unwrap();
}

#[derive(Default)]
struct Seen {
    handled: Vec<u64>,
    saved: Vec<u64>,
    failed_saves: Vec<u64>,
    leases: Vec<bool>,
}

/// Records what it is handed; its first `failing_saves` saves fail, and at `down_at` it waits
/// like a sink whose receiver is down, until the stop.
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    failing_saves: u32,
    down_at: Option<u64>,
}

impl Recorder {
    fn new(seen: &Arc<Mutex<Seen>>) -> Self {
        Self {
            seen: seen.clone(),
            failing_saves: 0,
            down_at: None,
        }
    }
}

impl Consumer for Recorder {
    const KIND: &'static str = "test";

    async fn handle(&mut self, batch: &[RecordedEvent], stop: &mut watch::Receiver<bool>) -> Handled {
        for (count, event) in batch.iter().enumerate() {
            if Some(event.global_position) == self.down_at {
                stopped(stop).await;
                return Handled::Stopped { count };
            }
            self.seen.lock().unwrap().handled.push(event.global_position);
        }
        Handled::All
    }

    async fn save(&mut self, position: u64) -> bool {
        let mut seen = self.seen.lock().unwrap();
        if self.failing_saves > 0 {
            self.failing_saves -= 1;
            seen.failed_saves.push(position);
            return false;
        }
        seen.saved.push(position);
        true
    }

    fn lease_changed(&mut self, held: bool) {
        self.seen.lock().unwrap().leases.push(held);
    }
}

fn options(every: u64, lease: Option<Arc<dyn ReadModelDb>>) -> Options {
    Options {
        batch: 4,
        every,
        interval: Duration::from_millis(50),
        backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
        lease,
    }
}

async fn until(seen: &Arc<Mutex<Seen>>, what: &str, done: impl Fn(&Seen) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&seen.lock().unwrap()) {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_failed_subscription_resumes_after_the_last_event_and_a_failed_save_is_asked_again() {
    let log = log(5);
    append(&log, 12).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut consumer = Recorder {
        failing_saves: 2,
        ..Recorder::new(&seen)
    };
    let (stop_tx, mut stop) = watch::channel(false);
    let store: Arc<dyn EventStore> = log.store.clone();
    let runner = tokio::spawn(async move {
        let at = run(store, &mut consumer, 0, options(3, None), &mut stop).await;
        (at, consumer)
    });
    until(&seen, "all 12 events", |s| s.handled.len() >= 12).await;
    append(&log, 2).await;
    until(&seen, "the live events", |s| s.handled.len() >= 14).await;
    stop_tx.send_replace(true);
    let (at, _) = runner.await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.handled, (1..=14).collect::<Vec<_>>(), "each event once, in order");
    assert_eq!(log.store.subscriptions.load(Ordering::SeqCst), 2, "resubscribed once");
    assert_eq!(seen.failed_saves.len(), 2);
    assert_eq!(at, 14);
    assert_eq!(seen.saved.last(), Some(&14), "saved at the stop");
    assert!(seen.saved.windows(2).all(|w| w[0] <= w[1]), "{:?}", seen.saved);
}

#[tokio::test]
async fn a_stop_in_the_middle_of_a_batch_saves_what_was_handled_and_skips_nothing() {
    let log = log(usize::MAX);
    append(&log, 10).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut consumer = Recorder {
        down_at: Some(6),
        ..Recorder::new(&seen)
    };
    let (stop_tx, mut stop) = watch::channel(false);
    let store: Arc<dyn EventStore> = log.store.clone();
    let runner = tokio::spawn(async move { run(store, &mut consumer, 0, options(100, None), &mut stop).await });
    until(&seen, "the events before the one not delivered", |s| {
        s.handled.len() >= 5
    })
    .await;
    stop_tx.send_replace(true);
    let at = runner.await.unwrap();
    assert_eq!(at, 5, "the event under way at the stop is not handled");
    assert_eq!(seen.lock().unwrap().saved.last(), Some(&5), "saved at the stop");

    // A restart from the saved position goes on with the event that was not delivered.
    let again = Arc::new(Mutex::new(Seen::default()));
    let mut consumer = Recorder::new(&again);
    let (stop_tx, mut stop) = watch::channel(false);
    let store: Arc<dyn EventStore> = log.store.clone();
    let runner = tokio::spawn(async move { run(store, &mut consumer, at, options(100, None), &mut stop).await });
    until(&again, "the rest", |s| s.handled.len() >= 5).await;
    stop_tx.send_replace(true);
    assert_eq!(runner.await.unwrap(), 10);
    assert_eq!(again.lock().unwrap().handled, (6..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_consumer_that_needs_the_lease_saves_only_while_it_holds_it() {
    let log = log(usize::MAX);
    append(&log, 3).await;
    let other_node = log.readmodels.try_lease().await.unwrap().expect("the lease is free");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut consumer = Recorder::new(&seen);
    let (stop_tx, mut stop) = watch::channel(false);
    let store: Arc<dyn EventStore> = log.store.clone();
    let db: Arc<dyn ReadModelDb> = log.readmodels.clone();
    let runner = tokio::spawn(async move { run(store, &mut consumer, 0, options(1, Some(db)), &mut stop).await });
    until(&seen, "the events", |s| s.handled.len() >= 3).await;
    // Several ticks pass while the other node holds the lease.
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let seen = seen.lock().unwrap();
        assert!(seen.saved.is_empty(), "saved without the lease: {:?}", seen.saved);
        assert!(seen.leases.is_empty());
    }
    drop(other_node);
    until(&seen, "a save under the lease", |s| !s.saved.is_empty()).await;
    stop_tx.send_replace(true);
    assert_eq!(runner.await.unwrap(), 3);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.leases, [true]);
    assert_eq!(seen.saved.last(), Some(&3));
}
