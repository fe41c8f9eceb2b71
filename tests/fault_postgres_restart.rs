//! Faults (issue 7, item 2): PostgreSQL crashes and comes back under load. `annal serve` runs on
//! a private cluster (the shared test server is not touched) while simulated devices poll,
//! answer commands and check in and an admin queues commands. The cluster is stopped with
//! `-m immediate` (a crash); while it is down, device requests and /readyz answer 503 with
//! no hang; once it is started again the same `annal serve` process serves again by itself,
//! and every request acknowledged before, during and after the outage is in the log. The
//! same holds when the database freezes instead (SIGSTOP), with every request bounded.

mod common;

use std::time::{Duration, Instant};

use common::outage::Rig;
use common::pg_cluster::Cluster;

const OUTAGE: Duration = Duration::from_secs(5);
const FROZEN: Duration = Duration::from_secs(8);

/// Advisory locks held in the cluster (the read-model lease is one).
async fn advisory_locks(url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Runs `annal serve` on a private cluster under load, applies `fault` to the cluster, probes
/// for `span` (each refusal within `within`), ends the fault with `end` and checks recovery.
async fn fault_under_load(
    fault: fn(&Cluster),
    end: fn(&Cluster),
    span: Duration,
    within: Duration,
) -> (usize, common::outage::Recovery) {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(&dir.path().join("data"), &cluster.url(), &dir.path().join("annal.log")).await;
    fault(&cluster);
    let probes = rig.probe_refused(span, within).await;
    assert!(rig.load.ledger.count("503") > 0, "the load saw no 503 during the fault");
    end(&cluster);
    // The process never went away: no connection errors, and every refusal is a 503.
    let recovery = rig.recover(Instant::now(), &cluster.url(), &["2xx", "503"]).await;
    // The read-model lease is a session lock, gone with a crash: the node must take it again,
    // or a second node would take it too and both would write the read models.
    assert_eq!(
        advisory_locks(&cluster.url()).await,
        1,
        "the read-model lease is not held"
    );
    (probes, recovery)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_and_restart_under_load() {
    let (probes, recovery) =
        fault_under_load(Cluster::crash, Cluster::pg_ctl_start, OUTAGE, Duration::from_secs(3)).await;
    eprintln!(
        "PostgreSQL crash (immediate stop) for {:.0} s under load: {probes} probes answered 503 (device \
         and /readyz); {recovery}",
        OUTAGE.as_secs_f64()
    );
}

/// A PostgreSQL that stops answering without closing its connections (SIGSTOP: a hung server,
/// a dropped network link) must not hang requests: each fails with 503 after the store's
/// operation timeout (5 s), and service resumes by itself once the database answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_postgres_under_load_bounds_every_request() {
    let (probes, recovery) = fault_under_load(Cluster::freeze, Cluster::thaw, FROZEN, Duration::from_secs(8)).await;
    eprintln!(
        "PostgreSQL frozen (SIGSTOP) for {:.0} s under load: {probes} probes answered 503 (device and \
         /readyz) within 8 s each; {recovery}",
        FROZEN.as_secs_f64()
    );
}
