//! Finished commands and their audit entries leave the projector's memory once persisted; the
//! fan-out and audit queries (the `Queries` facade) then read them from the read-model database. On SQLite and
//! PostgreSQL: once everything settled is evicted, the queries answer exactly what a fold of
//! the whole log holds in memory.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::readmodel::projector::Projector;
use annal::readmodel::{PostgresReadModels, Queries, ReadModelDb, SqliteReadModels};
use annal::store::{EventStore, ExpectedVersion};
use annal_projections::audit::AuditFilter;
use annal_projections::synthetic::{fleet, FleetSpec};
use annal_projections::Projections;

async fn append_fleet(store: &Arc<dyn EventStore>) -> Projections {
    let events = fleet(&FleetSpec {
        devices: 12,
        rounds: 10,
        seed: 5,
    });
    for e in &events {
        let (stream, new) = e.clone().into_new();
        store.append(&stream, ExpectedVersion::Any, vec![new]).await.unwrap();
    }
    // The same events as the store numbered them, folded whole: what memory would hold with
    // nothing evicted.
    let stored = store.read_all(1, events.len() + 10).await.unwrap();
    Projections::fold(&stored)
}

async fn settled_are_read_from_the_database(store: Arc<dyn EventStore>, db: Arc<dyn ReadModelDb>) {
    let whole = append_fleet(&store).await;
    let head = store.head().await.unwrap().position;
    let projector = Projector::start(store.clone(), db.clone()).await.unwrap();
    assert!(projector.wait_for(head, Duration::from_secs(30)).await);
    // Persisted once a second, then evicted: wait until memory holds only pending commands.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = whole.commands().pending_total();
    while projector.read(|p| p.commands().len()) > pending {
        assert!(Instant::now() < deadline, "settled commands were never evicted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(whole.commands().len() > pending, "the fleet has finished commands");
    let live_audit = projector.read(|p| p.audit().len());
    assert!(live_audit < whole.audit().len(), "settled audit entries left memory");

    let queries = Queries::new(&projector, store.as_ref());
    // Every fan-out (one CommandUUID per round and request type).
    let uuids: std::collections::BTreeSet<String> = whole
        .snapshot()
        .iter()
        .filter(|c| c.model == "commands")
        .filter_map(|c| c.key.split_once('/').map(|(_, u)| u.to_string()))
        .collect();
    for uuid in &uuids {
        let got = queries.fan_out(uuid).await.unwrap().value;
        assert_eq!(got, whole.commands().fan_out(uuid), "fan-out {uuid}");
    }
    assert!(queries.fan_out("NOPE").await.unwrap().value.commands.is_empty());

    // The audit trail, whole, paged, and filtered.
    let all = AuditFilter::default();
    let want = whole.audit().query(&all, None, usize::MAX);
    assert!(want.items.len() > 20, "a trail long enough to page");
    assert_eq!(queries.audit(&all, None, usize::MAX).await.unwrap().value, want);
    let (mut after, mut paged) = (None, Vec::new());
    loop {
        let page = queries.audit(&all, after, 7).await.unwrap().value;
        assert_eq!(page, whole.audit().query(&all, after, 7), "page after {after:?}");
        paged.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, want.items);
    let one_device = AuditFilter {
        device: want.items.first().map(|e| e.enrollment.clone()),
        request_type: want.items.first().map(|e| e.request_type.clone()),
        ..AuditFilter::default()
    };
    let filtered = queries.audit(&one_device, None, 3).await.unwrap().value;
    assert!(!filtered.items.is_empty());
    assert_eq!(filtered, whole.audit().query(&one_device, None, 3));
    projector.shutdown().await;
}

#[tokio::test]
async fn sqlite_settled_history() {
    let backend = common::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteReadModels::open(&dir.path().join("rm.db")).unwrap();
    settled_are_read_from_the_database(backend.store.clone(), Arc::new(db)).await;
}

#[tokio::test]
async fn postgres_settled_history() {
    let backend = common::postgres().await;
    let db = PostgresReadModels::connect(&backend.url).await.unwrap();
    settled_are_read_from_the_database(backend.store.clone(), Arc::new(db)).await;
}
