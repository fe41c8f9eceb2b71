//! The console's live updates and fleet "as of", in process through the real router: the SSE
//! streams need a session, carry a device's new events (redacted for the role as the history
//! API redacts them) and its queue as a command is delivered and acknowledged, end when the
//! key is revoked; the overview's counters move with the log; the script is served from the
//! binary under the policy; the device list as of a past point shows the fleet as it was.

mod common;

use std::time::Duration;

use annal_schemas::events::apikey::Role;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::console::{assert_protected, assert_safe_page, enroll_named, key_id, signed_in, Browser};
use common::inprocess::{app, App, ADMIN_KEY};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// How long a frame may take to come.
const WAIT: Duration = Duration::from_secs(10);

/// An open SSE response, read frame by frame.
struct Frames {
    body: Body,
    buffer: String,
}

#[derive(Debug)]
struct Frame {
    event: String,
    id: Option<String>,
    data: String,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{}: {e}: {}", self.event, self.data))
    }
}

impl Frames {
    /// The next frame (keep-alive comments skipped); `None` when the body ended.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        frame.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        frame.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !frame.data.is_empty() {
                            frame.data.push('\n');
                        }
                        frame.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(frame);
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("a frame within the wait")?;
            let chunk = chunk.expect("the body reads");
            if let Ok(data) = chunk.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// Frames until one named `event` satisfies `want`; panics after `WAIT` or at the end.
    async fn until(&mut self, event: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no {event} frame as wanted");
            let frame = self
                .next()
                .await
                .unwrap_or_else(|| panic!("the stream ended before {event}"));
            if frame.event == event {
                let value = frame.json();
                if want(&value) {
                    return value;
                }
            }
        }
    }
}

/// Opens `path` with the browser's cookies and whatever `headers`; the response's status,
/// headers and its body as frames.
async fn open(
    browser: &Browser<'_>,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Frames) {
    let cookie = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut request = Request::builder().uri(path);
    if !cookie.is_empty() {
        request = request.header(header::COOKIE, cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = browser
        .app
        .server
        .router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        Frames {
            body,
            buffer: String::new(),
        },
    )
}

/// Queues `command` for `udid` through the admin API (as the admin key, with a reason); its
/// CommandUUID.
async fn queue(app: &App, udid: &str, command: Value) -> String {
    let (status, answer) = app
        .call(
            Method::POST,
            "/v1/commands",
            ADMIN_KEY,
            Some(json!({"enrollments": [udid], "command": command, "reason": "reported lost"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["command_uuid"].as_str().expect("command_uuid").to_string()
}

async fn lock(app: &App, udid: &str) -> String {
    queue(app, udid, json!({"RequestType": "DeviceLock"})).await
}

/// The device polls, takes its next command and answers it with `responses`; the command's
/// RequestType and CommandUUID.
async fn answer_next(app: &App, d: &annal::testkit::sim::VirtualDevice, responses: plist::Dictionary) {
    let (idle, _) = d.idle().unwrap();
    let (status, command) = app.device_request(d, idle, false).await;
    assert_eq!(status, StatusCode::OK);
    let command: plist::Dictionary = plist::from_bytes(&command).expect("a command");
    let uuid = command["CommandUUID"].as_string().expect("CommandUUID");
    let (status, _) = app
        .device_request(d, d.result(uuid, "Acknowledged", responses), false)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn live_streams_need_a_session_and_the_script_is_served_under_the_policy() {
    let app = app().await;
    let d = enroll_named(&app, 1, "Front desk").await;
    let anonymous = Browser::new(&app);
    for path in ["/console/live".to_string(), format!("/console/devices/{}/live", d.udid)] {
        let (status, headers, _) = open(&anonymous, &path, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/console/login", "{path}");
    }
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let script = browser.get("/console/static/live.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_protected("live.js", &script);
    assert!(script.body.contains("new EventSource"));
    assert!(!script.body.contains("innerHTML"), "the script never inserts markup");
    // Every page loads it by src, and the hooks are on the overview and the device page only
    // when it is the present (no live stream in a past view).
    let overview = browser.get("/console").await;
    assert!(overview
        .body
        .contains("<script src=\"/console/static/live.js\" defer></script>"));
    assert!(overview.body.contains("data-live-src=\"/console/live\""));
    assert!(
        overview.body.contains("data-counter=\"enrolled\">1<"),
        "{}",
        overview.body
    );
    assert_safe_page("/console", &overview.body);
    let page = browser.get(&format!("/console/devices/{}", d.udid)).await;
    assert!(page
        .body
        .contains(&format!("data-live-src=\"/console/devices/{}/live?from=", d.udid)));
    assert_safe_page("device", &page.body);
    let past = browser
        .get(&format!("/console/devices/{}?as_of_position=1", d.udid))
        .await;
    assert!(!past.body.contains("data-live-src"));
    // An unknown device has no stream.
    let (status, _, _) = open(&browser, "/console/devices/NOPE/live", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = open(&browser, &format!("/console/devices/{}/live?from=x", d.udid), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_device_stream_carries_delivery_and_answer_and_the_queue() {
    let app = app().await;
    let d = enroll_named(&app, 1, "Front desk").await;
    let browser = signed_in(&app, ADMIN_KEY).await;
    let path = format!("/console/devices/{}/live", d.udid);
    let (status, headers, mut frames) = open(&browser, &path, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_protected(
        &path,
        &common::console::Answer {
            status,
            headers: headers.clone(),
            body: String::new(),
        },
    );

    let uuid = lock(&app, &d.udid).await;
    let queued = frames.until("history", |r| r["event_type"] == "CommandQueued").await;
    assert_eq!(queued["actor"], "api-key:admin");
    assert!(queued["data"].as_str().unwrap().contains("reported lost"), "{queued}");
    let queue = frames
        .until("queue", |q| q.as_array().is_some_and(|q| !q.is_empty()))
        .await;
    assert_eq!(queue[0]["command_uuid"], uuid.as_str());
    assert_eq!(queue[0]["request_type"], "DeviceLock");
    assert_eq!(queue[0]["reason"], "reported lost");

    // The device polls, gets the lock, and acknowledges it.
    answer_next(&app, &d, Default::default()).await;
    frames.until("history", |r| r["event_type"] == "CommandDelivered").await;
    let answered = frames
        .until("history", |r| r["event_type"] == "CommandAcknowledged")
        .await;
    // Recorded as the device (its identity), not as the key that queued it.
    assert_ne!(answered["actor"], "api-key:admin");
    assert!(!answered["actor"].as_str().unwrap().is_empty());
    frames.until("queue", |q| q.as_array().is_some_and(Vec::is_empty)).await;

    // A reconnect resumes after the last event seen (Last-Event-ID), not from the start.
    let position = answered["position"].as_u64().unwrap();
    let (_, _, mut resumed) = open(&browser, &path, &[("last-event-id", &(position - 1).to_string())]).await;
    let first = resumed.next().await.unwrap();
    assert_eq!(first.event, "history");
    assert_eq!(first.id.as_deref(), Some(position.to_string().as_str()));
}

#[tokio::test]
async fn a_device_stream_redacts_as_the_history_api_does_for_the_role() {
    let app = app().await;
    let d = enroll_named(&app, 1, "Front desk").await;
    let auditor = app.key("dana", Role::Auditor).await;
    let browser = signed_in(&app, &auditor).await;
    // From the device's first event: its Authenticate and its TokenUpdate (which holds secrets).
    let (_, _, mut frames) = open(&browser, &format!("/console/devices/{}/live?from=1", d.udid), &[]).await;
    let (_, history) = app
        .get(&format!("/v1/devices/{}/history?include_raw=true", d.udid), &auditor)
        .await;
    let events = history["events"].as_array().expect("history events");
    for event_type in ["Authenticate", "TokenUpdate"] {
        let live = frames.until("history", |r| r["event_type"] == event_type).await;
        let api = events.iter().find(|e| e["event_type"] == event_type).unwrap();
        assert_eq!(live["position"], api["global_position"]);
        match api.get("raw") {
            Some(raw) => assert_eq!(
                &live["raw"], raw,
                "{event_type}: the same raw as the API gives the role"
            ),
            None => {
                assert!(live["raw"].is_null(), "{event_type}: {live}");
                assert!(live["raw_note"].as_str().unwrap().contains("sealed"), "{live}");
            }
        }
    }
}

#[tokio::test]
async fn a_revoked_key_s_stream_ends() {
    let app = app().await;
    enroll_named(&app, 1, "Front desk").await;
    let carol = app.key("carol", Role::Operator).await;
    let browser = signed_in(&app, &carol).await;
    let (status, _, mut frames) = open(&browser, "/console/live", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let first = frames.until("counters", |_| true).await;
    assert_eq!(first["enrolled"], 1);
    assert_eq!(first["pending"], 0);
    // The counters follow the log.
    let head = first["head"].as_u64().unwrap();
    lock(&app, &common::console::enroll_named(&app, 2, "Second").await.udid).await;
    let moved = frames
        .until("counters", |c| c["head"].as_u64() > Some(head) && c["pending"] == 1)
        .await;
    assert!(moved["lag"].is_u64(), "{moved}");
    app.server
        .state
        .admin
        .keys()
        .revoke(&key_id(&carol), Some("left".into()), "api-key:admin")
        .await
        .unwrap();
    loop {
        let frame = frames.next().await.expect("an end frame before the body ends");
        if frame.event == "end" {
            assert_eq!(frame.data, "session");
            break;
        }
    }
    assert!(frames.next().await.is_none(), "the body ends after the end frame");
}

#[tokio::test]
async fn the_device_list_shows_the_fleet_as_of_a_past_point() {
    let app = app().await;
    let first = enroll_named(&app, 1, "Front desk").await;
    let before = app.head().await;
    let second = enroll_named(&app, 2, "Back office").await;
    // The first device is renamed afterwards (its answer to DeviceInformation).
    queue(
        &app,
        &first.udid,
        json!({"RequestType": "DeviceInformation", "Queries": ["DeviceName"]}),
    )
    .await;
    let mut responses = plist::Dictionary::new();
    responses.insert("DeviceName".into(), plist::Value::String("Renamed".into()));
    let mut answer = plist::Dictionary::new();
    answer.insert("QueryResponses".into(), plist::Value::Dictionary(responses));
    answer_next(&app, &first, answer).await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;

    let now = browser.get("/console/devices").await;
    assert!(now.body.contains("Renamed") && now.body.contains("Back office"));
    assert!(!now.body.contains("As the log knew the fleet"));
    let path = format!("/console/devices?as_of_position={before}");
    let then = browser.get(&path).await;
    assert_eq!(then.status, StatusCode::OK, "{}", then.body);
    assert_safe_page(&path, &then.body);
    assert!(then
        .body
        .contains(&format!("As the log knew the fleet at log position {before}")));
    assert!(then.body.contains("Front desk"), "the name it had then");
    assert!(
        !then.body.contains("Renamed") && !then.body.contains("Back office"),
        "{}",
        then.body
    );
    assert!(
        then.body
            .contains(&format!("/console/devices/{}?as_of_position={before}", first.udid)),
        "each device opens as of the same point"
    );
    // The search applies to the devices as they were then, and stays in the past view.
    let named = browser
        .get(&format!("/console/devices?as_of_position={before}&name=front"))
        .await;
    assert!(named.body.contains(&first.udid), "{}", named.body);
    let renamed_then = browser
        .get(&format!("/console/devices?as_of_position={before}&name=renamed"))
        .await;
    assert!(renamed_then.body.contains("No device matches"));
    assert!(browser
        .get("/console/devices?name=renamed")
        .await
        .body
        .contains(&first.udid));
    // A time before anything: nothing; a bad point: refused.
    let empty = browser.get("/console/devices?as_of_time=2000-01-01T00:00").await;
    assert!(empty.body.contains("No device matches"), "{}", empty.body);
    assert!(!empty.body.contains(&second.udid));
    let both = browser
        .get("/console/devices?as_of_time=2000-01-01T00:00&as_of_position=3")
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
}
