//! PostgreSQL with writers in two separate processes (4 writers each) and a subscriber in a
//! third: positions stay dense and in commit order, every acknowledged event is stored where it
//! was acknowledged, and the subscriber — woken by LISTEN/NOTIFY for commits it did not make —
//! sees every event exactly once, in order.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use annal::integrity::verify;
use annal::store::{EventStore, PostgresStore};
use futures::StreamExt;

const APPENDS_PER_WRITER: u64 = 150;

fn appender(url: &str, prefix: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["debug", "append-loop", "--writers", "4", "--batch", "1"])
        .args([
            "--appends",
            &APPENDS_PER_WRITER.to_string(),
            "--stream-prefix",
            prefix,
            "--store",
            url,
        ])
        .env("ANNAL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn annal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_eight_writers_dense_positions_and_live_subscription() {
    let url = common::postgres_url_for_new_schema().await;
    let store = std::sync::Arc::new(PostgresStore::connect(&url).await.unwrap());
    let mut subscription = store.clone().subscribe_all(1);

    let children = [appender(&url, "process-a"), appender(&url, "process-b")];
    let mut acknowledged: HashMap<String, u64> = HashMap::new();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success(), "appender failed");
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            acknowledged.insert(parts[1].to_string(), parts[2].parse().unwrap());
        }
    }
    let total = 2 * 4 * APPENDS_PER_WRITER;
    assert_eq!(acknowledged.len() as u64, total);

    let mut seen = Vec::new();
    while (seen.len() as u64) < total {
        let next = tokio::time::timeout(Duration::from_secs(20), subscription.next()).await;
        seen.push(
            next.expect("subscription stalled: a NOTIFY was missed")
                .unwrap()
                .unwrap(),
        );
    }
    let positions: Vec<u64> = seen.iter().map(|e| e.global_position).collect();
    assert_eq!(
        positions,
        (1..=total).collect::<Vec<_>>(),
        "positions not dense or not in order"
    );
    let ids: HashSet<String> = seen.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(ids.len() as u64, total, "an event was delivered twice");
    for e in &seen {
        assert_eq!(acknowledged.get(&e.event_id.to_string()), Some(&e.global_position));
    }
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &seen {
        let v = versions.entry(&e.stream).or_insert(0);
        *v += 1;
        assert_eq!(e.stream_version, *v);
    }
    assert_eq!(versions.len(), 8);
    let report = verify(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!((report.first_problem, report.events_checked), (None, total));
}
