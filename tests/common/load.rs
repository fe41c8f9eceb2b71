//! Load for the fault tests: simulated devices that poll the command channel (Idle), answer
//! the commands they are handed (Acknowledged, sometimes NotNow first) and now and then send a
//! TokenUpdate, beside an admin that queues commands through the admin API. Requests go to
//! whichever server is current (`Target`): a restarted server listens on another port.
//!
//! Every answer is written in the `Ledger`: what got a 2xx is what the server acknowledged,
//! and `proof::check` later finds each of those in the log.

#![allow(dead_code)]

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use annal::testkit::sim::{encode, Client, VirtualDevice};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ledger::{Ledger, Outcome};
use super::server::{CHECKIN, COMMAND, TOPIC};

/// No request may take longer than this: past it the request counts as hung.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// The server the load goes to; None while there is none (between a kill and a restart).
#[derive(Default)]
pub struct Target(RwLock<Option<Client>>);

impl Target {
    pub fn set(&self, client: Option<Client>) {
        *self.0.write().unwrap() = client;
    }

    fn client(&self) -> Option<Client> {
        self.0.read().unwrap().clone()
    }
}

/// Sends one request to the current server, bounded by `REQUEST_LIMIT`, and records the outcome.
async fn send(
    target: &Target,
    ledger: &Ledger,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Outcome {
    let Some(client) = target.client() else {
        return ledger.record(Outcome::NoServer);
    };
    let request = client.put(path, content_type, headers, body);
    let outcome = match tokio::time::timeout(REQUEST_LIMIT, request).await {
        Err(_) => Outcome::Hung,
        Ok(Err(e)) => Outcome::Connection(e.to_string()),
        Ok(Ok(a)) if a.status.is_success() => Outcome::Ok(a.body.to_vec()),
        Ok(Ok(a)) => Outcome::Status(a.status.as_u16(), a.headers.contains_key("retry-after")),
    };
    ledger.record(outcome)
}

async fn device_request(target: &Target, ledger: &Ledger, d: &VirtualDevice, kind: &str, body: Vec<u8>) -> Outcome {
    let signature = d.sign(&body).expect("sign");
    send(target, ledger, "/mdm", kind, &[("Mdm-Signature", &signature)], body).await
}

/// One command-channel session: Idle, then answer each command handed over until the server
/// has nothing more for this session. Any failure ends the session (the device tries again
/// later, as a device does). Returns whether it ended with the empty answer, and whether any
/// command was delivered.
pub async fn session(target: &Target, ledger: &Ledger, d: &VirtualDevice, not_now_percent: u32) -> (bool, bool) {
    let (idle, _) = d.idle().expect("idle body");
    let mut reply = match device_request(target, ledger, d, COMMAND, idle).await {
        Outcome::Ok(body) => {
            ledger.idle(&d.udid);
            body
        }
        _ => return (false, false),
    };
    let mut seen = std::collections::HashSet::new();
    let mut delivered_any = false;
    while !reply.is_empty() {
        let (uuid, request_type, command) = annal::mdm::parse_command(&reply).expect("a command");
        let uuid = uuid.expect("CommandUUID");
        delivered_any = true;
        ledger.delivered(&d.udid, &uuid);
        if !seen.insert(uuid.clone()) {
            ledger.violation(format!("{uuid} delivered twice in one session of {}", d.udid));
        }
        let not_now = rand::rng().random_range(0..100) < not_now_percent;
        let (status, body) = if not_now {
            ("NotNow", d.result(&uuid, "NotNow", Default::default()))
        } else {
            let response = annal::testkit::sim::answers::answer(d, &request_type, &command).unwrap_or_default();
            ("Acknowledged", d.result(&uuid, "Acknowledged", response))
        };
        reply = match device_request(target, ledger, d, COMMAND, body).await {
            Outcome::Ok(body) => {
                ledger.result(&d.udid, &uuid, status);
                body
            }
            _ => return (false, delivered_any),
        };
    }
    (true, delivered_any)
}

/// A TokenUpdate check-in (a device whose push token changed).
pub async fn token_update(target: &Target, ledger: &Ledger, d: &VirtualDevice) {
    if let Outcome::Ok(_) = device_request(target, ledger, d, CHECKIN, d.token_update(TOPIC)).await {
        ledger.token_update(&d.udid);
    }
}

/// Queues a SecurityInfo command for `udid` through the admin API (without a push: no APNs
/// here); records its CommandUUID when the server took it.
pub async fn enqueue(target: &Target, ledger: &Ledger, api_key: &str, udid: &str) {
    let body = encode(annal::mdm::command::security_info());
    let auth = format!("Bearer {api_key}");
    let path = format!("/v1/enqueue/{udid}?nopush=1");
    if let Outcome::Ok(answer) = send(
        target,
        ledger,
        &path,
        "application/xml",
        &[("Authorization", &auth)],
        body,
    )
    .await
    {
        let json: serde_json::Value = serde_json::from_slice(&answer).expect("enqueue answer");
        let uuid = json["command_uuid"].as_str().expect("command_uuid");
        ledger.enqueued(udid, uuid);
    }
}

/// Load running in the background until `stop`.
pub struct Load {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub ledger: Arc<Ledger>,
    pub started: Instant,
}

/// Starts `device_tasks` tasks, each running sessions for its share of `devices`, and one
/// admin task queueing a command for a random device every few milliseconds.
pub fn start(target: Arc<Target>, devices: Arc<Vec<Arc<VirtualDevice>>>, api_key: String, device_tasks: usize) -> Load {
    let ledger = Arc::new(Ledger::default());
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    for t in 0..device_tasks {
        let (target, ledger, devices, stopped) = (target.clone(), ledger.clone(), devices.clone(), stopped.clone());
        tasks.push(tokio::spawn(async move {
            let mine: Vec<_> = devices.iter().skip(t).step_by(device_tasks).cloned().collect();
            let mut round = 0usize;
            while !*stopped.borrow() {
                let d = &mine[round % mine.len()];
                if round % 10 == 7 {
                    token_update(&target, &ledger, d).await;
                }
                let (clean, _) = session(&target, &ledger, d, 20).await;
                if !clean {
                    // The server is down or refusing: back off a little, as a device would.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                round += 1;
            }
        }));
    }
    let (ledger2, stopped2) = (ledger.clone(), stopped);
    tasks.push(tokio::spawn(async move {
        while !*stopped2.borrow() {
            let udid = devices[rand::rng().random_range(0..devices.len())].udid.clone();
            enqueue(&target, &ledger2, &api_key, &udid).await;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }));
    Load {
        stop,
        tasks,
        ledger,
        started: Instant::now(),
    }
}

impl Load {
    /// Stops the load after the requests under way and returns the ledger.
    pub async fn stop(self) -> Arc<Ledger> {
        self.stop.send_replace(true);
        for task in self.tasks {
            task.await.expect("load task");
        }
        self.ledger
    }
}

/// Runs sessions (without NotNow) for every device until each has nothing queued: every
/// command the admin got a 2xx for must then have been delivered and answered.
pub async fn drain(target: &Target, ledger: &Ledger, devices: &[Arc<VirtualDevice>]) {
    let each = devices.iter().map(|d| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match session(target, ledger, d, 0).await {
                (true, false) => return,
                (true, true) => {}
                (false, _) => panic!("{}: a request failed while draining the queues", d.udid),
            }
            assert!(Instant::now() < deadline, "{}: the queue never emptied", d.udid);
        }
    });
    futures::future::join_all(each).await;
}

/// Issues `n` device identities from the server's CA and enrolls each (Authenticate,
/// TokenUpdate).
pub async fn fleet(server: &super::server::Server, n: usize) -> Arc<Vec<Arc<VirtualDevice>>> {
    use futures::StreamExt;
    let devices = annal::testkit::sim::issue_devices(n, &server.ca()).unwrap();
    let client = server.client();
    futures::stream::iter(&devices)
        .for_each_concurrent(8, |d| super::server::enroll(&client, d))
        .await;
    Arc::new(devices)
}
