//! `POST /v1/escrowkeyunlock` (NanoMDM's route) against a real server and the local mock of
//! Apple's Activation Lock endpoint: the form is split as Apple wants it and sent over mutual TLS
//! with the push certificate; Apple's answer is relayed; who asked, for which device and what
//! Apple answered are in the log and the audit trail, and the bypass code is nowhere in the log.

mod common;

use annal::testkit::sim::Client;
use base64::Engine as _;
use hyper::Method;
use serde_json::Value;

use common::admin::{create_key, get};
use common::push::{install, mock, push_cert, serve_args};
use common::server::{Server, TOPIC};

const CODE: &str = "3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4";

fn form(topic: &str) -> String {
    format!(
        "topic={topic}&serial=C8TJ500QF1MN&productType=iPad4%2C1&escrowKey={CODE}&orgName=Acme+Inc&guid=it%40acme.example"
    )
}

/// POSTs `body` as NanoMDM's tools do (HTTP Basic, the key as password).
async fn unlock(client: &Client, key: &str, body: String) -> (u16, String) {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{key}"))
    );
    let answer = client
        .send(
            Method::POST,
            "/v1/escrowkeyunlock",
            Some("application/x-www-form-urlencoded"),
            &[("Authorization", &basic)],
            body.into_bytes(),
        )
        .await
        .unwrap();
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_lock_bypass_reaches_apple_with_the_push_certificate_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (apple, apple_ca) = mock(dir.path()).await;
    let mut args = serve_args(&apple, &apple_ca);
    args.extend(["--escrow-key-unlock-url".to_string(), apple.escrow_key_unlock_url()]);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (client, admin) = (server.client(), server.api_key());

    // No push certificate yet: nothing can authenticate to Apple.
    let (status, body) = unlock(&client, &admin, form(TOPIC)).await;
    assert_eq!(status, 503, "{body}");
    let (cert, key) = push_cert(dir.path(), "push", TOPIC, 365);
    assert!(install(&server, &cert, &key, &[]).status.success());
    let pair = annal::push::PushCertificate::from_pem(
        &std::fs::read_to_string(&cert).unwrap(),
        &std::fs::read_to_string(&key).unwrap(),
    )
    .unwrap();
    let fingerprint = pair.info.fingerprint_sha256;

    // Refusals: another topic, a missing field, an operator key; none reaches Apple.
    let (status, body) = unlock(&client, &admin, form("com.apple.mgmt.other")).await;
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(error["error"].as_str().unwrap().contains("topic"), "{body}");
    let (status, body) = unlock(&client, &admin, form(TOPIC).replace("&guid=it%40acme.example", "")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("guid"), "{body}");
    let operator = create_key(&server, "olga", "operator");
    let (status, body) = unlock(&client, &operator, form(TOPIC)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = unlock(&client, "not-a-key", form(TOPIC)).await;
    assert_eq!(status, 401);
    assert!(apple.received().is_empty(), "a refused request reached Apple");

    // Accepted: Apple gets the device's identifiers in the query, the audit values and the code
    // in the form, over TLS with the push certificate; its answer comes back as it was.
    let (status, body) = unlock(&client, &admin, form(TOPIC)).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let sent = apple.received();
    assert_eq!(sent.len(), 1);
    let query = sent[0].query.as_deref().unwrap();
    assert_eq!(query, "serial=C8TJ500QF1MN&productType=iPad4%2C1");
    let form_sent = String::from_utf8(sent[0].body.clone()).unwrap();
    assert_eq!(
        form_sent,
        format!("orgName=Acme+Inc&guid=it%40acme.example&escrowKey={CODE}")
    );
    assert_eq!(sent[0].client_fingerprint, fingerprint, "not the push certificate");

    // Apple refuses (an unknown device or a wrong code): relayed as it came, and recorded.
    apple.answer_all(Some((404, "NotFound")));
    let (status, body) = unlock(&client, &admin, form(TOPIC)).await;
    assert_eq!((status, body.as_str()), (404, "NotFound"));
    apple.answer_all(None);

    // The log: who asked and what Apple said, each answer tied to its request; no code.
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let events = store.read_stream("escrow-key-unlock", 1, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "EscrowKeyUnlockRequested",
            "EscrowKeyUnlockAnswered",
            "EscrowKeyUnlockRequested",
            "EscrowKeyUnlockAnswered"
        ]
    );
    assert!(events.iter().all(|e| e.actor == "api-key:admin"), "{events:?}");
    assert_eq!(events[1].correlation_id, Some(events[0].event_id));
    let answers: Vec<Value> = [&events[1], &events[3]]
        .iter()
        .map(|e| serde_json::from_slice(&e.data).unwrap())
        .collect();
    assert_eq!(
        (answers[0]["status"].as_u64(), answers[1]["status"].as_u64()),
        (Some(200), Some(404))
    );
    let requested: Value = serde_json::from_slice(&events[0].data).unwrap();
    assert_eq!(requested["serial_number"], "C8TJ500QF1MN");
    assert_eq!(requested["guid"], "it@acme.example");
    let head = store.head().await.unwrap().position;
    for event in store.read_all(1, head as usize + 1).await.unwrap() {
        assert!(
            !String::from_utf8_lossy(&event.data).contains("PUYVY"),
            "the bypass code is in {}",
            event.event_type
        );
    }

    // The audit trail shows it to compliance, with the actor.
    let (status, trail) = get(&client, "/v1/audit?request_type=EscrowKeyUnlockRequested", &admin).await;
    assert_eq!(status, 200, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{trail}");
    assert_eq!(entries[0]["requester"], "api-key:admin");
    assert!(
        entries[0]["subject"].as_str().unwrap().contains("C8TJ500QF1MN"),
        "{trail}"
    );
}
