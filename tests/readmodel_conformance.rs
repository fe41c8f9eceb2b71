//! The read-model database contract, run on SQLite and PostgreSQL: documents and checkpoints
//! commit together, a checkpoint never moves backwards, reset clears one projection version.

mod common;

use std::sync::Arc;

use annal::readmodel::{Committed, DocWrite, PostgresReadModels, ReadModelDb, SqliteReadModels};

fn doc(key: &str, body: Option<&str>) -> DocWrite {
    DocWrite {
        model: "devices",
        version: 1,
        key: key.into(),
        doc: body.map(|b| b.as_bytes().to_vec()),
        settled: false,
        tag: None,
    }
}

fn tagged(key: &str, tag: &str, settled: bool) -> DocWrite {
    DocWrite {
        model: "commands",
        version: 1,
        key: key.into(),
        doc: Some(format!("{{\"k\":\"{key}\"}}").into_bytes()),
        settled,
        tag: Some(tag.into()),
    }
}

async fn conformance(db: Arc<dyn ReadModelDb>) {
    assert_eq!(db.load_checkpoint("projections").await.unwrap(), None);
    let written = db
        .commit(
            "projections",
            10,
            vec![doc("b", Some("{\"n\":1}")), doc("a", Some("{\"n\":2}"))],
        )
        .await
        .unwrap();
    assert_eq!(written, Committed::Written);
    assert_eq!(db.load_checkpoint("projections").await.unwrap(), Some(10));
    let docs = db.load_docs("devices", 1).await.unwrap();
    assert_eq!(
        docs,
        vec![
            ("a".to_string(), b"{\"n\":2}".to_vec()),
            ("b".to_string(), b"{\"n\":1}".to_vec())
        ]
    );

    // Update one, delete the other.
    db.commit("projections", 20, vec![doc("a", Some("{\"n\":3}")), doc("b", None)])
        .await
        .unwrap();
    assert_eq!(
        db.load_docs("devices", 1).await.unwrap(),
        vec![("a".to_string(), b"{\"n\":3}".to_vec())]
    );

    // A node that is behind writes nothing.
    let behind = db
        .commit("projections", 15, vec![doc("a", Some("{\"n\":0}"))])
        .await
        .unwrap();
    assert_eq!(behind, Committed::Behind { stored: 20 });
    assert_eq!(db.load_docs("devices", 1).await.unwrap()[0].1, b"{\"n\":3}".to_vec());
    assert_eq!(db.load_checkpoint("projections").await.unwrap(), Some(20));

    // Several checkpoints move together with their documents, or not at all.
    let both = db
        .commit_many(&[("p:a", 7), ("p:b", 7)], vec![doc("m", Some("{}"))])
        .await
        .unwrap();
    assert_eq!(both, Committed::Written);
    let behind = db
        .commit_many(&[("p:a", 9), ("p:b", 6)], vec![doc("m", None)])
        .await
        .unwrap();
    assert_eq!(behind, Committed::Behind { stored: 7 });
    let loaded = db.load_many(&["p:a", "p:b", "p:none"], &[]).await.unwrap();
    assert_eq!(loaded.checkpoints, [Some(7), Some(7), None], "neither moved");
    assert!(db.load_docs("devices", 1).await.unwrap().iter().any(|(k, _)| k == "m"));
    db.commit("projections", 20, vec![doc("m", None)]).await.unwrap();

    // Another version and another checkpoint are independent.
    db.commit(
        "webhook:x",
        5,
        vec![DocWrite {
            model: "devices",
            version: 2,
            key: "a".into(),
            doc: Some(b"{}".to_vec()),
            settled: false,
            tag: None,
        }],
    )
    .await
    .unwrap();
    db.reset("projections", &[("devices", 1)]).await.unwrap();
    assert_eq!(db.load_checkpoint("projections").await.unwrap(), None);
    assert!(db.load_docs("devices", 1).await.unwrap().is_empty());
    assert_eq!(db.load_docs("devices", 2).await.unwrap().len(), 1);
    assert_eq!(db.load_checkpoint("webhook:x").await.unwrap(), Some(5));

    // load_all: the checkpoint and the documents of the named models, together.
    db.commit("projections", 30, vec![doc("c", Some("{}"))]).await.unwrap();
    let loaded = db
        .load_all("projections", &[("devices", 1), ("devices", 2)])
        .await
        .unwrap();
    assert_eq!(loaded.checkpoint, Some(30));
    let keys: Vec<(&str, u32, &str)> = loaded.docs.iter().map(|(m, v, k, _)| (*m, *v, k.as_str())).collect();
    assert_eq!(keys, [("devices", 1, "c"), ("devices", 2, "a")]);

    // Settled documents are found by their tag, in tag order, but a start-up does not load them.
    let writes = vec![
        tagged("d1/U2", "00000000000000000012", true),
        tagged("d2/U2", "00000000000000000011", false),
        tagged("d1/U1", "00000000000000000010", true),
        tagged("d3/U2", "00000000000000000013", true),
    ];
    db.commit("projections", 40, writes).await.unwrap();
    let found = db.tagged("commands", 1, "00000000000000000012").await.unwrap();
    assert_eq!(found, vec![("d1/U2".to_string(), b"{\"k\":\"d1/U2\"}".to_vec())]);
    assert!(db
        .tagged("commands", 2, "00000000000000000012")
        .await
        .unwrap()
        .is_empty());
    let tags = |rows: Vec<annal::readmodel::Tagged>| rows.into_iter().map(|r| (r.key, r.tag)).collect::<Vec<_>>();
    let first = db.tagged_after("commands", 1, None, 2).await.unwrap();
    assert_eq!(
        tags(first),
        [
            ("d1/U1".to_string(), "00000000000000000010".to_string()),
            ("d2/U2".to_string(), "00000000000000000011".to_string())
        ]
    );
    let rest = db
        .tagged_after("commands", 1, Some("00000000000000000011"), 10)
        .await
        .unwrap();
    assert_eq!(tags(rest).len(), 2);
    let loaded = db.load_all("projections", &[("commands", 1)]).await.unwrap();
    let keys: Vec<&str> = loaded.docs.iter().map(|(_, _, k, _)| k.as_str()).collect();
    assert_eq!(keys, ["d2/U2"], "only documents that are not settled are restored");
    // A document that is written again unsettled is loaded again.
    db.commit("projections", 41, vec![tagged("d1/U1", "00000000000000000010", false)])
        .await
        .unwrap();
    let loaded = db.load_all("projections", &[("commands", 1)]).await.unwrap();
    assert_eq!(loaded.docs.len(), 2);
}

/// One writer at a time: a second lease is refused while the first is held, granted after.
async fn lease(first: Arc<dyn ReadModelDb>, second: Arc<dyn ReadModelDb>) {
    let held = first.try_lease().await.unwrap().expect("a free lease");
    assert!(second.try_lease().await.unwrap().is_none(), "two writers at once");
    drop(held);
    let mut again = None;
    for _ in 0..50 {
        again = second.try_lease().await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the lease was not released");
}

#[tokio::test]
async fn sqlite_read_models() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteReadModels::open(&dir.path().join("rm.db")).unwrap();
    conformance(Arc::new(db)).await;
    let other = SqliteReadModels::open(&dir.path().join("rm.db")).unwrap();
    let db = SqliteReadModels::open(&dir.path().join("rm.db")).unwrap();
    lease(Arc::new(db), Arc::new(other)).await;
}

#[tokio::test]
async fn postgres_read_models() {
    let url = common::postgres_url_for_new_schema().await;
    let db = PostgresReadModels::connect(&url).await.unwrap();
    conformance(Arc::new(db)).await;
    let first = PostgresReadModels::connect(&url).await.unwrap();
    let second = PostgresReadModels::connect(&url).await.unwrap();
    lease(Arc::new(first), Arc::new(second)).await;
}
