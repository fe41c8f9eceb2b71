//! `annal serve --webhook-url`: a real server delivers its devices' messages as signed,
//! redacted webhooks, and saves its checkpoint when it stops.

mod common;
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::time::Duration;

use annal::readmodel::{ReadModelDb, SqliteReadModels};
use annal::stream::webhook::{checkpoint_name, Signer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::server::{device, enroll, Server};
use receiver::{Behaviour, Receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_delivers_signed_redacted_webhooks() {
    // The receiver fails twice first: the server retries.
    let receiver = Receiver::start(vec![Behaviour::Status(503), Behaviour::Drop], Duration::ZERO).await;
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("hmac.key");
    common::write_private(&key_file, "a-webhook-hmac-key-of-some-length");
    let mut server = Server::start(&[
        "--webhook-url",
        &receiver.url,
        "--webhook-hmac-key-file",
        key_file.to_str().unwrap(),
        "--webhook-backoff-max-secs",
        "1",
    ])
    .await;
    let d = device(&server, 3);
    enroll(&server.client(), &d).await;

    let got = receiver.wait_for_accepted(2).await;
    let topics: Vec<String> = got
        .iter()
        .map(|r| r.json()["topic"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(topics, ["mdm.Authenticate", "mdm.TokenUpdate"]);
    let signer = Signer::new(b"a-webhook-hmac-key-of-some-length");
    for r in &got {
        assert!(
            signer.verify(&r.body, r.signature.as_deref().unwrap()),
            "bad X-Hmac-Signature"
        );
        assert_eq!(r.json()["checkin_event"]["udid"], d.udid.as_str());
    }
    let token_update = B64
        .decode(got[1].json()["checkin_event"]["raw_payload"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8_lossy(&token_update);
    assert!(text.contains("<key>Token</key>"), "{text}");
    assert!(
        !text.contains("PushMagic") && !text.contains("UnlockToken"),
        "secrets in a webhook: {text}"
    );

    // SIGTERM: the checkpoint is saved past both deliveries.
    server.terminate();
    let db = SqliteReadModels::open(&server.data_dir.join("annal.readmodels.db")).unwrap();
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let token_update_position = store
        .read_stream(&format!("enrollment-{}", d.udid), 1, 10)
        .await
        .unwrap()
        .iter()
        .find(|e| e.event_type == "TokenUpdate")
        .unwrap()
        .global_position;
    let checkpoint = db
        .load_checkpoint(&checkpoint_name(&receiver.url))
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(
        checkpoint >= token_update_position,
        "checkpoint {checkpoint} < {token_update_position}"
    );
}

/// A device whose profile's URLs carry a query string (`?profile=sales`): each message records
/// the parameters with its identity and the webhook carries them as `url_params`, as NanoMDM
/// sends them. A query over the recorded bound is refused 414 and appends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_params_reach_the_webhook_and_an_oversized_query_is_refused() {
    let receiver = Receiver::start(vec![], Duration::ZERO).await;
    let server = Server::start(&["--webhook-url", &receiver.url, "--webhook-backoff-max-secs", "1"]).await;
    let d = device(&server, 4);
    let client = server.client();
    let send = |path: &'static str, content_type: &'static str, body: Vec<u8>| {
        let (client, signature) = (client.clone(), d.sign(&body).unwrap());
        async move {
            let a = client
                .put(path, content_type, &[("Mdm-Signature", &signature)], body)
                .await
                .unwrap();
            a.status.as_u16()
        }
    };
    const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
    let query = "/mdm?profile=sales+team&site=b%C3%A9rn&profile=ignored";
    assert_eq!(send(query, CHECKIN, d.authenticate(common::server::TOPIC)).await, 200);
    assert_eq!(send(query, CHECKIN, d.token_update(common::server::TOPIC)).await, 200);
    let (idle, _) = d.idle().unwrap();
    assert_eq!(send("/mdm", "application/x-apple-aspen-mdm", idle).await, 200);

    let got = receiver.wait_for_accepted(3).await;
    let expected = serde_json::json!({"profile": "sales team", "site": "b\u{e9}rn"});
    assert_eq!(got[0].json()["checkin_event"]["url_params"], expected);
    assert_eq!(got[1].json()["checkin_event"]["url_params"], expected);
    assert_eq!(got[2].json()["acknowledge_event"]["status"], "Idle");
    assert!(
        got[2].json()["acknowledge_event"].get("url_params").is_none(),
        "no query, no url_params: {}",
        got[2].json()
    );

    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let before = store.head().await.unwrap().position;
    let long: &'static str = Box::leak(format!("/mdm?a={}", "x".repeat(3000)).into_boxed_str());
    assert_eq!(send(long, CHECKIN, d.authenticate(common::server::TOPIC)).await, 414);
    assert_eq!(
        store.head().await.unwrap().position,
        before,
        "a refused request appended"
    );
}
