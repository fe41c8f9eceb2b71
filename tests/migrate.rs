//! `annal migrate` (issue 8, item 5): a log with real device traffic goes SQLite → PostgreSQL →
//! file without losing a byte, and a server on the new store serves it; a non-empty target and
//! a broken source are refused with nothing written. PostgreSQL must be reachable.

mod common;

use annal::store::ExpectedVersion;
use common::admin::get;
use common::server::Server;
use common::transfer::{annal, assert_verifies, audit_head, log_with_device_traffic, read_everything, stderr, store};

fn export(store_url: &str, out: &std::path::Path) -> Vec<u8> {
    let run = annal(&["events", "export", "--store", store_url, "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_to_a_file_is_lossless() {
    let server = log_with_device_traffic(4, 3).await;
    let source = read_everything(store(&server.store_url).await.as_ref()).await;
    let head = audit_head(&server.store_url);
    let postgres = common::postgres_url_for_new_schema().await;

    let run = annal(&["migrate", "--from", &server.store_url, "--to", &postgres]);
    assert!(run.status.success(), "{}", stderr(&run));
    let said = stderr(&run);
    assert!(
        said.contains(&format!("migrated {} events, head {head}", source.len())),
        "{said}"
    );
    assert!(said.contains("folds them from the log"), "{said}");
    assert_eq!(
        read_everything(store(&postgres).await.as_ref()).await,
        source,
        "an envelope changed on the way"
    );
    assert_eq!(audit_head(&postgres), head);
    assert_verifies(&postgres);

    let dir = tempfile::tempdir().unwrap();
    let from_sqlite = export(&server.store_url, &dir.path().join("sqlite.ndjson"));
    let from_postgres = export(&postgres, &dir.path().join("postgres.ndjson"));
    assert_eq!(from_postgres, from_sqlite, "the exports differ");

    let run = annal(&["migrate", "--from", &server.store_url, "--to", &postgres]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("not empty"), "{}", stderr(&run));
    assert_eq!(
        store(&postgres).await.head().await.unwrap().position,
        source.len() as u64
    );

    // A server on the new store (same data directory: same CA and data key) folds its read
    // models from the log on start and knows every device.
    let moved = Server::start_with(&server.data_dir, &postgres, &[]).await;
    let (status, list) = get(&moved.client(), "/v1/devices?limit=10", &moved.api_key()).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["devices"].as_array().map(Vec::len), Some(4), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_source_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let source_url = format!("sqlite:{}", path.display());
    let source = store(&source_url).await;
    for n in 0..10 {
        source
            .append(&format!("s{}", n % 2), ExpectedVersion::Any, vec![common::event(n)])
            .await
            .unwrap();
    }
    let fifth = source.read_all(5, 1).await.unwrap().remove(0);
    drop(source);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE events SET data = X'7b7d' WHERE global_position = 5")
        .unwrap();

    let postgres = common::postgres_url_for_new_schema().await;
    let run = annal(&["migrate", "--from", &source_url, "--to", &postgres]);
    assert!(!run.status.success());
    let said = stderr(&run);
    assert!(said.contains("source log is broken"), "{said}");
    assert!(said.contains(&fifth.event_id.to_string()), "{said}");
    assert_eq!(store(&postgres).await.head().await.unwrap().position, 0);

    let missing = format!("sqlite:{}", dir.path().join("nothing.db").display());
    let run = annal(&["migrate", "--from", &missing, "--to", &postgres]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("does not exist"), "{}", stderr(&run));
}
