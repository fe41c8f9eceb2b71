//! Three `annal serve` nodes on one PostgreSQL log serve 1,000 simulated devices that hop
//! between them on every request. Commands are fanned out to every device through different
//! nodes, one of them while the devices are already working through the first two. Asserts: a
//! command is delivered at most once per session and in queue order within it, nothing is lost,
//! every answer is recorded in the order the device gave it, and the read models of all three
//! nodes agree once they have caught up with the log.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::pki::KeyKind;
use annal::store::{EventStore, PostgresStore};
use annal::testkit::sim::{Client, VirtualDevice};
use common::admin::{call, get};
use common::server::{signed, Server, CHECKIN, COMMAND, TOPIC};
use futures::stream::{self, StreamExt};
use hyper::Method;
use serde_json::{json, Value};

const NODES: usize = 3;
const DEVICES: usize = 1000;
/// Device sessions in flight at once across the three nodes.
const CONCURRENCY: usize = 48;

/// What one device saw: the commands handed to it in each session, and what it answered.
#[derive(Debug, Default)]
struct Seen {
    sessions: Vec<Vec<String>>,
    acknowledged: Vec<String>,
    not_now: Vec<String>,
}

/// Every fourth device answers NotNow the first time it is handed the command at its own
/// index (mod 3), so redelivery in a later session is exercised across nodes.
fn answers_not_now(device: usize, queue: &[String], command: &str, seen: &Seen) -> bool {
    device.is_multiple_of(4)
        && queue.iter().position(|c| c == command) == Some(device % 3)
        && !seen.not_now.iter().any(|c| c == command)
}

/// One command-channel session: Idle, then answer each command until the server has none.
/// Every request goes to the next node round the ring.
async fn session(nodes: &[Client], index: usize, d: &VirtualDevice, queue: &[String], seen: &mut Seen) {
    let (idle, _) = d.idle().expect("sign Idle");
    let mut hop = index + seen.sessions.len();
    let (status, mut body) = signed(&nodes[hop % NODES], d, COMMAND, idle).await;
    assert_eq!(status, 200, "Idle from device {index}");
    let mut delivered = Vec::new();
    while !body.is_empty() {
        let (uuid, _, _) = annal::mdm::parse_command(&body).expect("a command envelope");
        let uuid = uuid.expect("a CommandUUID");
        let status = if answers_not_now(index, queue, &uuid, seen) {
            seen.not_now.push(uuid.clone());
            "NotNow"
        } else {
            seen.acknowledged.push(uuid.clone());
            "Acknowledged"
        };
        delivered.push(uuid.clone());
        hop += 1;
        let answer = d.result(&uuid, status, Default::default());
        let (code, next) = signed(&nodes[hop % NODES], d, COMMAND, answer).await;
        assert_eq!(code, 200, "{status} from device {index}");
        body = next;
    }
    seen.sessions.push(delivered);
}

async fn fan_out(node: &Client, key: &str, udids: &[String], command: Value) -> String {
    let body = json!({"enrollments": udids, "command": command, "reason": "fleet test"});
    let (status, answer) = call(node, Method::POST, "/v1/commands", Some(key), Some(body)).await;
    assert_eq!(status, 200, "fan-out answered {answer}");
    answer["command_uuid"].as_str().expect("command_uuid").to_string()
}

/// Polls every node's /readyz until its read models have folded the log up to `head`.
async fn wait_caught_up(nodes: &[Client], head: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in nodes {
        loop {
            let ready = node.get("/readyz").await.expect("readyz");
            let v: Value = serde_json::from_slice(&ready.body).unwrap_or_default();
            if v["projection_position"].as_u64().is_some_and(|p| p >= head) {
                break;
            }
            assert!(Instant::now() < deadline, "a node's read models never caught up: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A node's whole device inventory, page by page.
async fn all_devices(node: &Client, key: &str) -> Vec<Value> {
    let mut devices = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/devices?limit=500&after={a}"),
            None => "/v1/devices?limit=500".to_string(),
        };
        let (status, page) = get(node, &path, key).await;
        assert_eq!(status, 200, "{page}");
        devices.extend(page["devices"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return devices,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_one_thousand_devices() {
    let started = Instant::now();
    let url = common::postgres_url_for_new_schema().await;
    let dir = tempfile::tempdir().unwrap();
    // The nodes share the data directory: one CA, one data key, one admin key.
    let mut servers = Vec::new();
    for _ in 0..NODES {
        servers.push(Server::start_with(dir.path(), &url, &[]).await);
    }
    let nodes: Arc<Vec<Client>> = Arc::new(servers.iter().map(Server::client).collect());
    let key = servers[0].api_key();
    let ca = servers[0].ca();
    let devices: Arc<Vec<VirtualDevice>> = Arc::new(
        (0..DEVICES)
            .map(|i| {
                let identity = ca
                    .issue_device_identity(&format!("dev-{i}"), KeyKind::EcdsaP256, 30)
                    .unwrap();
                VirtualDevice::new(i, identity)
            })
            .collect(),
    );
    let udids: Vec<String> = devices.iter().map(|d| d.udid.clone()).collect();

    // Authenticate on one node, TokenUpdate on the next.
    stream::iter(0..DEVICES)
        .for_each_concurrent(CONCURRENCY, |i| {
            let (nodes, devices) = (nodes.clone(), devices.clone());
            async move {
                let d = &devices[i];
                let auth = signed(&nodes[i % NODES], d, CHECKIN, d.authenticate(TOPIC)).await;
                assert_eq!(auth.0, 200, "Authenticate of device {i}");
                let token = signed(&nodes[(i + 1) % NODES], d, CHECKIN, d.token_update(TOPIC)).await;
                assert_eq!(token.0, 200, "TokenUpdate of device {i}");
            }
        })
        .await;

    // Two commands queued through two nodes before the devices start, a third through the
    // third node while they are working.
    let mut queue = vec![
        fan_out(&nodes[0], &key, &udids, json!({"RequestType": "SecurityInfo"})).await,
        fan_out(&nodes[1], &key, &udids, json!({"RequestType": "ProfileList"})).await,
    ];
    let third = {
        let (nodes, key, udids) = (nodes.clone(), key.clone(), udids.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fan_out(&nodes[2], &key, &udids, json!({"RequestType": "CertificateList"})).await
        })
    };
    // Devices learn the queue order as it grows; the third command's id is known once its
    // fan-out answered, which may be after some devices were handed it.
    let queue_now = Arc::new(std::sync::RwLock::new(queue.clone()));
    let runs = stream::iter(0..DEVICES)
        .map(|i| {
            let (nodes, devices, queue_now) = (nodes.clone(), devices.clone(), queue_now.clone());
            async move {
                let mut seen = Seen::default();
                let deadline = Instant::now() + Duration::from_secs(240);
                while seen.acknowledged.len() < 3 {
                    assert!(Instant::now() < deadline, "device {i} still waiting: {seen:?}");
                    let queue = queue_now.read().unwrap().clone();
                    session(&nodes, i, &devices[i], &queue, &mut seen).await;
                    if seen.sessions.last().is_some_and(Vec::is_empty) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                (i, seen)
            }
        })
        .buffer_unordered(CONCURRENCY);
    let publisher = {
        let queue_now = queue_now.clone();
        async move {
            let uuid = third.await.unwrap();
            queue_now.write().unwrap().push(uuid.clone());
            uuid
        }
    };
    let (mut results, third): (Vec<(usize, Seen)>, String) = tokio::join!(runs.collect::<Vec<_>>(), publisher);
    queue.push(third);
    results.sort_by_key(|(i, _)| *i);

    for (i, seen) in &results {
        for delivered in &seen.sessions {
            let unique: HashSet<&String> = delivered.iter().collect();
            assert_eq!(
                unique.len(),
                delivered.len(),
                "device {i}: a command twice in one session: {seen:?}"
            );
            let order: Vec<usize> = delivered
                .iter()
                .map(|c| queue.iter().position(|q| q == c).expect("only queued commands"))
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "device {i}: out of queue order: {seen:?}"
            );
        }
        let mut acknowledged = seen.acknowledged.clone();
        acknowledged.sort();
        let mut expected = queue.clone();
        expected.sort();
        assert_eq!(acknowledged, expected, "device {i}: every command acknowledged once");
        if seen.not_now.is_empty() {
            assert_eq!(seen.acknowledged, queue, "device {i}: FIFO without NotNow");
        }
        // The first two commands are known before the devices start, so these NotNows are
        // certain; the third's id may reach a device after the command did.
        if i.is_multiple_of(4) && i % 3 < 2 {
            assert_eq!(seen.not_now, vec![queue[i % 3].clone()], "device {i}");
            assert!(seen.sessions.len() >= 2, "device {i}: redelivered in a later session");
        }
    }

    // The log holds every answer, per device in the order given, and the chain verifies.
    let store = PostgresStore::connect(&url).await.unwrap();
    for (i, seen) in &results {
        let stream = format!("enrollment-{}", udids[*i]);
        let events = store.read_stream(&stream, 1, 10_000).await.unwrap();
        let answered = |kind: &str| -> Vec<String> {
            events
                .iter()
                .filter(|e| e.event_type == kind)
                .map(|e| {
                    let data: Value = serde_json::from_slice(&e.data).unwrap();
                    data["command_uuid"].as_str().unwrap().to_string()
                })
                .collect()
        };
        assert_eq!(answered("CommandAcknowledged"), seen.acknowledged, "device {i}");
        assert_eq!(answered("CommandNotNow"), seen.not_now, "device {i}");
    }
    let report = annal::integrity::verify(&store, None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None);

    // Every node's read models, caught up, tell the same story, and it is the true one.
    let head = store.head().await.unwrap().position;
    wait_caught_up(&nodes, head).await;
    let mut views = Vec::new();
    for node in nodes.iter() {
        let devices = all_devices(node, &key).await;
        let mut reports = Vec::new();
        for uuid in &queue {
            let (status, report) = get(node, &format!("/v1/commands/{uuid}"), &key).await;
            assert_eq!(status, 200, "{report}");
            reports.push(report);
        }
        views.push((devices, reports));
    }
    let (devices, reports) = &views[0];
    assert_eq!(devices.len(), DEVICES);
    assert!(devices
        .iter()
        .all(|d| d["state"] == "enrolled" && d["pending_commands"] == 0));
    for report in reports {
        assert_eq!(
            report["summary"],
            json!({"acknowledged": DEVICES}),
            "{}",
            report["summary"]
        );
    }
    for (n, view) in views.iter().enumerate().skip(1) {
        assert!(view == &views[0], "node {n}'s read models differ from node 0's");
    }
    let requests: usize = results
        .iter()
        .map(|(_, seen)| 2 + seen.sessions.iter().map(|s| 1 + s.len()).sum::<usize>())
        .sum();
    eprintln!(
        "{DEVICES} devices, {NODES} nodes: {requests} signed device requests, {head} events, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
