//! `annal serve --nats-url …` end to end: a device enrolls over real sockets, its events reach
//! JetStream as CloudEvents without its PushMagic or UnlockToken, SIGTERM saves the checkpoint,
//! and a restarted server goes on from it without a gap or a duplicate.

mod common;
#[path = "nats/support.rs"]
mod support;

use annal::readmodel::{ReadModelDb, SqliteReadModels};
use annal::stream::nats::checkpoint_name;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::server::{device, enroll, Server};
use support::*;

#[tokio::test]
async fn annal_serve_publishes_the_log_and_resumes_after_a_restart() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let url = nats_url();
    let (_client, js) = connect(&url).await;
    let names = Names::new();
    let args = [
        "--nats-url",
        url.as_str(),
        "--nats-stream",
        names.stream.as_str(),
        "--nats-subject-prefix",
        names.prefix.as_str(),
        "--nats-backoff-max-secs",
        "1",
    ];
    let mut first = Server::start(&args).await;
    let d1 = device(&first, 1);
    enroll(&first.client(), &d1).await;
    wait_for_subject(&js, &names, ".TokenUpdate", 1).await;
    first.terminate();

    let store = annal::store::open(&first.store_url.parse().unwrap()).await.unwrap();
    let head = store.head().await.unwrap().position;
    let readmodels = SqliteReadModels::open(&first.data_dir.join("annal.readmodels.db")).unwrap();
    let name = checkpoint_name(&names.stream, &names.prefix);
    assert_eq!(
        readmodels.load_checkpoint(&name).await.unwrap(),
        Some(head),
        "SIGTERM saves the checkpoint"
    );
    drop(readmodels);

    // The same data directory and log, started again: only what is new is published.
    let mut second = Server::start_with(&first.data_dir, &first.store_url, &args).await;
    let d2 = device(&second, 2);
    enroll(&second.client(), &d2).await;
    wait_for_subject(&js, &names, ".TokenUpdate", 2).await;
    second.terminate();

    let events = store.read_all(1, 100_000).await.unwrap();
    let messages = read_stream(&js, &names.stream).await;
    assert_eq!(messages.len(), events.len(), "every event once, across the restart");
    for (message, event) in messages.iter().zip(&events) {
        let body = assert_is_cloud_event(message, event, &names.prefix);
        assert_eq!(body["source"], format!("annal://{}", names.stream).as_str());
    }
    let unlock_token = vec![0x5a; 64];
    for d in [&d1, &d2] {
        let secrets = [
            format!("{}-magic", d.serial),
            B64.encode(&unlock_token),
            hex::encode(&unlock_token),
        ];
        assert_no_secret(&messages, &secrets);
    }
    delete_stream(&js, &names.stream).await;
}

/// Waits until the stream holds `n` messages whose subject ends with `suffix`.
async fn wait_for_subject(js: &async_nats::jetstream::Context, names: &Names, suffix: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if message_count(js, &names.stream).await > 0 {
            let messages = read_stream(js, &names.stream).await;
            if messages.iter().filter(|m| m.subject.as_str().ends_with(suffix)).count() >= n {
                return;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no {suffix} message arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
