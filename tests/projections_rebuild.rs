//! The read models a running server keeps (folded live, persisted with their checkpoint) are
//! exactly what a rebuild from position 0 produces, on SQLite and on PostgreSQL; and a
//! restarted server restores them and goes on.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use annal::readmodel::projector::{checkpoint_name, persisted_position, rebuild, restore, ProjectorError};
use annal::readmodel::{ReadModelDb, SqliteReadModels};
use annal::store::EventStore;
use annal::testkit::sim::run;
use annal_projections::Projections;
use common::admin::{call, get};
use common::server::{sim_config, Server};
use hyper::Method;
use serde_json::{json, Value};

type Docs = BTreeMap<(String, String), Value>;

async fn all_docs(db: &dyn ReadModelDb) -> Docs {
    let mut out = BTreeMap::new();
    for (model, version) in Projections::models() {
        for (key, doc) in db.load_docs(model, version).await.unwrap() {
            out.insert((model.to_string(), key), serde_json::from_slice(&doc).unwrap());
        }
    }
    out
}

/// Drives real traffic: enrollment, five command rounds with NotNow, then a DeviceLock fan-out.
async fn traffic(server: &Server) {
    let config = sim_config(server, 5, 5);
    let report = run(&config, &server.ca()).await.unwrap();
    assert_eq!(report.errors, 0);
    let client = server.client();
    let (_, list) = get(&client, "/v1/devices?limit=10", &server.api_key()).await;
    let ids: Vec<String> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["enrollment"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "{list}");
    let lock =
        json!({"enrollments": ids, "command": {"RequestType": "DeviceLock", "Message": "lost"}, "reason": "test"});
    let (status, body) = call(
        &client,
        Method::POST,
        "/v1/commands",
        Some(&server.api_key()),
        Some(lock),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn live_equals_rebuilt(server: &Server, live_db: &dyn ReadModelDb, rebuilt_db: &dyn ReadModelDb) {
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let head = store.head().await.unwrap().position;
    let deadline = Instant::now() + Duration::from_secs(20);
    while persisted_position(live_db).await.unwrap() != Some(head) {
        assert!(
            Instant::now() < deadline,
            "the server's read models did not reach the head {head}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = all_docs(live_db).await;
    let report = rebuild(store, rebuilt_db, |_| {}).await.unwrap();
    assert_eq!(report.events, head);
    let rebuilt = all_docs(rebuilt_db).await;
    assert_eq!(persisted_position(rebuilt_db).await.unwrap(), Some(head));
    let models: std::collections::BTreeSet<&str> = live.keys().map(|(m, _)| m.as_str()).collect();
    assert_eq!(models.len(), 4, "every projection has documents: {models:?}");
    assert_eq!(live.len(), rebuilt.len());
    for (k, v) in &live {
        assert_eq!(Some(v), rebuilt.get(k), "document {k:?} differs");
    }
}

/// Each projection keeps its own checkpoint: a projection whose version finds none (here: its
/// checkpoint and documents cleared, as a bumped VERSION would find them) is folded again from
/// position 0, and the others restore theirs. Each folds from the events alone: the audit trail,
/// cleared too, is folded again by itself, and makes the entries the rebuild wrote.
async fn one_new_version_refolds_only_itself(db: &dyn ReadModelDb, store: &dyn EventStore) {
    let models = Projections::models();
    let restored = restore(db).await.unwrap();
    assert!(restored.refold.is_empty(), "{:?}", restored.refold);
    let (push, version) = *models.iter().find(|(m, _)| *m == "push").expect("a push projection");
    let before: Vec<u64> = models
        .iter()
        .map(|(m, _)| restored.projections.checkpoint(m).unwrap())
        .collect();
    db.reset(&checkpoint_name(push, version), &[(push, version)])
        .await
        .unwrap();
    let restored = restore(db).await.unwrap();
    assert_eq!(restored.refold, vec![(push, version)]);
    for ((model, _), position) in models.iter().zip(&before) {
        if *model != push {
            assert_eq!(restored.projections.checkpoint(model), Some(*position), "{model}");
        }
    }

    // The audit trail's documents as the rebuild wrote them, settled entries included.
    let (audit, audit_version) = *models.iter().find(|(m, _)| *m == "audit").expect("an audit trail");
    let rebuilt: Docs = all_docs(db)
        .await
        .into_iter()
        .filter(|((model, _), _)| model == audit)
        .collect();
    assert!(
        rebuilt.values().filter(|doc| doc.get("command_uuid").is_some()).count() >= 5,
        "{rebuilt:?}"
    );
    db.reset(&checkpoint_name(audit, audit_version), &[(audit, audit_version)])
        .await
        .unwrap();
    let restored = restore(db).await.unwrap();
    let mut refold: Vec<&str> = restored.refold.iter().map(|(m, _)| *m).collect();
    refold.sort();
    assert_eq!(
        refold,
        ["audit", "push"],
        "the audit trail refolds without what it records"
    );
    for ((model, _), position) in models.iter().zip(&before) {
        if *model != push && *model != audit {
            assert_eq!(restored.projections.checkpoint(model), Some(*position), "{model}");
        }
    }
    // Folded from position 0 beside the others restored at the head, it writes what the
    // rebuild wrote.
    let mut projections = restored.projections;
    let head = store.head().await.unwrap().position;
    let mut from = 1;
    loop {
        let page = store.read_all(from, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        for event in &page {
            projections.apply(event);
        }
    }
    assert_eq!(projections.checkpoint(audit), Some(head));
    let changes = projections.drain_changes();
    assert!(
        changes.iter().all(|c| c.model == audit || c.model == push),
        "only the two folded again change"
    );
    let refolded: Docs = changes
        .into_iter()
        .filter(|c| c.model == audit)
        .map(|c| ((c.model.to_string(), c.key), c.doc.unwrap()))
        .collect();
    assert_eq!(refolded, rebuilt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_live_read_models_equal_a_rebuild_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let server = Server::start_with(dir.path(), &store_url, &[]).await;
    traffic(&server).await;
    let live = SqliteReadModels::open(&dir.path().join("annal.readmodels.db")).unwrap();
    let rebuilt = SqliteReadModels::open(&dir.path().join("rebuilt.db")).unwrap();
    live_equals_rebuilt(&server, &live, &rebuilt).await;
    let (_, before) = get(&server.client(), "/v1/audit?limit=100", &server.api_key()).await;
    // The server writes these read models: a rebuild into them is refused while it runs.
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    let refused = rebuild(store.clone(), &live, |_| {}).await;
    assert!(matches!(refused, Err(ProjectorError::Leased)), "{refused:?}");
    drop(server);
    // Stopped, it may: the rebuild replaces them, and the next start restores the rebuilt ones.
    rebuild(store.clone(), &live, |_| {}).await.unwrap();
    one_new_version_refolds_only_itself(&live, store.as_ref()).await;

    // A restart restores the documents and their checkpoint instead of refolding (the audit
    // trail and push health, cleared, are folded again alone).
    let server = Server::start_with(dir.path(), &store_url, &[]).await;
    let (_, after) = get(&server.client(), "/v1/audit?limit=100", &server.api_key()).await;
    assert_eq!(before["entries"], after["entries"]);
    assert_eq!(after["entries"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_live_read_models_equal_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::postgres_url_for_new_schema().await;
    let server = Server::start_with(dir.path(), &url, &[]).await;
    traffic(&server).await;
    let live = annal::readmodel::PostgresReadModels::connect(&url).await.unwrap();
    // The rebuild goes to a database of its own so the live one stays as the server wrote it.
    let rebuilt = SqliteReadModels::open(&dir.path().join("rebuilt.db")).unwrap();
    live_equals_rebuilt(&server, &live, &rebuilt).await;
}
