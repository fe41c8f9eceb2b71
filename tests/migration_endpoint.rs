//! NanoMDM's `/migration` (issue 20): a migration tool replays another server's stored
//! Authenticate and TokenUpdate messages with an admin key; the devices they name are enrolled
//! without their certificates, and each is claimed by the first certificate from the old
//! server's CA (`--external-ca`) that speaks for it. Driven over real HTTPS against a real
//! `annal serve`, with the attacks a migration opens checked: Annal's own certificates (anyone
//! with an enrollment token gets one) never claim, a claimed certificate claims nothing else, a
//! claimed enrollment refuses every other certificate and every replay, and what is refused
//! appends nothing.

mod common;

use annal::pki::KeyKind;
use annal::store::EventStore;
use annal::testkit::sim::{udid_of, Client, VirtualDevice};
use annal_schemas::Event;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::admin::create_key;
use common::server::{signed, Server, COMMAND, TOPIC};
use hyper::Method;

async fn replay(client: &Client, auth: Option<&str>, method: Method, body: Vec<u8>) -> (u16, String) {
    let mut headers = Vec::new();
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let answer = client
        .send(
            method,
            "/migration",
            Some("application/x-apple-aspen-mdm-checkin"),
            &headers,
            body,
        )
        .await
        .unwrap();
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

fn basic(key: &str) -> String {
    format!("Basic {}", B64.encode(format!("nanomdm:{key}")))
}

async fn idle(client: &Client, d: &VirtualDevice) -> u16 {
    let (body, _) = d.idle().unwrap();
    signed(client, d, COMMAND, body).await.0
}

async fn events_of(store: &dyn EventStore, udid: &str) -> Vec<(String, Event)> {
    store
        .read_stream(&format!("enrollment-{udid}"), 1, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.actor.clone(), e.decode().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_enrollments_are_claimed_once_by_the_old_ca_and_never_by_annals() {
    // The old server's CA, trusted for device identities.
    let old_dir = tempfile::tempdir().unwrap();
    let old_ca = annal::pki::Ca::load_or_init(old_dir.path()).unwrap();
    let old_pem = old_dir.path().join("ca.pem");
    let server = Server::start(&["--migration", "--external-ca", old_pem.to_str().unwrap()]).await;
    let client = server.client();
    let admin = basic(&server.api_key());
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();

    let old_identity = |i: usize| {
        old_ca
            .issue_device_identity(&format!("old-{i}"), KeyKind::EcdsaP256, 30)
            .unwrap()
    };
    let a = VirtualDevice::new(1, old_identity(1));
    let b = VirtualDevice::new(2, old_identity(2));

    // Refused before anything is recorded: no key, an operator's key, a message that makes no
    // enrollment, a body that is no plist.
    let operator = create_key(&server, "ops", "operator");
    let head = store.head().await.unwrap().position;
    assert_eq!(replay(&client, None, Method::PUT, a.authenticate(TOPIC)).await.0, 401);
    let (status, body) = replay(&client, Some(&basic(&operator)), Method::PUT, a.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "{body}");
    let (idle_body, _) = a.idle().unwrap();
    let (status, body) = replay(&client, Some(&admin), Method::PUT, idle_body).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = replay(&client, Some(&admin), Method::PUT, b"<plist><dict>".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    // A user channel could never be claimed (it speaks with its device channel's identity).
    let mut user_token_update: plist::Dictionary = plist::from_bytes(&a.token_update(TOPIC)).unwrap();
    user_token_update.insert("UserID".into(), "B0B0B0B0-0000-0000-0000-000000000001".into());
    let mut user_body = Vec::new();
    plist::to_writer_xml(&mut user_body, &user_token_update).unwrap();
    let (status, body) = replay(&client, Some(&admin), Method::PUT, user_body).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("user channels are not migrated"), "{body}");
    assert_eq!(store.head().await.unwrap().position, head, "a refused replay appended");

    // The tool replays both devices' Authenticate and TokenUpdate (PUT and POST alike).
    for d in [&a, &b] {
        let (status, body) = replay(&client, Some(&admin), Method::PUT, d.authenticate(TOPIC)).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = replay(&client, Some(&admin), Method::POST, d.token_update(TOPIC)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, device) = common::admin::get(&client, &format!("/v1/devices/{}", a.udid), &server.api_key()).await;
    assert_eq!(status, 200, "{device}");
    let recorded = events_of(store.as_ref(), &a.udid).await;
    let token_update = recorded
        .iter()
        .find_map(|(actor, e)| match e {
            Event::TokenUpdate(t) => Some((actor.clone(), t.clone())),
            _ => None,
        })
        .expect("the migrated TokenUpdate");
    assert!(token_update.0.starts_with("migration by "), "actor {}", token_update.0);
    assert_eq!(token_update.1.identity.proof, "migration");
    assert_eq!(token_update.1.identity.fingerprint_sha256, "");

    // A certificate from Annal's own CA (what an enrollment token buys) claims nothing.
    let intruder = VirtualDevice::new(
        1,
        server
            .ca()
            .issue_device_identity("intruder", KeyKind::EcdsaP256, 30)
            .unwrap(),
    );
    assert_eq!(intruder.udid, a.udid);
    let head = store.head().await.unwrap().position;
    assert_eq!(idle(&client, &intruder).await, 403);
    assert_eq!(store.head().await.unwrap().position, head, "a refused claim appended");

    // The device itself, with its old certificate: the first to speak for it claims it.
    assert_eq!(idle(&client, &a).await, 200);
    let claimed: Vec<_> = events_of(store.as_ref(), &a.udid)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::IdentityBound(bound) if bound.migration_claim => Some(bound),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 1, "one claim");
    assert_eq!(
        claimed[0].certificate.fingerprint_sha256,
        annal::pki::fingerprint_sha256(&a.identity.cert_der)
    );
    assert_eq!(idle(&client, &a).await, 200, "the claimed device keeps working");

    // Once claimed: another certificate from the same old CA is refused for that device, and
    // the claimed certificate cannot claim a second migrated device.
    let other = VirtualDevice::new(1, old_identity(3));
    assert_eq!(idle(&client, &other).await, 403);
    let a_as_b = VirtualDevice::new(2, a.identity.clone());
    assert_eq!(a_as_b.udid, udid_of(2));
    let head = store.head().await.unwrap().position;
    assert_eq!(idle(&client, &a_as_b).await, 403);
    assert_eq!(store.head().await.unwrap().position, head);
    // And a replay cannot take a claimed enrollment back.
    let (status, body) = replay(&client, Some(&admin), Method::PUT, a.authenticate(TOPIC)).await;
    assert_eq!(status, 409, "{body}");
    // b is still its own device's to claim.
    assert_eq!(idle(&client, &b).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_is_off_by_default() {
    let server = Server::start(&[]).await;
    let d = common::server::device(&server, 1);
    let (status, body) = replay(
        &server.client(),
        Some(&basic(&server.api_key())),
        Method::PUT,
        d.authenticate(TOPIC),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--migration"), "{body}");
}
