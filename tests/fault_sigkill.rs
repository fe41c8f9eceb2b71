//! Faults (issue 7, item 2): SIGKILL of `annal serve` under load, again and again, on the same
//! log. Simulated devices poll, answer commands and check in while an admin queues commands;
//! the server is killed at random moments and started again on the same data directory.
//! Afterwards every request that was acknowledged (a 2xx) is in the log, the hash chain
//! verifies, no command was handed over twice in one session, and every queued command is
//! delivered and answered once the devices drain their queues.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::outage::{wait_success_after, Rig};
use common::server::Server;
use rand::Rng;

async fn kill_under_load(data_dir: &Path, store_url: &str, kills: usize) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut rig = Rig::start(data_dir, store_url, log.path()).await;
    let mut restarts = Vec::new();
    for _ in 0..kills {
        // Kill only a server that is under load: it has acknowledged requests since its start.
        let before = rig.load.ledger.acknowledged();
        let deadline = Instant::now() + Duration::from_secs(30);
        while rig.load.ledger.acknowledged() < before + 20 {
            assert!(Instant::now() < deadline, "the restarted server acknowledges nothing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wait = rand::rng().random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        rig.server.kill();
        rig.target.set(None);
        let killed = Instant::now();
        rig.server = Server::start_logged(data_dir, store_url, log.path()).await;
        rig.target.set(Some(rig.server.client()));
        // Answers read after this come from the new server (the old one's are in by now).
        let serving = Instant::now();
        restarts.push(serving - killed + wait_success_after(&rig.load.ledger, serving).await);
    }
    // A killed server drops its connections; nothing else may go wrong.
    let recovery = rig
        .recover(Instant::now(), store_url, &["2xx", "connection", "no server"])
        .await;
    let worst = restarts.iter().max().copied().unwrap_or_default();
    let mean = restarts.iter().map(Duration::as_secs_f64).sum::<f64>() / restarts.len() as f64;
    eprintln!(
        "{store_url}: {kills} kills survived under load; kill → first 2xx from the restarted server: mean \
         {mean:.2} s, worst {:.2} s; {recovery}",
        worst.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_request_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("annal.db").display());
    kill_under_load(dir.path(), &url, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_request_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::postgres_url_for_new_schema().await;
    kill_under_load(dir.path(), &url, 4).await;
}
