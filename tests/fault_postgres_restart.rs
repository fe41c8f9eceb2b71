//! Faults (issue 7, item 2): PostgreSQL crashes and comes back under load. `annal serve` runs on
//! a private cluster (the shared test server is not touched) while simulated devices poll,
//! answer commands and check in and an admin queues commands. The cluster is stopped with
//! `-m immediate` (a crash); while it is down, device requests and /readyz answer 503 with
//! no hang; once it is started again the same `annal serve` process serves again by itself,
//! and every request acknowledged before, during and after the outage is in the log.

mod common;

use std::time::{Duration, Instant};

use common::outage::Rig;
use common::pg_cluster::Cluster;

const OUTAGE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_and_restart_under_load() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(&dir.path().join("data"), &cluster.url(), &dir.path().join("annal.log")).await;

    cluster.crash();
    let probes = rig.probe_refused(OUTAGE).await;
    assert!(
        rig.load.ledger.count("503") > 0,
        "the load saw no 503 while PostgreSQL was down"
    );
    cluster.pg_ctl_start();
    // The process never went away: no connection errors, and every refusal is a 503.
    let recovery = rig.recover(Instant::now(), &cluster.url(), &["2xx", "503"]).await;
    eprintln!(
        "PostgreSQL crash (immediate stop) for {:.0} s under load: {probes} probes answered 503 (device \
         and /readyz); {recovery}",
        OUTAGE.as_secs_f64()
    );
}
