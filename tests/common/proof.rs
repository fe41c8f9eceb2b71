//! The fault tests' verdict: every request the server acknowledged is in the log, the hash
//! chain verifies, and every command the admin API took was delivered and answered (read
//! from the log directly, and from the admin API's read models, which must have caught up).

#![allow(dead_code)]

use std::collections::HashMap;

use annal::store::{open, EventStore, StoreUrl};
use annal::testkit::sim::Client;
use serde_json::Value;

use super::ledger::Ledger;

/// What the log held for the acknowledged requests.
#[derive(Debug, Default)]
pub struct Proof {
    pub events: u64,
    pub commands: usize,
    pub checked: u64,
}

/// Counts, per event type and per CommandUUID, what one enrollment's stream holds.
#[derive(Default)]
struct Stream {
    types: HashMap<String, u64>,
    /// (event type, CommandUUID) → count.
    commands: HashMap<(String, String), u64>,
}

async fn read_stream(store: &dyn EventStore, udid: &str) -> Stream {
    let mut stream = Stream::default();
    let mut from = 1;
    loop {
        let page = store
            .read_stream(&format!("enrollment-{udid}"), from, 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        for e in page {
            *stream.types.entry(e.event_type.clone()).or_default() += 1;
            let data: Value = serde_json::from_slice(&e.data).unwrap();
            if let Some(uuid) = data["command_uuid"].as_str() {
                *stream
                    .commands
                    .entry((e.event_type.clone(), uuid.to_string()))
                    .or_default() += 1;
            }
        }
    }
    stream
}

fn at_least(stream: &Stream, event_type: &str, uuid: &str, n: u64, udid: &str) {
    let have = stream
        .commands
        .get(&(event_type.to_string(), uuid.to_string()))
        .copied()
        .unwrap_or(0);
    assert!(
        have >= n,
        "{udid}: {n} × {event_type} {uuid} acknowledged, {have} in the log"
    );
}

/// Checks the ledger against the log at `store_url` (after `load::drain`).
pub async fn check(store_url: &str, ledger: &Ledger) -> Proof {
    let store = open(&store_url.parse::<StoreUrl>().unwrap()).await.unwrap();
    let mut proof = Proof::default();
    for (udid, acked) in ledger.devices() {
        let stream = read_stream(store.as_ref(), &udid).await;
        let count = |t: &str| stream.types.get(t).copied().unwrap_or(0);
        assert!(
            count("Idle") >= acked.idles,
            "{udid}: {} Idle acknowledged, {} in the log",
            acked.idles,
            count("Idle")
        );
        assert!(count("TokenUpdate") >= acked.token_updates, "{udid}: TokenUpdates lost");
        for (uuid, n) in &acked.deliveries {
            at_least(&stream, "CommandDelivered", uuid, *n, &udid);
        }
        for ((uuid, status), n) in &acked.results {
            let event_type = if status == "NotNow" {
                "CommandNotNow"
            } else {
                "CommandAcknowledged"
            };
            at_least(&stream, event_type, uuid, *n, &udid);
        }
        for uuid in &acked.enqueued {
            at_least(&stream, "CommandQueued", uuid, 1, &udid);
            // No queued command is lost: the drain answered every one.
            at_least(&stream, "CommandAcknowledged", uuid, 1, &udid);
        }
        proof.commands += acked.enqueued.len();
        proof.checked += acked.idles + acked.token_updates;
        proof.checked += acked.deliveries.values().sum::<u64>() + acked.results.values().sum::<u64>();
        proof.checked += acked.enqueued.len() as u64;
    }
    let report = annal::integrity::verify(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None, "the hash chain does not verify");
    proof.events = report.events_checked;
    proof
}

/// Every command the admin API took shows as acknowledged in its read models: the projection
/// followed the log through the fault. A query waits only 2 s for the projection to reach the
/// head, and after a long outage the projection resubscribes with backoff (up to 10 s): wait
/// for /readyz to report no lag first (bounded), so what is checked is that the read models
/// followed the log, not how fast.
pub async fn check_read_models(client: &Client, api_key: &str, ledger: &Ledger) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Ok(answer) = client.get("/readyz").await {
            last = String::from_utf8_lossy(&answer.body).into_owned();
            let ready: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            if ready["projection_lag"] == 0 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the read models did not catch up with the log within 60 s: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for (udid, acked) in ledger.devices() {
        for uuid in &acked.enqueued {
            let (status, body) = super::admin::get(client, &format!("/v1/commands/{uuid}"), api_key).await;
            assert_eq!(status, 200, "{udid}: command {uuid}: {body}");
            assert_eq!(body["summary"]["acknowledged"], 1, "{udid}: command {uuid}: {body}");
        }
    }
}
