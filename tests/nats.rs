//! The NATS JetStream sink against a real nats-server: events appended to a SQLite log arrive
//! once each, in order, as CloudEvents without secrets; a crash, a lost checkpoint and a NATS
//! outage lose nothing, and JetStream drops what is published again.

mod common;
#[allow(dead_code)]
#[path = "webhooks/fixtures.rs"]
mod fixtures;
#[path = "nats/support.rs"]
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use annal::readmodel::{ReadModelDb, SqliteReadModels};
use annal::stream::nats::{self, checkpoint_name, NatsConfig};
use annal_schemas::RecordedEvent;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use common::server::free_port;
use fixtures::*;
use support::*;

async fn all_events(log: &Log) -> Vec<RecordedEvent> {
    log.store.read_all(1, 100_000).await.unwrap()
}

fn start(log: &Log, config: NatsConfig) -> annal::stream::sink::SinkHandle {
    nats::spawn(log.store.clone(), log.readmodels.clone(), config).unwrap()
}

async fn checkpoint(log: &Log, names: &Names) -> Option<u64> {
    let name = checkpoint_name(&names.stream, &names.prefix);
    log.readmodels.load_checkpoint(&name).await.unwrap()
}

/// The stream holds exactly the log's events, once each and in log order, each a CloudEvent.
async fn assert_stream_is_the_log(js: &async_nats::jetstream::Context, log: &Log, names: &Names) {
    let events = all_events(log).await;
    let messages = read_stream(js, &names.stream).await;
    assert_eq!(messages.len(), events.len(), "one message per event, no duplicate");
    for (message, event) in messages.iter().zip(&events) {
        assert_is_cloud_event(message, event, &names.prefix);
    }
}

/// The shared NATS server (its URL, a client, JetStream), a stream and prefix of this test's
/// own, and an empty log.
async fn setup() -> (String, async_nats::Client, async_nats::jetstream::Context, Names, Log) {
    let url = nats_url();
    let (client, js) = connect(&url).await;
    (url, client, js, Names::new(), log())
}

#[tokio::test]
async fn every_event_arrives_once_as_a_cloud_event_without_secrets() {
    let (url, client, js, names, log) = setup().await;
    enroll(&log, "UDID-A").await;
    log.append("UDID-A", vec![set_bootstrap_token(&log.key, "UDID-A")])
        .await;
    // A plain (unsealed) raw that carries an UnlockToken anyway.
    let unlock = format!("<key>UnlockToken</key>\n<data>{}</data>\n", B64.encode(UNLOCK_TOKEN));
    log.append("UDID-A", vec![acknowledged("UDID-A", "cmd-unlock", &unlock)])
        .await;
    let wiretap = Wiretap::start(&client, &names.prefix).await;
    let handle = start(&log, sink_config(&url, &names));

    let first = all_events(&log).await.len() as u64;
    wait_for_messages(&js, &names.stream, first).await;
    // Live appends after the catch-up arrive too.
    enroll(&log, "UDID-B").await;
    let events = all_events(&log).await;
    wait_for_messages(&js, &names.stream, events.len() as u64).await;
    handle.shutdown().await;

    assert_stream_is_the_log(&js, &log, &names).await;
    let messages = read_stream(&js, &names.stream).await;
    let token_update = messages
        .iter()
        .find(|m| m.subject.as_str().ends_with(".TokenUpdate"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&token_update.payload).unwrap();
    assert_eq!(body["type"], "dev.annal.TokenUpdate.v1");
    assert_eq!(body["source"], "annal://test");
    assert_eq!(body["data"]["token_hex"], "0a0b0c0d");
    assert_eq!(body["data"]["push_magic"], "<redacted>");
    assert_eq!(body["data"]["unlock_token"], "<redacted>");
    assert_eq!(body["data"]["device"]["udid"], "UDID-A");

    // No secret in any form: as the device sent it, base64, or sealed.
    let mut secrets = vec![
        PUSH_MAGIC.to_string(),
        String::from_utf8(UNLOCK_TOKEN.to_vec()).unwrap(),
        B64.encode(UNLOCK_TOKEN),
        String::from_utf8(BOOTSTRAP_TOKEN.to_vec()).unwrap(),
        B64.encode(BOOTSTRAP_TOKEN),
    ];
    for event in &events {
        let data: serde_json::Value = serde_json::from_slice(&event.data).unwrap();
        collect_ciphertexts(&data, &mut secrets);
    }
    assert!(secrets.len() > 5, "the log holds sealed values to look for");
    assert_no_secret(&messages, &secrets);

    // Published once each (nothing failed here), and the checkpoint covers them all.
    assert_eq!(
        wiretap_settled(&wiretap, events.len() as u64).await,
        events.len() as u64
    );
    let head = log.store.head().await.unwrap().position;
    assert_eq!(
        checkpoint(&log, &names).await,
        Some(head),
        "shutdown saves the checkpoint"
    );
    delete_stream(&js, &names.stream).await;
}

fn collect_ciphertexts(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(c) = map.get("ciphertext").and_then(|c| c.as_str()) {
                out.push(c.to_string());
            }
            map.values().for_each(|v| collect_ciphertexts(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ciphertexts(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn after_a_crash_or_a_lost_checkpoint_jetstream_drops_what_is_published_again() {
    let (url, client, js, names, log) = setup().await;
    traffic(&log, 10, 100).await; // 2,000 events
    let total = all_events(&log).await.len() as u64;
    let wiretap = Wiretap::start(&client, &names.prefix).await;
    let checkpoint_every = 100;
    let crash_config = NatsConfig {
        checkpoint_every,
        checkpoint_interval: Duration::from_secs(3600),
        ..sink_config(&url, &names)
    };
    let (store, readmodels, stream_name, watcher) = (
        log.store.clone(),
        log.readmodels.clone(),
        names.stream.clone(),
        js.clone(),
    );
    let test_runtime = tokio::runtime::Handle::current();
    crash_mid_stream(
        move || nats::spawn(store, readmodels, crash_config).unwrap(),
        move || test_runtime.block_on(message_count(&watcher, &stream_name)) >= 350,
    )
    .await;

    // A publish in flight when the sink died may still land.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stored = message_count(&js, &names.stream).await;
    let saved = checkpoint(&log, &names).await.unwrap_or(0);
    assert!(
        saved >= checkpoint_every,
        "a batch checkpoint was saved before the crash"
    );
    assert!(
        saved <= stored && stored < total,
        "crashed mid-stream: {saved} ≤ {stored} < {total}"
    );
    let published_before = wiretap.ids().len() as u64;

    // The restart publishes again from the checkpoint: what was past it is a duplicate.
    let handle = start(&log, sink_config(&url, &names));
    wait_for_messages(&js, &names.stream, total).await;
    handle.shutdown().await;
    assert_stream_is_the_log(&js, &log, &names).await;
    let published = wiretap_settled(&wiretap, published_before + (total - saved)).await;
    assert_eq!(
        published,
        published_before + (total - saved),
        "resumed right after the checkpoint"
    );
    let ids = wiretap.ids();
    let first_after_restart = &ids[published_before as usize];
    let positions = log.positions().await;
    assert_eq!(positions[first_after_restart], saved + 1, "no gap, nothing skipped");

    // A node whose read-model database is lost publishes the whole log again: the stream still
    // holds each event once.
    let fresh = tempfile::tempdir().unwrap();
    let readmodels = std::sync::Arc::new(SqliteReadModels::open(&fresh.path().join("rm.db")).unwrap());
    let handle = nats::spawn(log.store.clone(), readmodels.clone(), sink_config(&url, &names)).unwrap();
    let name = checkpoint_name(&names.stream, &names.prefix);
    let deadline = Instant::now() + Duration::from_secs(60);
    while wiretap.ids().len() < (published + total) as usize {
        assert!(Instant::now() < deadline, "the replay did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.shutdown().await;
    assert_eq!(readmodels.load_checkpoint(&name).await.unwrap(), Some(total));
    assert_eq!(
        message_count(&js, &names.stream).await,
        total,
        "JetStream dropped the replay"
    );
    let distinct: HashSet<String> = wiretap.ids().into_iter().collect();
    assert_eq!(distinct.len() as u64, total);
    delete_stream(&js, &names.stream).await;
}

/// The wiretap's count once it reached `expected` and nothing more came for a moment.
async fn wiretap_settled(wiretap: &Wiretap, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    while (wiretap.ids().len() as u64) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    wiretap.ids().len() as u64
}

#[tokio::test]
async fn while_nats_is_down_the_sink_waits_and_then_delivers_everything() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let names = Names::new();
    let log = log();
    enroll(&log, "UDID-D").await;
    let handle = start(&log, sink_config(&url, &names));

    // Nothing listens: nothing is delivered and the checkpoint does not move.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(checkpoint(&log, &names).await, None);

    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(port, dir.path());
    let (_client, js) = connect_when_up(&url).await;
    let first = all_events(&log).await.len() as u64;
    wait_for_messages(&js, &names.stream, first).await;

    // The server goes away mid-stream and comes back on the same storage.
    server.kill().unwrap();
    server.wait().unwrap();
    enroll(&log, "UDID-E").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut server = start_server(port, dir.path());
    let (_client, js) = connect_when_up(&url).await;
    let total = all_events(&log).await.len() as u64;
    wait_for_messages(&js, &names.stream, total).await;
    handle.shutdown().await;
    assert_stream_is_the_log(&js, &log, &names).await;
    assert_eq!(checkpoint(&log, &names).await, Some(total));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Connects to a server that was just started, waiting for it to listen.
async fn connect_when_up(url: &str) -> (async_nats::Client, async_nats::jetstream::Context) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(client) = async_nats::connect(url).await {
            return (client.clone(), async_nats::jetstream::new(client));
        }
        assert!(
            Instant::now() < deadline,
            "the test's nats-server did not start at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_bad_configuration_is_refused_before_anything_runs() {
    let log = log();
    let names = Names::new();
    for bad in [
        NatsConfig {
            subject_prefix: "annal.>".into(),
            ..sink_config(DEFAULT_NATS_URL, &names)
        },
        NatsConfig {
            stream: "has.dot".into(),
            ..sink_config(DEFAULT_NATS_URL, &names)
        },
        NatsConfig {
            credentials: Some("not a creds file".into()),
            ..sink_config(DEFAULT_NATS_URL, &names)
        },
    ] {
        assert!(nats::spawn(log.store.clone(), log.readmodels.clone(), bad).is_err());
    }
}
