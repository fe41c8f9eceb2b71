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
