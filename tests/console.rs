//! The web console, in process through the real router on a real SQLite log: sign-in and its
//! cookie, refused keys, the session events, CSRF, the security headers and what the HTML may
//! not contain, a hostile device name rendered as text, a DeviceLock sent with a reason (and
//! refused without one) audited under the key's name, an auditor's forged POST refused, sign-out
//! and a revoked key's session.

mod common;

use annal_schemas::events::apikey::Role;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::console::{
    assert_protected, assert_safe_page, enroll_named, field, key_id, session_events, signed_in, Browser, HOSTILE,
    HOSTILE_ESCAPED,
};
use common::inprocess::{app, ADMIN_KEY};
use serde_json::Value;

#[tokio::test]
async fn sign_in_with_an_admin_key_sets_a_strict_secure_http_only_cookie() {
    let app = app().await;
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in(ADMIN_KEY).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/console");
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("annal_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    // 256 random bits, URL-safe base64 without padding.
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("annal_console=")
        .unwrap();
    assert_eq!(id.len(), 43, "{id}");
    let overview = browser.get("/console").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(overview
        .body
        .contains("Signed in as <strong>api-key:admin</strong> (admin)"));
    assert!(overview.body.contains("enrolled devices"));
    // The session is on the log with the key's actor, and never the id itself.
    let events = session_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "ConsoleSessionStarted");
    assert_eq!(events[0].1, "api-key:admin");
    assert_eq!(events[0].2["role"], "admin");
    assert!(!events[0].2.to_string().contains(id));
    assert_eq!(events[0].2["session_id_sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn a_wrong_key_and_an_enrollment_key_are_refused() {
    let app = app().await;
    let enrollment = app.key("lobby", Role::Enrollment).await;
    let head = app.head().await;
    for key in ["annal_0123456789abcdef_wrong", "not even a key", enrollment.as_str()] {
        let mut browser = Browser::new(&app);
        let answer = browser.sign_in(key).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{key}: {}", answer.body);
        assert!(
            !answer.set_cookies().iter().any(|c| c.starts_with("annal_console=")),
            "{key}: a session cookie was set"
        );
        assert!(!browser.cookies.contains_key("annal_console"));
        assert_eq!(browser.get("/console").await.location(), "/console/login");
    }
    // An empty key, and a sign-in without the form's own token.
    let mut browser = Browser::new(&app);
    let form = browser.get("/console/login").await;
    let token = field(&form.body, "csrf").unwrap();
    let empty = browser
        .post("/console/login", &[("csrf", &token), ("api_key", "")])
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let mut stranger = Browser::new(&app);
    let forged = stranger
        .post("/console/login", &[("csrf", &token), ("api_key", ADMIN_KEY)])
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "no sign-in cookie: {}",
        forged.body
    );
    let mut cross = Browser::new(&app);
    let form = cross.get("/console/login").await;
    let token = field(&form.body, "csrf").unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/console/login")
        .header("Sec-Fetch-Site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let body = serde_urlencoded::to_string([("csrf", token.as_str()), ("api_key", ADMIN_KEY)]).unwrap();
    assert_eq!(
        cross.send(request, Body::from(body)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.head().await, head, "a refused sign-in appends nothing");
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_the_sign_in_form() {
    let app = app().await;
    let mut browser = Browser::new(&app);
    let root = browser.get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.location(), "/console");
    for path in [
        "/console",
        "/console/devices",
        "/console/devices/ABC",
        "/console/audit",
        "/console/audit/export?format=csv",
    ] {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), "/console/login", "{path}");
        assert_protected(path, &answer);
    }
    // A made-up cookie is no session either.
    browser.cookies.insert("annal_console".into(), "A".repeat(43));
    assert_eq!(browser.get("/console").await.location(), "/console/login");
    // And an action without a session is refused outright.
    let head = app.head().await;
    let answer = browser
        .post(
            "/console/devices/ABC/commands",
            &[("request_type", "DeviceLock"), ("reason", "r"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.post("/console/logout", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn every_page_has_the_policy_and_no_inline_script_or_style() {
    let app = app().await;
    let d = enroll_named(&app, 1, HOSTILE).await;
    let enrolled = app.head().await;
    let mut anonymous = Browser::new(&app);
    let login = anonymous.get("/console/login").await;
    assert_protected("/console/login", &login);
    assert_safe_page("/console/login", &login.body);
    assert_eq!(
        login.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "pages are not cached"
    );
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let device = format!("/console/devices/{}", d.udid);
    let pages = [
        "/console".to_string(),
        "/console/devices".to_string(),
        "/console/devices?name=img".to_string(),
        device.clone(),
        format!("{device}?as_of_position={enrolled}"),
        "/console/audit".to_string(),
    ];
    for path in &pages {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_protected(path, &answer);
        assert_eq!(answer.headers.get(header::CACHE_CONTROL).unwrap(), "no-store", "{path}");
        assert!(answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_safe_page(path, &answer.body);
    }
    // The confirmation step and an error page too.
    let page = browser.get(&device).await;
    let csrf = field(&page.body, "csrf").unwrap();
    let confirm = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("request_type", "DeviceLock"),
                ("reason", "lost"),
                ("message", HOSTILE),
            ],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_protected("confirmation", &confirm);
    assert_safe_page("confirmation", &confirm.body);
    let missing = browser.get("/console/devices/NOPE").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_protected("404", &missing);
    assert_safe_page("404", &missing.body);
    // The stylesheet is the server's own.
    let css = browser.get("/console/static/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_protected("css", &css);
}

#[tokio::test]
async fn a_hostile_device_name_renders_as_text() {
    let app = app().await;
    let d = enroll_named(&app, 1, HOSTILE).await;
    enroll_named(&app, 2, "Front desk iPad").await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let device = format!("/console/devices/{}", d.udid);
    for path in ["/console/devices", "/console/devices?name=onerror", device.as_str()] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains(HOSTILE_ESCAPED),
            "{path}: the name is not shown escaped"
        );
        assert!(!page.body.contains(HOSTILE), "{path}: the name is markup");
        assert!(!page.body.contains("<img"), "{path}");
    }
    // The search found the one device by its name, and not the other.
    let found = browser.get("/console/devices?name=ONERROR").await;
    assert!(found.body.contains(&d.udid));
    assert!(!found.body.contains("Front desk iPad"));
    // The other search fields use the API's inventory filter.
    let by_serial = browser.get(&format!("/console/devices?serial={}", d.serial)).await;
    assert!(by_serial.body.contains(&d.udid));
    assert!(!by_serial.body.contains("Front desk iPad"));
    let by_udid = browser.get(&format!("/console/devices?udid={}", d.udid)).await;
    assert!(by_udid.body.contains(HOSTILE_ESCAPED));
    assert!(!by_udid.body.contains("Front desk iPad"));
    let no_os = browser.get("/console/devices?os=99.").await;
    assert!(no_os.body.contains("No device matches"));
}

#[tokio::test]
async fn a_lock_with_a_reason_is_queued_and_audited_under_the_key() {
    let app = app().await;
    let alice = app.key("alice", Role::Admin).await;
    let d = enroll_named(&app, 1, HOSTILE).await;
    let mut browser = signed_in(&app, &alice).await;
    let device = format!("/console/devices/{}", d.udid);
    let page = browser.get(&device).await;
    assert!(page.body.contains("<option value=\"DeviceLock\">"));
    let csrf = field(&page.body, "csrf").unwrap();
    let reason = "ticket 4711: reported stolen";
    let head = app.head().await;
    // Step one: the confirmation names the device, and queues nothing.
    let confirm = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("request_type", "DeviceLock"),
                ("message", "Call 555-0100"),
                ("reason", reason),
            ],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.body.contains(HOSTILE_ESCAPED) && confirm.body.contains(&d.udid));
    assert!(confirm.body.contains(&d.serial));
    assert_eq!(app.head().await, head, "the confirmation step appends nothing");
    let key = field(&confirm.body, "idempotency_key").unwrap();
    // Step two: queued.
    let fields = [
        ("csrf", csrf.as_str()),
        ("confirm", "yes"),
        ("idempotency_key", key.as_str()),
        ("request_type", "DeviceLock"),
        ("message", "Call 555-0100"),
        ("reason", reason),
    ];
    let sent = browser.post(&format!("{device}/commands"), &fields).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(
        sent.location().starts_with(&format!("{device}?sent=")),
        "{}",
        sent.location()
    );
    let shown = browser.get(sent.location()).await;
    assert!(shown.body.contains("queued."));
    assert!(shown.body.contains("DeviceLock"));
    // Sent twice (a reload), queued once.
    let again = browser.post(&format!("{device}/commands"), &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let (_, queue) = app.get(&format!("/v1/devices/{}/queue", d.udid), ADMIN_KEY).await;
    let commands = queue["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1, "{queue}");
    assert_eq!(commands[0]["request_type"], "DeviceLock");
    // The audit trail has the key's name and the reason.
    let (_, audit) = app.get("/v1/audit?request_type=DeviceLock", ADMIN_KEY).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["requester"], "api-key:alice");
    assert_eq!(entries[0]["reason"], reason);
    // So do the console's audit page and its CSV export (the audit endpoint's own).
    let trail = browser.get("/console/audit?request_type=DeviceLock").await;
    assert!(trail.body.contains("api-key:alice") && trail.body.contains(reason));
    let csv = browser
        .get("/console/audit/export?request_type=DeviceLock&format=csv")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("attachment"));
    assert!(csv.body.starts_with("\"queued_at\"") || csv.body.starts_with("queued_at"));
    assert!(
        csv.body.contains("\"api-key:alice\"") && csv.body.contains(reason),
        "{}",
        csv.body
    );
    // Alice's sign-in is in her trail too.
    let ndjson = browser
        .get("/console/audit/export?format=ndjson&actor=api-key:alice")
        .await;
    let types: Vec<String> = ndjson
        .body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["ConsoleSessionStarted", "DeviceLock"], "{}", ndjson.body);
}

#[tokio::test]
async fn a_lock_without_a_reason_is_refused() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let device = format!("/console/devices/{}", d.udid);
    let csrf = field(&browser.get(&device).await.body, "csrf").unwrap();
    let head = app.head().await;
    for confirm in ["", "yes"] {
        for reason in ["", "   "] {
            let answer = browser
                .post(
                    &format!("{device}/commands"),
                    &[
                        ("csrf", &csrf),
                        ("confirm", confirm),
                        ("request_type", "DeviceLock"),
                        ("reason", reason),
                    ],
                )
                .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
            assert!(answer.body.contains("give a reason"), "{}", answer.body);
        }
    }
    assert_eq!(app.head().await, head);
    // A routine command needs none.
    let answer = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("confirm", "yes"),
                ("request_type", "DeviceInformation"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_appends_nothing() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let device = format!("/console/devices/{}", d.udid);
    let csrf = field(&browser.get(&device).await.body, "csrf").unwrap();
    let head = app.head().await;
    let lock = |token: &'static str| {
        vec![
            ("csrf", token),
            ("confirm", "yes"),
            ("request_type", "DeviceLock"),
            ("reason", "lost"),
        ]
    };
    for token in ["", "wrong", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let mut fields = lock(token);
        if token.is_empty() {
            fields.remove(0);
        }
        let answer = browser.post(&format!("{device}/commands"), &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{token:?}: {}", answer.body);
        assert_protected("403", &answer);
    }
    // Another session's token is not this one's.
    let other = signed_in(&app, ADMIN_KEY).await;
    drop(other);
    let mut second = signed_in(&app, ADMIN_KEY).await;
    let their = field(&second.get(&device).await.body, "csrf").unwrap();
    assert_ne!(their, csrf);
    let head_after_sign_ins = app.head().await;
    let answer = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &their),
                ("confirm", "yes"),
                ("request_type", "DeviceLock"),
                ("reason", "lost"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Cancel and sign-out without it are refused too; the session stays.
    let cancel = browser.post(&format!("{device}/commands/X/cancel"), &[]).await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.post("/console/logout", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/console").await.status, StatusCode::OK);
    assert_eq!(app.head().await, head_after_sign_ins, "refused POSTs append nothing");
    assert_eq!(head_after_sign_ins, head + 2, "only the two sign-ins were recorded");
}

#[tokio::test]
async fn an_auditor_sees_no_buttons_and_its_forged_post_is_refused() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let auditor = app.key("compliance", Role::Auditor).await;
    let operator = app.key("helpdesk", Role::Operator).await;
    // A command waiting, so the queue has something to cancel.
    let (status, queued) = app
        .call(
            Method::POST,
            "/v1/commands",
            ADMIN_KEY,
            Some(serde_json::json!({"enrollments": [d.udid], "command": {"RequestType": "ProfileList"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    let uuid = queued["command_uuid"].as_str().unwrap().to_string();
    let device = format!("/console/devices/{}", d.udid);

    let mut browser = signed_in(&app, &auditor).await;
    let page = browser.get(&device).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ProfileList"), "the auditor sees the queue");
    assert!(!page.body.contains("/commands\""), "no send form for an auditor");
    assert!(!page.body.contains("/cancel\""), "no cancel button for an auditor");
    assert!(!page.body.contains("DeviceLock"));
    let csrf = field(&page.body, "csrf").expect("the sign-out form's token");
    let head = app.head().await;
    for confirm in ["", "yes"] {
        let forged = browser
            .post(
                &format!("{device}/commands"),
                &[
                    ("csrf", &csrf),
                    ("confirm", confirm),
                    ("request_type", "DeviceLock"),
                    ("reason", "forged"),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
        assert!(forged.body.contains("read-only"), "{}", forged.body);
    }
    let info = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("confirm", "yes"),
                ("request_type", "DeviceInformation"),
            ],
        )
        .await;
    assert_eq!(info.status, StatusCode::FORBIDDEN);
    let cancel = browser
        .post(&format!("{device}/commands/{uuid}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    assert_eq!(app.head().await, head, "the auditor's forged POSTs append nothing");

    // An operator may send routine commands and cancel, not lock.
    let mut helpdesk = signed_in(&app, &operator).await;
    let page = helpdesk.get(&device).await;
    assert!(page.body.contains("<option value=\"DeviceInformation\">"));
    assert!(!page.body.contains("<option value=\"DeviceLock\">"));
    assert!(page.body.contains(&format!("/commands/{uuid}/cancel\"")));
    let csrf = field(&page.body, "csrf").unwrap();
    let lock = helpdesk
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("confirm", "yes"),
                ("request_type", "DeviceLock"),
                ("reason", "r"),
            ],
        )
        .await;
    assert_eq!(lock.status, StatusCode::FORBIDDEN);
    let cancelled = helpdesk
        .post(
            &format!("{device}/commands/{uuid}/cancel"),
            &[("csrf", &csrf), ("reason", "sent by mistake")],
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER, "{}", cancelled.body);
    let (_, queue) = app.get(&format!("/v1/devices/{}/queue", d.udid), ADMIN_KEY).await;
    assert!(queue["commands"].as_array().unwrap().is_empty(), "{queue}");
    let (_, status) = app.get(&format!("/v1/commands/{uuid}"), ADMIN_KEY).await;
    let cancelled_by = &status["devices"][0]["cancelled_by"];
    assert!(cancelled_by.as_str().unwrap().contains("helpdesk"), "{status}");
}

#[tokio::test]
async fn sign_out_ends_the_session_and_both_are_recorded_under_the_key() {
    let app = app().await;
    let bob = app.key("bob", Role::Operator).await;
    let mut browser = signed_in(&app, &bob).await;
    let session = browser.cookies["annal_console"].clone();
    let page = browser.get("/console").await;
    let csrf = field(&page.body, "csrf").unwrap();
    let out = browser.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/console/login");
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("annal_console=;") && c.contains("Max-Age=0")));
    assert_eq!(browser.get("/console").await.location(), "/console/login");
    // The old cookie, replayed, opens nothing.
    browser.cookies.insert("annal_console".into(), session.clone());
    assert_eq!(browser.get("/console").await.location(), "/console/login");
    let events = session_events(&app).await;
    let summary: Vec<(&str, &str)> = events.iter().map(|(t, a, _)| (t.as_str(), a.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("ConsoleSessionStarted", "api-key:bob"),
            ("ConsoleSessionEnded", "api-key:bob")
        ]
    );
    assert_eq!(events[0].2["role"], "operator");
    assert_eq!(events[0].2["key_id"], key_id(&bob));
    assert_eq!(events[1].2["reason"], "signed_out");
    assert_eq!(events[0].2["session_id_sha256"], events[1].2["session_id_sha256"]);
    for (_, _, data) in &events {
        assert!(!data.to_string().contains(&session) && !data.to_string().contains(&bob));
    }
    // The audit trail shows who signed in and out.
    let (_, audit) = app.get("/v1/audit?actor=api-key:bob", ADMIN_KEY).await;
    let types: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ConsoleSessionStarted", "ConsoleSessionEnded"], "{audit}");
}

#[tokio::test]
async fn a_revoked_key_s_session_stops_at_its_next_request() {
    let app = app().await;
    let carol = app.key("carol", Role::Admin).await;
    let mut browser = signed_in(&app, &carol).await;
    assert_eq!(browser.get("/console/devices").await.status, StatusCode::OK);
    app.server
        .state
        .admin
        .keys()
        .revoke(&key_id(&carol), Some("left".into()), "api-key:admin")
        .await
        .unwrap();
    let next = browser.get("/console/devices").await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    assert_eq!(next.location(), "/console/login");
    let events = session_events(&app).await;
    assert_eq!(events.last().unwrap().0, "ConsoleSessionEnded");
    assert_eq!(events.last().unwrap().2["reason"], "key_revoked");
    assert_eq!(events.last().unwrap().1, "api-key:carol");
    // And the key no longer signs in.
    assert_eq!(browser.sign_in(&carol).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_device_page_reads_as_of_a_past_point() {
    let app = app().await;
    let d = enroll_named(&app, 1, "Before").await;
    let before = app.head().await;
    // A command queued after that point.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/commands",
            ADMIN_KEY,
            Some(serde_json::json!({"enrollments": [d.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["DeviceName"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let now = browser.get(&format!("/console/devices/{}", d.udid)).await;
    assert!(now.body.contains("DeviceInformation"), "the queue shows the command");
    let then = browser
        .get(&format!("/console/devices/{}?as_of_position={before}", d.udid))
        .await;
    assert_eq!(then.status, StatusCode::OK, "{}", then.body);
    assert!(then.body.contains(&format!("log position {before}")));
    assert!(!then.body.contains("CommandQueued"), "the history stops at the point");
    assert!(now.body.contains("CommandQueued"));
    assert!(then.body.contains("TokenUpdate"));
    let both = browser
        .get(&format!(
            "/console/devices/{}?as_of_position=1&as_of_time=2026-01-01T00:00:00Z",
            d.udid
        ))
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    let early = browser
        .get(&format!("/console/devices/{}?as_of_time=2000-01-01T00:00", d.udid))
        .await;
    assert_eq!(early.status, StatusCode::NOT_FOUND, "{}", early.body);
}
