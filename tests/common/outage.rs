//! The shape every fault test shares: a server under load (`Rig`), a fault, probes while it
//! lasts, then recovery and the proof that nothing acknowledged was lost.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::testkit::sim::VirtualDevice;

use super::ledger::Ledger;
use super::load::{self, Load, Target, REQUEST_LIMIT};
use super::proof::{self, Proof};
use super::server::{signed, Server, COMMAND};

const DEVICES: usize = 30;
const DEVICE_TASKS: usize = 6;

/// A server with an enrolled fleet under load.
pub struct Rig {
    pub server: Server,
    pub devices: Arc<Vec<Arc<VirtualDevice>>>,
    pub key: String,
    pub target: Arc<Target>,
    pub load: Load,
}

impl Rig {
    /// Starts a server on `data_dir` and `store_url` (its log appended to `log`), enrolls the
    /// fleet and starts the load; returns once the load has been served for a while.
    pub async fn start(data_dir: &Path, store_url: &str, log: &Path) -> Rig {
        let server = Server::start_logged(data_dir, store_url, log).await;
        let devices = load::fleet(&server, DEVICES).await;
        let key = server.api_key();
        let target = Arc::new(Target::default());
        target.set(Some(server.client()));
        let load = load::start(target.clone(), devices.clone(), key.clone(), DEVICE_TASKS);
        let started = Instant::now();
        while load.ledger.acknowledged() < 100 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the load is not being served"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Rig {
            server,
            devices,
            key,
            target,
            load,
        }
    }

    /// For `span`: a device's poll and /readyz answer 503 again and again, each within
    /// `within` (not after waiting on the store indefinitely). Returns how many probes were made.
    pub async fn probe_refused(&self, span: Duration, within: Duration) -> usize {
        let client = self.server.client();
        let device = &self.devices[0];
        let (idle, _) = device.idle().unwrap();
        let until = Instant::now() + span;
        let mut probes = 0;
        while Instant::now() < until {
            let asked = Instant::now();
            let poll = tokio::time::timeout(REQUEST_LIMIT, signed(&client, device, COMMAND, idle.clone()));
            let (status, body) = poll.await.expect("a device request hung during the fault");
            assert!(asked.elapsed() < within, "a refusal took {:?}", asked.elapsed());
            assert_eq!(
                status,
                503,
                "device request during the fault: {}",
                String::from_utf8_lossy(&body)
            );
            let ready = tokio::time::timeout(REQUEST_LIMIT, client.get("/readyz"))
                .await
                .expect("/readyz hung during the fault")
                .unwrap();
            let text = String::from_utf8_lossy(&ready.body);
            assert_eq!(ready.status.as_u16(), 503, "/readyz during the fault: {text}");
            assert!(asked.elapsed() < 2 * within, "/readyz took {:?}", asked.elapsed());
            probes += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        probes
    }

    /// Once the fault ended at `ended`: waits for the first 2xx and for /readyz, serves the
    /// load 3 s more, stops it, drains every queue, then checks that the only answers were
    /// `allowed` and that everything acknowledged is in the log and the read models.
    pub async fn recover(self, ended: Instant, store_url: &str, allowed: &[&str]) -> Recovery {
        let first_2xx = wait_success_after(&self.load.ledger, ended).await;
        self.server.wait_ready().await;
        let ready = ended.elapsed();
        let before = self.load.ledger.acknowledged();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let ledger = self.load.stop().await;
        assert!(ledger.acknowledged() > before + 50, "too little served after the fault");
        let under_load = ledger.outcomes();
        load::drain(&self.target, &ledger, &self.devices).await;
        ledger.assert_only(allowed);
        // The log first: a read-model failure then tells a lagging projection from a lost event.
        let proof = proof::check(store_url, &ledger).await;
        proof::check_read_models(&self.server.client(), &self.key, &ledger).await;
        Recovery {
            first_2xx,
            ready,
            under_load,
            acknowledged: ledger.acknowledged(),
            proof,
            server: self.server,
        }
    }
}

/// How long after `t` the first request got a 2xx (waits up to a minute for one).
pub async fn wait_success_after(ledger: &Ledger, t: Instant) -> Duration {
    loop {
        if let Some(s) = ledger.first_success_after(t) {
            return s - t;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "nothing was served after the fault ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What recovery took and what was proven.
pub struct Recovery {
    /// From the end of the fault to the first 2xx.
    pub first_2xx: Duration,
    /// From the end of the fault to /readyz 200.
    pub ready: Duration,
    /// Answers by kind while the load ran (before the drain).
    pub under_load: BTreeMap<String, u64>,
    /// Requests acknowledged in all (drain included).
    pub acknowledged: u64,
    pub proof: Proof,
    pub server: Server,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "answers under load {:?}; first 2xx {:.2} s after the fault ended, /readyz 200 after {:.2} s; \
             {} requests acknowledged ({} checked in the log, {} commands queued, all delivered and answered), \
             {} events, chain verified",
            self.under_load,
            self.first_2xx.as_secs_f64(),
            self.ready.as_secs_f64(),
            self.acknowledged,
            self.proof.checked,
            self.proof.commands,
            self.proof.events
        )
    }
}
