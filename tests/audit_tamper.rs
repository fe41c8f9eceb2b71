//! `annal integrity verify` (alias `annal audit verify`) against tampering done directly in the store's file or tables
//! (issue: event log foundation, item 8). Every log has 60 events in streams s0, s1, s2 in turn,
//! so position p holds version (p-1)/3+1 of stream s((p-1)%3).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use annal::integrity::{verify, Checkpoint, Finding, Report};
use annal::store::{open, EventStore, ExpectedVersion, StoreUrl};
use annal_schemas::chain_hash;

enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    fn table(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "events",
            Db::Postgres(_) => "annal_events",
        }
    }

    fn blob(&self, bytes: &[u8]) -> String {
        match self {
            Db::Sqlite(_) => format!("X'{}'", hex::encode(bytes)),
            Db::Postgres(_) => format!("'\\x{}'::bytea", hex::encode(bytes)),
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite:{}", p.display()),
            Db::Postgres(u) => u.clone(),
        }
    }

    async fn exec(&self, sql: &str) {
        let sql = sql.replace("{t}", self.table());
        match self {
            Db::Sqlite(path) => rusqlite::Connection::open(path).unwrap().execute_batch(&sql).unwrap(),
            Db::Postgres(url) => {
                let config: tokio_postgres::Config = url.parse().unwrap();
                let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                client.batch_execute(&sql).await.unwrap();
            }
        }
    }

    async fn store(&self) -> Arc<dyn EventStore> {
        open(&self.url().parse::<StoreUrl>().unwrap()).await.unwrap()
    }

    async fn verify(&self, checkpoint: Option<Checkpoint>) -> Report {
        verify(self.store().await.as_ref(), checkpoint, |_| {}).await.unwrap()
    }
}

/// A fresh log of 60 events; returns it with the checkpoint of its head.
async fn fresh(backend: &str) -> (Db, Checkpoint, Option<tempfile::TempDir>) {
    let (db, dir) = match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            (Db::Sqlite(dir.path().join("annal.db")), Some(dir))
        }
        _ => (Db::Postgres(common::postgres_url_for_new_schema().await), None),
    };
    let store = db.store().await;
    for p in 1..=60u64 {
        store
            .append(
                &format!("s{}", (p - 1) % 3),
                ExpectedVersion::Any,
                vec![common::event(p)],
            )
            .await
            .unwrap();
    }
    let head = store.head().await.unwrap();
    let report = db.verify(None).await;
    assert_eq!((report.first_problem, report.events_checked), (None, 60));
    (
        db,
        Checkpoint {
            position: head.position,
            hash: head.hash,
        },
        dir,
    )
}

async fn modified_data_is_named(backend: &str) {
    let (db, _, _dir) = fresh(backend).await;
    let victim = db.store().await.read_all(20, 1).await.unwrap().remove(0);
    db.exec("UPDATE {t} SET data = data || data WHERE global_position = 20")
        .await;
    let finding = db.verify(None).await.first_problem;
    assert_eq!(
        finding,
        Some(Finding::Modified {
            position: 20,
            event_id: victim.event_id,
            stream: "s1".into()
        })
    );
}

async fn modified_raw_bytes_are_caught(backend: &str) {
    let (db, _, _dir) = fresh(backend).await;
    db.exec(&format!(
        "UPDATE {{t}} SET raw = {} WHERE global_position = 7",
        db.blob(b"<plist/>")
    ))
    .await;
    assert!(matches!(
        db.verify(None).await.first_problem,
        Some(Finding::Modified { position: 7, .. })
    ));
}

async fn a_removed_event_is_named(backend: &str) {
    let (db, _, _dir) = fresh(backend).await;
    db.exec("DELETE FROM {t} WHERE global_position = 30").await;
    let finding = db.verify(None).await.first_problem;
    assert_eq!(
        finding,
        Some(Finding::Removed {
            position: 30,
            next_position: Some(31),
            stream: None,
            stream_version: None
        })
    );
}

async fn a_removal_hidden_by_renumbering_is_caught(backend: &str) {
    let (db, _, _dir) = fresh(backend).await;
    db.exec(
        "DELETE FROM {t} WHERE global_position = 30;
         UPDATE {t} SET global_position = -global_position WHERE global_position > 30;
         UPDATE {t} SET global_position = -global_position - 1 WHERE global_position < 0;",
    )
    .await;
    let report = db.verify(None).await;
    // The first event whose place changed no longer matches its hash.
    assert!(
        matches!(report.first_problem, Some(Finding::Modified { position: 30, .. })),
        "{report:?}"
    );
    assert_eq!(report.events_checked, 29);
}

async fn reordered_events_are_named(backend: &str) {
    let (db, _, _dir) = fresh(backend).await;
    let moved = db.store().await.read_all(40, 1).await.unwrap().remove(0);
    db.exec(
        "UPDATE {t} SET global_position = -1 WHERE global_position = 10;
         UPDATE {t} SET global_position = 10 WHERE global_position = 40;
         UPDATE {t} SET global_position = 40 WHERE global_position = -1;",
    )
    .await;
    let finding = db.verify(None).await.first_problem;
    assert_eq!(
        finding,
        Some(Finding::Reordered {
            position: 10,
            event_id: moved.event_id,
            stream: "s0".into(),
            stream_version: 14,
            expected_version: 4
        })
    );
}

async fn truncation_and_a_rewritten_chain_need_the_checkpoint(backend: &str) {
    let (db, checkpoint, _dir) = fresh(backend).await;
    db.exec("DELETE FROM {t} WHERE global_position > 55").await;
    // The chain alone cannot see that its end is gone…
    assert_eq!(db.verify(None).await.first_problem, None);
    // …the checkpoint kept outside the log can.
    let finding = db.verify(Some(checkpoint)).await.first_problem;
    assert_eq!(
        finding,
        Some(Finding::CheckpointMismatch {
            position: 60,
            found: None
        })
    );

    let (db, checkpoint, _dir) = fresh(backend).await;
    // Modify event 20 and recompute every hash after it, as an attacker with write access would.
    db.exec("UPDATE {t} SET data = data || data WHERE global_position = 20")
        .await;
    let store = db.store().await;
    let mut prev = store.read_all(19, 1).await.unwrap()[0].hash;
    for mut e in store.read_all(20, 100).await.unwrap() {
        e.hash = chain_hash(&prev, &e);
        prev = e.hash;
        db.exec(&format!(
            "UPDATE {{t}} SET hash = {} WHERE global_position = {}",
            db.blob(&e.hash),
            e.global_position
        ))
        .await;
    }
    assert_eq!(db.verify(None).await.first_problem, None);
    let finding = db.verify(Some(checkpoint)).await.first_problem;
    assert!(
        matches!(
            finding,
            Some(Finding::CheckpointMismatch {
                position: 60,
                found: Some(_)
            })
        ),
        "{finding:?}"
    );
}

macro_rules! tamper_cases {
    ($backend:ident) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name(stringify!($backend)).await;
                    }
                };
            }
            case!(modified_data_is_named);
            case!(modified_raw_bytes_are_caught);
            case!(a_removed_event_is_named);
            case!(a_removal_hidden_by_renumbering_is_caught);
            case!(reordered_events_are_named);
            case!(truncation_and_a_rewritten_chain_need_the_checkpoint);
        }
    };
}

tamper_cases!(sqlite);
tamper_cases!(postgres);

/// The command itself: exit status 1 and the event named, in text and in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_non_zero_and_names_the_event() {
    let (db, checkpoint, _dir) = fresh("sqlite").await;
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_annal"))
            .args(["audit", "verify", "--store", &db.url()])
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&[]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK: 60 events"));
    let victim = db.store().await.read_all(33, 1).await.unwrap().remove(0);
    db.exec("UPDATE {t} SET actor = 'someone-else' WHERE global_position = 33")
        .await;
    let bad = run(&[]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains(&victim.event_id.to_string()) && text.contains("position 33"),
        "{text}"
    );
    let json = run(&["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["first_problem"]["kind"], "modified");
    assert_eq!(report["first_problem"]["position"], 33);
    let cp = format!("{}:{}", checkpoint.position, hex::encode(checkpoint.hash));
    assert_eq!(run(&["--checkpoint", &cp]).status.code(), Some(1));
    // `annal integrity verify` is the command's own name; `audit verify` stays as an alias.
    let integrity = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["integrity", "verify", "--json", "--store", &db.url()])
        .output()
        .unwrap();
    assert_eq!(integrity.status.code(), Some(1));
    let same: serde_json::Value = serde_json::from_slice(&integrity.stdout).unwrap();
    assert_eq!(same["first_problem"], report["first_problem"]);
}
