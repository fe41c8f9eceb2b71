//! Two `annal serve` processes on one PostgreSQL log serve one device that alternates between
//! them: every command is delivered once, in FIFO order, and two simultaneous requests on
//! different nodes are never handed two different "next" commands.

mod common;

use annal::pki::KeyKind;
use annal::store::EventStore;
use annal::store::PostgresStore;
use annal::testkit::sim::{encode, Client, VirtualDevice};
use common::server::{signed as send, Server, CHECKIN, COMMAND};

fn command_uuid(body: &[u8]) -> String {
    annal::mdm::parse_command(body).unwrap().0.unwrap()
}

async fn enqueue(client: &Client, key: &str, udid: &str) -> String {
    let body = encode(annal::mdm::command::security_info());
    let a = client
        .put(
            &format!("/v1/enqueue/{udid}"),
            "application/xml",
            &[("Authorization", &format!("Bearer {key}"))],
            body,
        )
        .await
        .unwrap();
    assert_eq!(a.status.as_u16(), 200);
    let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    json["command_uuid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_alternating_between_two_nodes() {
    let url = common::postgres_url_for_new_schema().await;
    let dir = tempfile::tempdir().unwrap();
    // Both nodes share the data directory: one CA, one data key, one admin key.
    let a = Server::start_with(dir.path(), &url, &[]).await;
    let b = Server::start_with(dir.path(), &url, &[]).await;
    let (ca, key) = (a.client(), a.api_key());
    let cb = b.client();
    let d = VirtualDevice::new(
        1,
        a.ca().issue_device_identity("dev-1", KeyKind::EcdsaP256, 30).unwrap(),
    );
    assert_eq!(send(&ca, &d, CHECKIN, d.authenticate("t")).await.0, 200);
    assert_eq!(send(&cb, &d, CHECKIN, d.token_update("t")).await.0, 200);

    let mut queued = Vec::new();
    for i in 0..10 {
        queued.push(enqueue(if i % 2 == 0 { &ca } else { &cb }, &key, &d.udid).await);
    }
    let (idle, _) = d.idle().unwrap();
    let mut delivered = Vec::new();
    let (status, mut body) = send(&ca, &d, COMMAND, idle.clone()).await;
    assert_eq!(status, 200);
    let mut turn = 1;
    while !body.is_empty() {
        let uuid = command_uuid(&body);
        delivered.push(uuid.clone());
        let answer = d.result(&uuid, "Acknowledged", Default::default());
        let node = if turn % 2 == 0 { &ca } else { &cb };
        let (status, next) = send(node, &d, COMMAND, answer).await;
        assert_eq!(status, 200);
        body = next;
        turn += 1;
    }
    assert_eq!(
        delivered, queued,
        "every command once, in FIFO order, across both nodes"
    );

    // The same moment on both nodes: both answers name the same next command.
    let next = enqueue(&ca, &key, &d.udid).await;
    enqueue(&cb, &key, &d.udid).await;
    let (ra, rb) = tokio::join!(
        send(&ca, &d, COMMAND, idle.clone()),
        send(&cb, &d, COMMAND, idle.clone())
    );
    assert_eq!((ra.0, rb.0), (200, 200));
    assert_eq!(command_uuid(&ra.1), next);
    assert_eq!(
        command_uuid(&rb.1),
        next,
        "two nodes handed out two different next commands"
    );

    let store = PostgresStore::connect(&url).await.unwrap();
    let events = store
        .read_stream(&format!("enrollment-{}", d.udid), 1, 1000)
        .await
        .unwrap();
    let acknowledged = events.iter().filter(|e| e.event_type == "CommandAcknowledged").count();
    assert_eq!(acknowledged, 10);
    let report = annal::integrity::verify(&store, None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None);
}
