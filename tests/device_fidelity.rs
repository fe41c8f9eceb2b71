//! What third-party clients and real devices send, end to end over real sockets: command-channel
//! requests with no or a generic Content-Type, a device-channel CheckOut that ends its user
//! channels, and a TokenUpdate for another push topic.

mod common;

use annal::store::{open, EventStore};
use common::admin::{call, get};
use common::server::{device, enroll, signed, Server, CHECKIN, COMMAND, TOPIC};
use hyper::Method;
use serde_json::json;

async fn store_of(server: &Server) -> std::sync::Arc<dyn EventStore> {
    open(&server.store_url.parse().unwrap()).await.unwrap()
}

async fn types(server: &Server, stream: &str) -> Vec<String> {
    let events = store_of(server).await.read_stream(stream, 1, 1000).await.unwrap();
    events.into_iter().map(|e| e.event_type).collect()
}

/// PUT `body` to `path` signed by `d`, with the given Content-Type (None: no header at all).
async fn put(
    client: &annal::testkit::sim::Client,
    d: &annal::testkit::sim::VirtualDevice,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let signature = d.sign(&body).unwrap();
    let answer = client
        .send(Method::PUT, path, content_type, &[("Mdm-Signature", &signature)], body)
        .await
        .unwrap();
    (answer.status.as_u16(), answer.body.to_vec())
}

fn plist(entries: &[(&str, plist::Value)]) -> Vec<u8> {
    let dict: plist::Dictionary = entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    annal::testkit::sim::encode(dict)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_channel_is_served_by_its_body_whatever_its_content_type() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let d = device(&server, 1);
    // Check-ins without a Content-Type are served too, by their MessageType.
    assert_eq!(put(&client, &d, "/mdm", None, d.authenticate(TOPIC)).await.0, 200);
    assert_eq!(
        put(&client, &d, "/checkin", Some("application/xml"), d.token_update(TOPIC))
            .await
            .0,
        200
    );
    let labels = [
        None,
        Some("application/x-apple-aspen-mdm"),
        Some("application/xml"),
        Some("text/xml; charset=utf-8"),
        Some("application/octet-stream"),
    ];
    for label in labels {
        let (status, queued) = call(
            &client,
            Method::POST,
            "/v1/commands",
            Some(&admin),
            Some(json!({"enrollments": [d.udid], "command": {"RequestType": "SecurityInfo"}})),
        )
        .await;
        assert_eq!(status, 200, "{queued}");
        let uuid = queued["command_uuid"].as_str().unwrap().to_string();
        let (status, body) = put(&client, &d, "/mdm", label, d.idle().unwrap().0).await;
        assert_eq!(status, 200, "Idle labelled {label:?}");
        let (handed, request_type, _) = annal::mdm::parse_command(&body).unwrap();
        assert_eq!(
            (handed.as_deref(), request_type.as_str()),
            (Some(uuid.as_str()), "SecurityInfo")
        );
        let answer = d.result(&uuid, "Acknowledged", Default::default());
        let (status, body) = put(&client, &d, "/connect", label, answer).await;
        assert_eq!((status, body.len()), (200, 0), "answer labelled {label:?}");
    }
    let log = types(&server, &format!("enrollment-{}", d.udid)).await;
    let count = |t: &str| log.iter().filter(|e| *e == t).count();
    assert_eq!((count("Authenticate"), count("TokenUpdate")), (1, 1));
    assert_eq!(
        (count("Idle"), count("CommandAcknowledged")),
        (labels.len(), labels.len())
    );
    // A body that is neither a check-in nor a report is a precise 400 and appends nothing.
    let before = log.len();
    let neither = plist(&[("UDID", d.udid.clone().into()), ("Hello", "world".into())]);
    let (status, text) = put(&client, &d, "/mdm", None, neither).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&text).contains("neither a check-in message"));
    assert_eq!(types(&server, &format!("enrollment-{}", d.udid)).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_channel_checkout_ends_every_user_channel() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let d = device(&server, 2);
    enroll(&client, &d).await;
    let users = [
        "A1B2C3D4-0000-4000-8000-000000000001",
        "A1B2C3D4-0000-4000-8000-000000000002",
    ];
    let user_token = |user: &str| {
        plist(&[
            ("MessageType", "TokenUpdate".into()),
            ("UDID", d.udid.clone().into()),
            ("UserID", user.into()),
            ("UserShortName", "alice".into()),
            ("Topic", TOPIC.into()),
            ("Token", plist::Value::Data(vec![7; 32])),
            ("PushMagic", "user-magic".into()),
        ])
    };
    let user_idle = |user: &str| {
        plist(&[
            ("UDID", d.udid.clone().into()),
            ("UserID", user.into()),
            ("Status", "Idle".into()),
        ])
    };
    for user in users {
        assert_eq!(signed(&client, &d, CHECKIN, user_token(user)).await.0, 200);
        assert_eq!(signed(&client, &d, COMMAND, user_idle(user)).await.0, 200);
    }
    // A command waiting on the first user channel is cancelled with it.
    let user_key = format!("{}:{}", d.udid, users[0]);
    let (status, queued) = call(
        &client,
        Method::POST,
        "/v1/commands",
        Some(&admin),
        Some(json!({"enrollments": [user_key], "command": {"RequestType": "ProfileList"}})),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    // The inventory must know the user channels before the CheckOut to end them eagerly.
    let (status, doc) = get(&client, &format!("/v1/devices/{user_key}"), &admin).await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("enrolled")), "{doc}");

    let checkout = plist(&[
        ("MessageType", "CheckOut".into()),
        ("UDID", d.udid.clone().into()),
        ("Topic", TOPIC.into()),
    ]);
    assert_eq!(signed(&client, &d, CHECKIN, checkout).await.0, 200);
    for user in users {
        let stream = format!("enrollment-{}:{user}", d.udid);
        let log = types(&server, &stream).await;
        assert_eq!(log.iter().filter(|t| *t == "CheckOut").count(), 1, "{user}: {log:?}");
        let events = store_of(&server).await.read_stream(&stream, 1, 100).await.unwrap();
        let checkout = events.iter().find(|e| e.event_type == "CheckOut").unwrap();
        let data: serde_json::Value = serde_json::from_slice(&checkout.data).unwrap();
        assert_eq!(data["with_device_channel"], json!(true), "{data}");
        assert_eq!(data["device"]["user_id"], json!(user));
        // Their later requests get the device channel's refusal, and append nothing.
        let before = log.len();
        assert_eq!(signed(&client, &d, COMMAND, user_idle(user)).await.0, 403);
        assert_eq!(types(&server, &stream).await.len(), before);
    }
    let first = types(&server, &format!("enrollment-{user_key}")).await;
    assert!(first.iter().any(|t| t == "CommandCancelled"), "{first:?}");
    assert_eq!(signed(&client, &d, COMMAND, d.idle().unwrap().0).await.0, 403);
    let (_, doc) = get(&client, &format!("/v1/devices/{user_key}"), &admin).await;
    assert_eq!(doc["state"].as_str(), Some("checked_out"), "{doc}");

    // Enrolled again, the device may open its user channels again.
    enroll(&client, &d).await;
    assert_eq!(signed(&client, &d, CHECKIN, user_token(users[0])).await.0, 200);
    assert_eq!(signed(&client, &d, COMMAND, user_idle(users[0])).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_update_for_another_topic_is_recorded_as_a_mismatch_without_a_push_certificate() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let d = device(&server, 3);
    enroll(&client, &d).await;
    let (_, doc) = get(&client, &format!("/v1/devices/{}", d.udid), &admin).await;
    assert_eq!(doc["topic_mismatch"], json!(false), "{doc}");
    assert_eq!(
        signed(&client, &d, CHECKIN, d.token_update("com.apple.mgmt.other"))
            .await
            .0,
        200
    );
    let (_, doc) = get(&client, &format!("/v1/devices/{}", d.udid), &admin).await;
    assert_eq!(doc["topic_mismatch"], json!(true), "{doc}");
    assert_eq!(doc["topic"], json!(TOPIC), "the enrolled topic stays: {doc}");
    assert_eq!(signed(&client, &d, CHECKIN, d.token_update(TOPIC)).await.0, 200);
    let (_, doc) = get(&client, &format!("/v1/devices/{}", d.udid), &admin).await;
    assert_eq!(doc["topic_mismatch"], json!(false), "{doc}");
}
