//! Crash safety (issue: event log foundation, item 9): a child process appends from 8 tasks and
//! prints every event the store acknowledged; the test kills it with SIGKILL at random moments,
//! again and again, on the same log. Afterwards every acknowledged event must be there, at the
//! position it was acknowledged with, and the hash chain must verify.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use annal::integrity::verify;
use annal::store::{open, StoreUrl};
use rand::Rng;

const KILLS: usize = 25;

fn run_and_kill(url: &str, acknowledged: &mut HashMap<String, u64>, rng: &mut impl Rng) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["debug", "append-loop", "--writers", "8", "--batch", "2", "--store", url])
        .env("ANNAL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn annal");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // A line cut by the kill has no newline: BufRead yields it without one, and it is
        // dropped below, since the child had not finished reporting it.
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.ends_with('\n') {
                let _ = lines_tx.send(line.trim_end().to_string());
            }
            line.clear();
        }
    });
    // Wait for the first acknowledged append, then let it run a random while.
    let first = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the appender acknowledged nothing");
    let mut received = vec![first];
    let deadline = Instant::now() + Duration::from_millis(rng.random_range(0..250));
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(5)) {
            received.push(line);
        }
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    child.wait().expect("reap");
    reader.join().expect("reader thread");
    received.extend(lines.try_iter());
    for line in received {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next().and_then(|p| p.parse().ok())) {
            (Some("committed"), Some(id), Some(position)) => {
                acknowledged.insert(id.to_string(), position);
            }
            _ => panic!("unexpected output from the appender: {line:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let mut acknowledged = HashMap::new();
    let mut rng = rand::rng();
    for _ in 0..KILLS {
        run_and_kill(&url, &mut acknowledged, &mut rng);
    }
    assert!(
        acknowledged.len() > KILLS,
        "the appender acknowledged too little to prove anything"
    );

    let store = open(&url.parse::<StoreUrl>().unwrap()).await.unwrap();
    let mut stored = HashMap::new();
    let mut next = 1;
    loop {
        let page = store.read_all(next, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        stored.extend(page.into_iter().map(|e| (e.event_id.to_string(), e.global_position)));
    }
    for (id, position) in &acknowledged {
        assert_eq!(stored.get(id), Some(position), "acknowledged event {id} lost or moved");
    }
    let report = verify(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None);
    assert_eq!(report.events_checked as usize, stored.len());
    eprintln!(
        "{} kills, {} acknowledged events, {} stored",
        KILLS,
        acknowledged.len(),
        stored.len()
    );
}
