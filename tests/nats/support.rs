//! The NATS server the tests publish to (ANNAL_TEST_NATS_URL, default the local one with
//! JetStream), a stream name and subject prefix of each test's own, and readers of what landed.
//! NATS being unreachable fails the test: a skipped sink test would let CI pass without it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use annal::backoff::Backoff;
use annal::stream::nats::NatsConfig;
use annal_schemas::RecordedEvent;
use async_nats::jetstream::{self, message::StreamMessage};
use futures::StreamExt;
use serde_json::Value as Json;

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

pub fn nats_url() -> String {
    std::env::var("ANNAL_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_string())
}

pub async fn connect(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .unwrap_or_else(|e| {
            panic!("a NATS server with JetStream is required for these tests and could not be reached at {url}: {e}")
        });
    let context = jetstream::new(client.clone());
    (client, context)
}

/// A stream and subject prefix no other test (or run) uses.
pub struct Names {
    pub stream: String,
    pub prefix: String,
}

impl Names {
    pub fn new() -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        Self {
            stream: format!("ANNAL_TEST_{id}"),
            prefix: format!("annaltest.{id}"),
        }
    }
}

/// A sink configuration for `url` with quick retries.
pub fn sink_config(url: &str, names: &Names) -> NatsConfig {
    NatsConfig {
        stream: names.stream.clone(),
        subject_prefix: names.prefix.clone(),
        source: "annal://test".into(),
        ack_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        ..NatsConfig::new(url)
    }
}

/// How many messages the stream holds (0 while it does not exist).
pub async fn message_count(js: &jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

/// Waits until the stream holds at least `n` messages.
pub async fn wait_for_messages(js: &jetstream::Context, stream: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = message_count(js, stream).await;
        if count >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the stream holds {count} of {n} messages");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message of the stream, in order.
pub async fn read_stream(js: &jetstream::Context, name: &str) -> Vec<StreamMessage> {
    let mut stream = js.get_stream(name).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        out.push(stream.get_raw_message(seq).await.unwrap());
    }
    out
}

pub async fn delete_stream(js: &jetstream::Context, name: &str) {
    let _ = js.delete_stream(name).await;
}

/// Counts every publish on `<prefix>.>` as the server relays it, before JetStream deduplicates:
/// redeliveries show here and not in the stream.
pub struct Wiretap {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Wiretap {
    pub async fn start(client: &async_nats::Client, prefix: &str) -> Self {
        let mut sub = client.subscribe(format!("{prefix}.>")).await.unwrap();
        client.flush().await.unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                into.lock().unwrap().push(id);
            }
        });
        Self { seen, task }
    }

    /// The message ids seen so far, in arrival order.
    pub fn ids(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Wiretap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks that `message` is `event` as a CloudEvent on the right subject; returns the body.
pub fn assert_is_cloud_event(message: &StreamMessage, event: &RecordedEvent, prefix: &str) -> Json {
    let id = event.event_id.to_string();
    assert_eq!(message.subject.as_str(), format!("{prefix}.{}", event.event_type));
    let header = |name: &str| message.headers.get(name).map(|v| v.to_string());
    assert_eq!(header("Nats-Msg-Id").as_deref(), Some(id.as_str()));
    assert_eq!(
        header("Content-Type").as_deref(),
        Some("application/cloudevents+json; charset=utf-8")
    );
    let body: Json = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["id"], id.as_str());
    assert!(body["source"].as_str().unwrap().starts_with("annal://"));
    assert_eq!(
        body["type"],
        format!("dev.annal.{}.v{}", event.event_type, event.schema_version).as_str()
    );
    assert_eq!(body["subject"], event.stream.as_str());
    assert_eq!(body["datacontenttype"], "application/json");
    let time = chrono::DateTime::parse_from_rfc3339(body["time"].as_str().unwrap()).unwrap();
    assert_eq!(time, event.recorded_at);
    assert_eq!(body["globalposition"], event.global_position.to_string().as_str());
    assert_eq!(body["streamversion"], event.stream_version.to_string().as_str());
    assert_eq!(body["actor"], event.actor.as_str());
    assert_eq!(body["hash"], hex::encode(event.hash).as_str());
    let mut data: Json = serde_json::from_slice(&event.data).unwrap();
    annal::stream::redact::redact_data(&mut data);
    assert_eq!(body["data"], data, "the event's data, redacted");
    for (name, _) in body.as_object().unwrap() {
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "attribute {name}"
        );
    }
    body
}

/// No message body holds any of `secrets`.
pub fn assert_no_secret(messages: &[StreamMessage], secrets: &[String]) {
    for message in messages {
        let text = String::from_utf8_lossy(&message.payload);
        for secret in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in {}: {text}",
                message.subject
            );
        }
    }
}

/// A nats-server of the test's own on `port`, with JetStream storing under `dir`.
pub fn start_server(port: u16, dir: &Path) -> Child {
    let binary = std::env::var("ANNAL_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_string());
    Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("this test runs its own {binary} (ANNAL_TEST_NATS_SERVER) and could not: {e}"))
}
