//! One conformance suite for every EventStore backend (issue: event log foundation, item 7).
//! Each backend gets a fresh log per test; see tests/common/mod.rs.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use annal::integrity::verify;
use annal::store::{EventStore, ExpectedVersion, StoreError};
use annal_schemas::{NewEvent, RecordedEvent};
use futures::StreamExt;

use common::transfer::read_everything;
use common::{event, events};

async fn assert_chain_intact(store: &dyn EventStore) {
    let report = verify(store, None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None, "hash chain broken");
}

pub async fn expected_version_conflicts(store: Arc<dyn EventStore>) {
    let r = store
        .append("enrollment-A", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    assert_eq!(r.stream_version, 1);
    let err = store
        .append("enrollment-A", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { actual: 1, .. }),
        "{err}"
    );
    let r = store
        .append("enrollment-A", ExpectedVersion::Exact(1), events(2))
        .await
        .unwrap();
    assert_eq!(r.stream_version, 3);
    let err = store
        .append("enrollment-A", ExpectedVersion::Exact(1), events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { actual: 3, .. }),
        "{err}"
    );
    let err = store
        .append("enrollment-B", ExpectedVersion::Exact(1), events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { actual: 0, .. }),
        "{err}"
    );
    let r = store
        .append("enrollment-A", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(r.stream_version, 4);
    // Refused appends wrote nothing.
    let stream = store.read_stream("enrollment-A", 1, 100).await.unwrap();
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(store.read_stream("enrollment-B", 1, 100).await.unwrap().is_empty());
    assert_eq!(read_everything(store.as_ref()).await.len(), 4);
}

pub async fn idempotent_retry(store: Arc<dyn EventStore>) {
    store
        .append("enrollment-A", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let batch = events(3);
    let first = store
        .append("enrollment-A", ExpectedVersion::Exact(2), batch.clone())
        .await
        .unwrap();
    assert!(!first.already_appended);
    // The answer was "lost"; the client retries with the same ids and the same (now stale)
    // expected version, and gets the original answer.
    let retry = store
        .append("enrollment-A", ExpectedVersion::Exact(2), batch.clone())
        .await
        .unwrap();
    assert!(retry.already_appended);
    assert_eq!(
        (retry.stream_version, retry.first_position, retry.last_position),
        (first.stream_version, first.first_position, first.last_position)
    );
    // A different append that reuses one id is not a retry.
    let mut mixed = events(1);
    mixed.insert(0, batch[0].clone());
    let err = store
        .append("enrollment-A", ExpectedVersion::Any, mixed)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err}");
    let log_wide = store.capabilities().log_wide_event_ids;
    if log_wide {
        let err = store
            .append("enrollment-B", ExpectedVersion::Any, batch[..1].to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err}");
    }
    // Concurrent retries of one append: exactly one writes.
    let twice = events(2);
    let (a, b) = tokio::join!(
        store.append("enrollment-C", ExpectedVersion::Any, twice.clone()),
        store.append("enrollment-C", ExpectedVersion::Any, twice.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    if log_wide {
        assert_ne!(a.already_appended, b.already_appended);
    }
    assert_eq!(a.first_position, b.first_position);
    assert_eq!(store.read_stream("enrollment-C", 1, 10).await.unwrap().len(), 2);
    assert_eq!(read_everything(store.as_ref()).await.len(), 7);
    let err = store
        .append("enrollment-A", ExpectedVersion::Any, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = store
        .append("bad\nname", ExpectedVersion::Any, events(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}

/// Runs `writers` tasks appending 1–3 events at a time, each to its own stream and to a shared
/// one; returns every acknowledged event id.
async fn concurrent_appends(store: &Arc<dyn EventStore>, writers: usize, appends: u64, tag: &str) -> Vec<uuid::Uuid> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..appends {
                let batch: Vec<_> = (0..1 + i % 3).map(event).collect();
                ids.extend(batch.iter().map(|e| e.event_id));
                let stream = if i % 4 == 0 {
                    format!("shared-{tag}")
                } else {
                    format!("writer-{tag}-{w}")
                };
                store.append(&stream, ExpectedVersion::Any, batch).await.unwrap();
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

pub async fn dense_ordered_positions_under_concurrency(store: Arc<dyn EventStore>) {
    let ids = concurrent_appends(&store, 8, 40, "x").await;
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len(), ids.len());
    let stored: HashSet<_> = all.iter().map(|e| e.event_id).collect();
    assert!(
        ids.iter().all(|id| stored.contains(id)),
        "an acknowledged event is missing"
    );
    if store.capabilities().dense_positions {
        let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
        assert_eq!(positions, (1..=ids.len() as u64).collect::<Vec<_>>());
    } else {
        assert!(all.windows(2).all(|w| w[0].global_position < w[1].global_position));
    }
    // Within every stream, versions are dense and follow the global order.
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &all {
        let v = versions.entry(&e.stream).or_insert(0);
        assert_eq!(e.stream_version, *v + 1, "stream {} out of order", e.stream);
        *v += 1;
    }
    assert_chain_intact(store.as_ref()).await;
}

pub async fn subscription_from_mid_log_sees_every_later_event_once(store: Arc<dyn EventStore>) {
    concurrent_appends(&store, 4, 30, "before").await;
    let before = read_everything(store.as_ref()).await;
    let start = before[before.len() / 2].global_position;
    let mut subscription = store.clone().subscribe_all(start);
    let writers = {
        let store = store.clone();
        tokio::spawn(async move { concurrent_appends(&store, 8, 30, "during").await })
    };
    let during = writers.await.unwrap();
    let everything = read_everything(store.as_ref()).await;
    let expected: Vec<_> = everything
        .iter()
        .filter(|e| e.global_position >= start)
        .map(|e| e.event_id)
        .collect();
    assert_eq!(expected.len(), before.len() - before.len() / 2 + during.len());
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let next = tokio::time::timeout(Duration::from_secs(20), subscription.next()).await;
        let event = next
            .expect("subscription stalled")
            .expect("subscription ended")
            .unwrap();
        seen.push(event.event_id);
    }
    assert_eq!(seen, expected, "not every event exactly once, in order");
    // Live: an append after catch-up arrives too, and nothing else does.
    let late = event(999);
    store
        .append("late", ExpectedVersion::Any, vec![late.clone()])
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), subscription.next()).await;
    assert_eq!(
        next.expect("live event not delivered").unwrap().unwrap().event_id,
        late.event_id
    );
}

pub async fn large_payloads(store: Arc<dyn EventStore>) {
    let mut big = event(1);
    big.data = serde_json::to_vec(&serde_json::json!({ "blob": "x".repeat(4 << 20) })).unwrap();
    big.raw = Some((0..3u32 << 20).map(|i| (i % 251) as u8).collect());
    store
        .append("big", ExpectedVersion::NoStream, vec![big.clone(), event(2)])
        .await
        .unwrap();
    let back = store.read_stream("big", 1, 10).await.unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].data, big.data);
    assert_eq!(back[0].raw.as_deref(), big.raw.as_deref());
    assert_chain_intact(store.as_ref()).await;
}

pub async fn read_all_paging_and_read_stream(store: Arc<dyn EventStore>) {
    for i in 0..20 {
        store
            .append(&format!("s{}", i % 3), ExpectedVersion::Any, events(5))
            .await
            .unwrap();
    }
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len(), 100);
    let mut paged = Vec::new();
    let mut next = 1;
    loop {
        let page = store.read_all(next, 7).await.unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(store.read_all(next, 10).await.unwrap().is_empty());
    let middle = store.read_stream("s1", 5, 3).await.unwrap();
    assert_eq!(
        middle.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert!(middle.iter().all(|e| e.stream == "s1"));
    assert!(store.read_stream("nobody", 1, 10).await.unwrap().is_empty());
    let head = store.head().await.unwrap();
    assert_eq!(head.position, all.last().unwrap().global_position);
    assert_eq!(head.hash, all.last().unwrap().hash);
    // Envelope fields survive the round trip.
    let e = &all[0];
    assert!(e.correlation_id.is_some() && e.raw.is_some() && e.actor.starts_with("device-"));
}

/// A log recorded elsewhere is written verbatim, only where it continues the log exactly, and a
/// refused batch writes nothing.
pub async fn import_writes_recorded_envelopes_verbatim(store: Arc<dyn EventStore>) {
    let source = common::sqlite();
    for i in 0..12u64 {
        let stream = format!("s{}", i % 3);
        let batch = events(1 + (i % 2) as usize);
        source.store.append(&stream, ExpectedVersion::Any, batch).await.unwrap();
    }
    let recorded = read_everything(source.store.as_ref()).await;
    assert_eq!(recorded.len(), 18);
    if !store.capabilities().verbatim_import() {
        let err = store.import(recorded).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert!(read_everything(store.as_ref()).await.is_empty());
        return;
    }
    let err = store.import(recorded[1..].to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("next position is 1"), "{err}");
    let mut tampered = recorded[..6].to_vec();
    tampered[4].data = br#"{"n":99}"#.to_vec();
    let err = store.import(tampered).await.unwrap_err();
    assert!(err.to_string().contains(&recorded[4].event_id.to_string()), "{err}");
    assert!(
        read_everything(store.as_ref()).await.is_empty(),
        "a refused batch wrote"
    );

    let head = store.import(recorded[..7].to_vec()).await.unwrap();
    assert_eq!((head.position, head.hash), (7, recorded[6].hash));
    assert!(store.import(recorded[..7].to_vec()).await.is_err());
    store.import(recorded[7..].to_vec()).await.unwrap();
    assert_eq!(read_everything(store.as_ref()).await, recorded, "not verbatim");
    assert_eq!(store.head().await.unwrap(), source.store.head().await.unwrap());

    // The log goes on from the imported head: positions, stream versions and the chain.
    let s1 = store.read_stream("s1", 1, 100).await.unwrap().len() as u64;
    let r = store.append("s1", ExpectedVersion::Exact(s1), events(1)).await.unwrap();
    assert_eq!((r.first_position, r.stream_version), (19, s1 + 1));
    assert_chain_intact(store.as_ref()).await;

    // Chained correctly but reusing an id, or skipping a stream version: refused.
    let head = store.head().await.unwrap();
    let place = |new: NewEvent, stream: &str, version: u64| {
        RecordedEvent::place(new, stream, version, head.position + 1, chrono::Utc::now(), &head.hash)
    };
    let reused = NewEvent {
        event_id: recorded[0].event_id,
        ..event(1)
    };
    let err = store.import(vec![place(reused, "s9", 1)]).await.unwrap_err();
    assert!(err.to_string().contains("already in the log"), "{err}");
    let err = store.import(vec![place(event(2), "s0", 99)]).await.unwrap_err();
    assert!(err.to_string().contains("next version"), "{err}");
    let next = place(event(3), "s9", 1);
    assert_eq!(store.import(vec![next.clone()]).await.unwrap().hash, next.hash);
    assert_eq!(store.read_stream("s9", 1, 10).await.unwrap(), vec![next]);
    assert_eq!(read_everything(store.as_ref()).await.len(), 20);
    assert_chain_intact(store.as_ref()).await;
}

macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let Some(backend) = $make else {
                            eprintln!("skipped: ANNAL_TEST_KURRENTDB_URL is not set");
                            return;
                        };
                        super::$name(backend.store.clone()).await;
                    }
                };
            }

            case!(expected_version_conflicts);
            case!(idempotent_retry);
            case!(dense_ordered_positions_under_concurrency);
            case!(subscription_from_mid_log_sees_every_later_event_once);
            case!(large_payloads);
            case!(read_all_paging_and_read_stream);
            case!(import_writes_recorded_envelopes_verbatim);
        }
    };
}

conformance!(sqlite, Some(common::sqlite()));
conformance!(postgres, Some(common::postgres().await));
// Runs only where a live KurrentDB is named; none can be installed on the project's machines.
#[cfg(feature = "kurrentdb")]
conformance!(kurrentdb, common::kurrentdb().await);

/// The mistakes of a first PostgreSQL setup are named with what to do, not "db error"; a store
/// URL Annal cannot use says which ones it can.
#[tokio::test]
async fn postgres_setup_mistakes_say_what_to_do() {
    use annal::store::PostgresStore;
    // postgres://user[:password]@host:port/database[?options]
    let base = common::postgres_base_url();
    let (scheme, rest) = base.split_once("://").unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let host = host_port.split(':').next().unwrap();
    let missing_db = format!("{scheme}://{user}@{host_port}/annal_no_such_database_4711");
    let e = PostgresStore::connect(&missing_db).await.err().expect("refused");
    assert!(
        e.to_string().contains("3D000") && e.to_string().contains("database does not exist"),
        "{e}"
    );
    let missing_role = format!("{scheme}://annal_no_such_role_4711@{host_port}/{database}");
    let e = PostgresStore::connect(&missing_role).await.err().expect("refused");
    assert!(e.to_string().contains("role is unknown"), "{e}");
    let free = std::net::TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("{scheme}://{user}@{host}:{free}/{database}");
    let e = PostgresStore::connect(&closed).await.err().expect("refused");
    assert!(e.to_string().contains("nothing listens"), "{e}");
    let e = "mysql://x".parse::<annal::store::StoreUrl>().expect_err("refused");
    assert!(e.to_string().starts_with("--store \"mysql://x\" is not a store"), "{e}");
}
