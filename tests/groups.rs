//! Device groups and targeting in process (the router called directly, as tests/handlers.rs):
//! groups and tags defined through the admin API, commands sent to a group, the devices a group
//! meant recorded with the command, the rails counting the resolved devices, and the roles.

use annal::testkit::sim::VirtualDevice;
use annal_schemas::events::apikey::Role;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

mod common;

use common::inprocess::{app, App, ADMIN_KEY};

/// What this file adds to the in-process harness.
trait GroupsApp {
    async fn tag(&self, key: &str, d: &VirtualDevice, tag: &str) -> StatusCode;
    async fn recorded(&self, command_uuid: &str) -> Vec<annal_schemas::RecordedEvent>;
}

impl GroupsApp for App {
    async fn tag(&self, key: &str, d: &VirtualDevice, tag: &str) -> StatusCode {
        let path = format!("/v1/devices/{}/tags/{tag}", d.udid);
        self.call(Method::PUT, &path, key, None).await.0
    }

    async fn recorded(&self, command_uuid: &str) -> Vec<annal_schemas::RecordedEvent> {
        let stream = format!("targets-{command_uuid}");
        self.server.state.store.read_stream(&stream, 1, 100).await.unwrap()
    }
}

fn ids(value: &Value) -> Vec<String> {
    let mut ids: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(devices: &[&VirtualDevice]) -> Vec<String> {
    let mut ids: Vec<String> = devices.iter().map(|d| d.udid.clone()).collect();
    ids.sort();
    ids
}

/// The case: a group resolved at enqueue records exactly its members at that moment;
/// a device that joins the group later is not in the recorded list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_records_exactly_the_devices_it_meant_when_the_command_was_queued() {
    let app = app().await;
    let a = app.enroll(1, "iPad13,18", "18.1").await;
    let b = app.enroll(2, "iPad13,18", "17.6").await;
    let c = app.enroll(3, "iPad13,18", "18.1").await;
    let phone = app.enroll(4, "iPhone15,2", "18.1").await;
    for d in [&a, &b, &phone] {
        assert_eq!(app.tag(ADMIN_KEY, d, "lab").await, StatusCode::OK);
    }
    // iPads in the lab: the phone carries the tag but is not an iPad.
    let define = json!({"filter": {"model": "ipad", "tags": ["lab"], "last_seen_after": "1d"}, "reason": "INC-7"});
    let (status, body) = app
        .call(Method::PUT, "/v1/groups/lab-ipads", ADMIN_KEY, Some(define.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], true);
    let (_, again) = app
        .call(Method::PUT, "/v1/groups/lab-ipads", ADMIN_KEY, Some(define))
        .await;
    assert_eq!(again["changed"], false, "the same definition again records nothing");
    let (status, group) = app.get("/v1/groups/lab-ipads", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(ids(&group["resolved"]["enrollments"]), sorted(&[&a, &b]));

    let send = json!({"group": "lab-ipads", "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}, "reason": "inventory"});
    let (status, queued) = app
        .call(Method::POST, "/v1/commands", ADMIN_KEY, Some(send.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    let uuid = queued["command_uuid"].as_str().unwrap().to_string();
    let mut reached: Vec<String> = queued["status"].as_object().unwrap().keys().cloned().collect();
    reached.sort();
    assert_eq!(reached, sorted(&[&a, &b]));

    // The log says whom the group meant, who sent it and why.
    let recorded = app.recorded(&uuid).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].event_type, "TargetsResolved");
    assert_eq!(recorded[0].actor, "api-key:admin");
    let event: Value = serde_json::from_slice(&recorded[0].data).unwrap();
    assert_eq!(event["group"], "lab-ipads");
    assert_eq!(event["reason"], "inventory");
    assert_eq!(event["definition"]["filter"]["tags"], json!(["lab"]));
    assert!(
        event["last_seen_after"].is_string(),
        "the relative time as the moment it meant: {event}"
    );
    assert_eq!(ids(&event["enrollments"]), sorted(&[&a, &b]));

    // C joins the group afterwards: the group means three now, the command still two.
    assert_eq!(app.tag(ADMIN_KEY, &c, "lab").await, StatusCode::OK);
    let (_, group) = app.get("/v1/groups/lab-ipads", ADMIN_KEY).await;
    assert_eq!(ids(&group["resolved"]["enrollments"]), sorted(&[&a, &b, &c]));
    let (status, report) = app.get(&format!("/v1/commands/{uuid}"), ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let targeting = report["targeting"].as_array().unwrap();
    assert_eq!(targeting.len(), 1);
    assert_eq!(ids(&targeting[0]["enrollments"]), sorted(&[&a, &b]));
    assert_eq!(report["devices"].as_array().unwrap().len(), 2);

    // The audit trail names the resolution and the group change as administrative entries.
    let (status, trail) = app.get("/v1/audit?request_type=TargetsResolved", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    let subject = entries[0]["subject"].as_str().unwrap();
    assert!(
        subject.contains(&a.udid) && subject.contains(&b.udid) && !subject.contains(&c.udid),
        "{subject}"
    );

    // A filter given with the request is resolved and recorded the same way, with no group.
    let by_os = json!({"filter": {"os_version": "17"}, "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}});
    let (status, queued) = app.call(Method::POST, "/v1/commands", ADMIN_KEY, Some(by_os)).await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    assert_eq!(
        queued["status"].as_object().unwrap().keys().collect::<Vec<_>>(),
        [&b.udid]
    );
    let recorded = app.recorded(queued["command_uuid"].as_str().unwrap()).await;
    let event: Value = serde_json::from_slice(&recorded[0].data).unwrap();
    assert!(event.get("group").is_none());
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_groups_and_changes_nothing_an_operator_keeps_them() {
    let app = app().await;
    let auditor = app.key("audrey", Role::Auditor).await;
    let operator = app.key("olaf", Role::Operator).await;
    let d = app.enroll(1, "iPad13,18", "18.1").await;
    let members = json!({"members": [d.udid]});
    let before = app.head().await;
    let (status, body) = app
        .call(Method::PUT, "/v1/groups/kiosks", &auditor, Some(members.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(app.tag(&auditor, &d, "lab").await, StatusCode::FORBIDDEN);
    assert_eq!(app.head().await, before, "a refused change appends nothing");

    let (status, body) = app
        .call(Method::PUT, "/v1/groups/kiosks", &operator, Some(members))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.tag(&operator, &d, "lab").await, StatusCode::OK);
    let (status, list) = app.get("/v1/groups", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["groups"][0]["name"], "kiosks");
    assert_eq!(list["groups"][0]["definition"]["members"], json!([d.udid]));
    let (status, tags) = app.get(&format!("/v1/devices/{}/tags", d.udid), &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tags["tags"], json!(["lab"]));

    // An auditor may not send to a group, and the group is not even resolved for it.
    let before = app.head().await;
    let send = json!({"group": "kiosks", "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}});
    let (status, _) = app.call(Method::POST, "/v1/commands", &auditor, Some(send)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::DELETE, "/v1/groups/kiosks", &auditor, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.head().await, before);

    let (status, _) = app.call(Method::DELETE, "/v1/groups/kiosks", &operator, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/groups/kiosks", &auditor).await.0, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}/tags/lab", d.udid),
            &operator,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rails_count_the_devices_a_group_means_and_an_empty_group_queues_nothing() {
    let app = app().await;
    let mut fleet = Vec::new();
    for n in 0..11 {
        fleet.push(app.enroll(n, "iPad13,18", "18.1").await);
    }
    let define = json!({"filter": {"model": "iPad"}});
    assert_eq!(
        app.call(Method::PUT, "/v1/groups/ipads", ADMIN_KEY, Some(define))
            .await
            .0,
        StatusCode::OK
    );
    let erase = |confirm: Option<usize>| {
        let mut body = json!({"group": "ipads", "command": {"RequestType": "EraseDevice"}, "reason": "lab reset"});
        if let Some(n) = confirm {
            body["confirm_count"] = json!(n);
        }
        body
    };
    let before = app.head().await;
    let (status, body) = app
        .call(Method::POST, "/v1/commands", ADMIN_KEY, Some(erase(None)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["path"], "confirm_count");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("confirm_count: 11"),
        "{body}"
    );
    let (status, body) = app
        .call(Method::POST, "/v1/commands", ADMIN_KEY, Some(erase(Some(10))))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        app.head().await,
        before,
        "a refused request records no resolution and queues nothing"
    );

    let (status, body) = app
        .call(Method::POST, "/v1/commands", ADMIN_KEY, Some(erase(Some(11))))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"].as_object().unwrap().len(), 11);

    // A group that means nobody now is a clear refusal, and nothing is appended.
    let nobody = json!({"filter": {"model": "iPhone"}});
    assert_eq!(
        app.call(Method::PUT, "/v1/groups/phones", ADMIN_KEY, Some(nobody))
            .await
            .0,
        StatusCode::OK
    );
    let before = app.head().await;
    let send = json!({"group": "phones", "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}});
    let (status, body) = app.call(Method::POST, "/v1/commands", ADMIN_KEY, Some(send)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("phones"), "{body}");
    let unknown = json!({"group": "nope", "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}});
    assert_eq!(
        app.call(Method::POST, "/v1/commands", ADMIN_KEY, Some(unknown)).await.0,
        StatusCode::NOT_FOUND
    );
    let both =
        json!({"group": "ipads", "enrollments": [fleet[0].udid], "command": {"RequestType": "DeviceInformation"}});
    assert_eq!(
        app.call(Method::POST, "/v1/commands", ADMIN_KEY, Some(both)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.head().await, before);
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_filters_on_admin_tags() {
    let app = app().await;
    let a = app.enroll(1, "iPad13,18", "18.1").await;
    let b = app.enroll(2, "iPad13,18", "18.1").await;
    let _c = app.enroll(3, "iPad13,18", "18.1").await;
    for (d, tag) in [(&a, "lab"), (&b, "lab"), (&b, "site:b2")] {
        assert_eq!(app.tag(ADMIN_KEY, d, tag).await, StatusCode::OK);
    }
    let keys = |page: &Value| -> Vec<String> {
        let mut k: Vec<String> = page["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["enrollment"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    let (status, page) = app.get("/v1/devices?tag=lab", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(keys(&page), sorted(&[&a, &b]));
    let (_, page) = app.get("/v1/devices?tag=lab,site%3Ab2", ADMIN_KEY).await;
    assert_eq!(keys(&page), sorted(&[&b]));
    let (_, page) = app.get("/v1/devices?tag=lab&limit=1", ADMIN_KEY).await;
    assert_eq!(page["devices"].as_array().unwrap().len(), 1);
    assert!(page["next"].is_string(), "paging still works on a tag join: {page}");
    let (_, page) = app.get("/v1/devices?tag=", ADMIN_KEY).await;
    assert_eq!(
        page["devices"].as_array().unwrap().len(),
        3,
        "an empty tag list filters nothing"
    );
    let (_, page) = app.get("/v1/devices?tag=nobody", ADMIN_KEY).await;
    assert!(page["devices"].as_array().unwrap().is_empty());

    // A hostile tag is refused, not stored.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/devices/{}/tags/a%0Ab", a.udid),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    app.server.shutdown().await;
}
