//! Webhooks over real sockets: events appended to a SQLite log, the worker delivering them to a
//! receiver on 127.0.0.1 that fails in every way a receiver can (5xx, 4xx, dropped connection,
//! no answer) before it accepts, and restarts after a clean shutdown and after a crash.

#[path = "webhooks/fixtures.rs"]
mod fixtures;
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use annal::stream::webhook::{self, Signer, WebhookConfig, SECRET_KEYS};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use fixtures::*;
use receiver::{Behaviour, Received, Receiver};

#[tokio::test]
async fn every_event_arrives_in_order_signed_despite_a_failing_receiver() {
    let log = log();
    enroll(&log, "UDID-A").await;
    enroll(&log, "UDID-B").await;
    use Behaviour::*;
    let script = vec![
        Status(500),
        Drop,
        Status(400),
        Status(429),
        Stall,
        Accept,
        Status(503),
        Drop,
        Accept,
    ];
    let receiver = Receiver::start(script.clone(), Duration::ZERO).await;
    // Checkpoint saves every 10 ms: a checkpoint that ran ahead of delivery would show below.
    let handle = log.start(WebhookConfig {
        checkpoint_interval: Duration::from_millis(10),
        ..config(&receiver.url)
    });

    // While the first event fails, the checkpoint does not move past it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.requests() < 5 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(receiver.accepted().is_empty());
    assert_eq!(log.checkpoint(&receiver.url).await.unwrap_or(0), 0);

    // Live appends after the catch-up arrive too.
    let first = log.expected_ids().await.len();
    receiver.wait_for_accepted(first).await;
    log.append("UDID-A", vec![idle("UDID-A"), acknowledged("UDID-A", "cmd-2", "")])
        .await;
    let expected = log.expected_ids().await;
    assert_eq!(expected.len(), first + 2);
    let accepted = receiver.wait_for_accepted(expected.len()).await;
    handle.shutdown().await;

    let ids: Vec<String> = accepted.iter().map(Received::event_id).collect();
    assert_eq!(ids, expected, "every webhook, once, in log order");
    let failures = script.iter().filter(|b| !matches!(b, Accept)).count();
    assert_eq!(
        receiver.requests(),
        expected.len() + failures,
        "each failure was retried once"
    );

    let signer = Signer::new(HMAC_KEY);
    for r in &accepted {
        assert!(signer.verify(&r.body, r.signature.as_deref().unwrap()), "HMAC verifies");
        assert!(!Signer::new(b"another key").verify(&r.body, r.signature.as_deref().unwrap()));
    }
    let topics: Vec<String> = accepted
        .iter()
        .take(4)
        .map(|r| r.json()["topic"].as_str().unwrap().into())
        .collect();
    assert_eq!(
        topics,
        ["mdm.Authenticate", "mdm.TokenUpdate", "mdm.Connect", "mdm.Connect"]
    );
    let ack = accepted[3].json();
    assert_eq!(ack["acknowledge_event"]["status"], "Acknowledged");
    assert_eq!(ack["acknowledge_event"]["command_uuid"], "cmd-UDID-A");
    assert_eq!(ack["acknowledge_event"]["udid"], "UDID-A");
    assert!(String::from_utf8(raw_payload(&ack))
        .unwrap()
        .contains("<string>Test iPhone</string>"));
    assert_eq!(accepted[2].json()["acknowledge_event"]["status"], "Idle");

    let head = log.store.head().await.unwrap().position;
    assert_eq!(
        log.checkpoint(&receiver.url).await,
        Some(head),
        "shutdown saves the checkpoint"
    );
}

#[tokio::test]
async fn secrets_never_reach_the_receiver() {
    let log = log();
    log.append("UDID-S", vec![authenticate("UDID-S"), token_update(&log.key, "UDID-S")])
        .await;
    log.append("UDID-S", vec![set_bootstrap_token(&log.key, "UDID-S")])
        .await;
    // A plain (unsealed) raw that carries an UnlockToken anyway.
    let unsealed = acknowledged(
        "UDID-S",
        "cmd-unlock",
        &format!("<key>UnlockToken</key>\n<data>{}</data>\n", B64.encode(UNLOCK_TOKEN)),
    );
    log.append("UDID-S", vec![unsealed]).await;
    let receiver = Receiver::start(vec![], Duration::ZERO).await;
    let handle = log.start(WebhookConfig {
        include_idle: false,
        ..config(&receiver.url)
    });
    let accepted = receiver.wait_for_accepted(4).await;
    handle.shutdown().await;

    let secrets = [
        PUSH_MAGIC.as_bytes().to_vec(),
        UNLOCK_TOKEN.to_vec(),
        BOOTSTRAP_TOKEN.to_vec(),
    ];
    for r in &accepted {
        let raw = raw_payload(&r.json());
        let dict = plist::Value::from_reader(std::io::Cursor::new(&raw))
            .unwrap()
            .into_dictionary()
            .unwrap();
        for key in SECRET_KEYS {
            assert!(dict.get(key).is_none(), "{key} was sent");
        }
        assert_eq!(dict.get("UDID").and_then(plist::Value::as_string), Some("UDID-S"));
        for secret in &secrets {
            for haystack in [&raw, &r.body] {
                let found = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
                assert!(
                    !found(secret) && !found(B64.encode(secret).as_bytes()),
                    "a secret leaked"
                );
            }
        }
    }
    let token_update = raw_payload(&accepted[1].json());
    let dict = plist::Value::from_reader(std::io::Cursor::new(&token_update))
        .unwrap()
        .into_dictionary()
        .unwrap();
    assert_eq!(
        dict.get("MessageType").and_then(plist::Value::as_string),
        Some("TokenUpdate")
    );
    assert_eq!(
        dict.get("Token").and_then(plist::Value::as_data),
        Some(&[10u8, 11, 12, 13][..])
    );
    assert_eq!(accepted[2].json()["topic"], "mdm.SetBootstrapToken");
}

#[tokio::test]
async fn a_clean_restart_resumes_from_the_checkpoint_without_loss_or_duplicates() {
    let log = log();
    traffic(&log, 5, 30).await; // 300 webhooks
    let receiver = Receiver::start(vec![], Duration::from_millis(1)).await;
    let handle = log.start(config(&receiver.url));
    receiver.wait_for_accepted(80).await;
    handle.shutdown().await;

    let delivered = receiver.accepted();
    let checkpoint = log.checkpoint(&receiver.url).await.unwrap();
    let last = log.positions().await[&delivered.last().unwrap().event_id()];
    assert_eq!(
        checkpoint, last,
        "shutdown finishes the delivery under way and saves exactly past it"
    );
    assert!(delivered.len() < 300, "stopped mid-stream");

    traffic(&log, 5, 5).await; // appended while stopped
    let expected = log.expected_ids().await;
    let handle = log.start(config(&receiver.url));
    let accepted = receiver.wait_for_accepted(expected.len()).await;
    handle.shutdown().await;
    let ids: Vec<String> = accepted.iter().map(Received::event_id).collect();
    assert_eq!(ids, expected, "nothing lost, nothing sent twice");
}

#[tokio::test]
async fn after_a_crash_only_events_past_the_last_checkpoint_are_sent_again() {
    let log = log();
    traffic(&log, 5, 30).await; // 300 webhooks
    let receiver = Receiver::start(vec![], Duration::from_millis(2)).await;
    let url = receiver.url.clone();
    let checkpoint_every = 100u64;
    let crash_config = WebhookConfig {
        checkpoint_every,
        checkpoint_interval: Duration::from_secs(3600),
        ..config(&url)
    };
    let (store, readmodels, key, watcher) = (
        log.store.clone(),
        log.readmodels.clone(),
        log.key.clone(),
        receiver.clone(),
    );
    crash_mid_stream(
        move || webhook::spawn(store, readmodels, key, crash_config).unwrap(),
        move || watcher.accepted().len() >= 150,
    )
    .await;

    // A request the receiver was already answering when the worker died may still land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before_crash = receiver.accepted();
    let checkpoint = log.checkpoint(&url).await.unwrap_or(0);
    assert!(
        checkpoint >= checkpoint_every,
        "a batch checkpoint was saved before the crash"
    );
    let positions = log.positions().await;
    let delivered_up_to = positions[&before_crash.last().unwrap().event_id()];
    assert!(delivered_up_to < 300, "crashed mid-stream");
    let resent = before_crash
        .iter()
        .filter(|r| positions[&r.event_id()] > checkpoint)
        .count();
    assert!(resent as u64 <= checkpoint_every, "at most one batch is sent again");

    let expected = log.expected_ids().await;
    let handle = log.start(config(&url));
    let accepted = receiver.wait_for_accepted(expected.len() + resent).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.shutdown().await;
    assert_eq!(
        receiver.accepted().len(),
        expected.len() + resent,
        "nothing more than that"
    );

    let ids: Vec<String> = accepted.iter().map(Received::event_id).collect();
    let (first_run, second_run) = ids.split_at(before_crash.len());
    assert_eq!(first_run, &expected[..first_run.len()], "first run in order");
    // The second run starts right after the checkpoint: every later event, in order, once.
    let after_checkpoint: Vec<String> = expected
        .iter()
        .filter(|id| positions[*id] > checkpoint)
        .cloned()
        .collect();
    assert_eq!(second_run, &after_checkpoint[..], "nothing lost after the restart");
    // The duplicates are exactly the events delivered after the last checkpoint.
    let duplicates: Vec<&String> = second_run.iter().filter(|id| first_run.contains(id)).collect();
    assert_eq!(duplicates.len(), resent);
    assert!(duplicates.iter().all(|id| positions[*id] > checkpoint));
}

#[tokio::test]
async fn https_receivers_are_verified_against_the_configured_roots() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let receiver = Receiver::start_tls(vec![], std::sync::Arc::new(tls)).await;
    assert!(receiver.url.starts_with("https://127.0.0.1:"));
    let log = log();
    log.append("UDID-T", vec![authenticate("UDID-T"), idle("UDID-T")]).await;

    // Trusting only the system roots, the self-signed receiver is refused: nothing is sent and
    // the checkpoint stays put.
    let untrusted_url = format!("{}?untrusted", receiver.url);
    let untrusted = log.start(config(&untrusted_url));
    tokio::time::sleep(Duration::from_millis(300)).await;
    untrusted.shutdown().await;
    assert_eq!(receiver.requests(), 0);
    assert_eq!(log.checkpoint(&untrusted_url).await, None);

    let trusted = log.start(WebhookConfig {
        ca_certs_der: vec![certified.cert.der().to_vec()],
        ..config(&receiver.url)
    });
    let accepted = receiver.wait_for_accepted(2).await;
    trusted.shutdown().await;
    let ids: Vec<String> = accepted.iter().map(Received::event_id).collect();
    assert_eq!(ids, log.expected_ids().await);
}
