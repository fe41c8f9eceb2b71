//! The web console's enrollment, key and command pages, in process through the real router on a
//! real SQLite log: every new page carries the policy and no inline script or style; enrollment
//! tokens and API keys created and revoked under the signed-in key's name (the events' actor);
//! the roles the API refuses get 403, no buttons, and nothing appended; the push certificate's
//! renewal installed and another topic refused by the topic guard; the enrollment profile
//! downloaded with its challenge recorded under the key; the send form built from Apple's schema
//! refusing a bad enum value or number with nothing queued; one command to several devices
//! reaching each queue, with its fan-out page showing each device's answer; a destructive
//! command to more than ten devices needing the typed count; a PIN kept off the page and sealed
//! in the log.

mod common;

use annal::mdm::commands::form::catalog;
use annal_schemas::events::apikey::Role;
use axum::http::{header, Method, StatusCode};
use common::console::{
    assert_protected, assert_safe_page, enroll_named, field, signed_in, Answer, Browser, HOSTILE, HOSTILE_ESCAPED,
};
use common::inprocess::{app, App, ADMIN_KEY, TOPIC};
use serde_json::Value;

/// The events appended after `position`: (stream, type, actor, data).
async fn events_after(app: &App, position: u64) -> Vec<(String, String, String, Value)> {
    app.server
        .state
        .store
        .read_all(position + 1, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let data = serde_json::from_slice(&e.data).unwrap_or(Value::Null);
            (e.stream, e.event_type, e.actor, data)
        })
        .collect()
}

fn assert_page(path: &str, answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{path}: {}", answer.body);
    assert_protected(path, answer);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{path}"
    );
    assert_safe_page(path, &answer.body);
}

/// A push certificate and key (PEM) for `topic`, made by the openssl CLI.
fn push_pem(dir: &std::path::Path, name: &str, topic: &str) -> (String, String) {
    let (cert, key) = common::push::push_cert(dir, name, topic, 365);
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

/// The CommandUUID of the command a device gets on its next Idle (None: nothing queued).
async fn next_command(app: &App, d: &annal::testkit::sim::VirtualDevice) -> Option<String> {
    let (status, body) = app.device_request(d, d.idle().unwrap().0, false).await;
    assert_eq!(status, StatusCode::OK);
    if body.is_empty() {
        return None;
    }
    let command: plist::Dictionary = plist::from_bytes(&body).unwrap();
    command
        .get("CommandUUID")
        .and_then(|v| v.as_string())
        .map(str::to_string)
}

async fn answer(app: &App, d: &annal::testkit::sim::VirtualDevice, uuid: &str, status: &str) {
    let (code, _) = app
        .device_request(d, d.result(uuid, status, plist::Dictionary::new()), false)
        .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn every_new_page_has_the_policy_and_no_inline_script_or_style() {
    let app = app().await;
    let d = enroll_named(&app, 1, HOSTILE).await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let mut pages = vec![
        "/console/enrollment".to_string(),
        "/console/push-certificate".to_string(),
        "/console/keys".to_string(),
        "/console/send".to_string(),
        format!("/console/send?device={}", d.udid),
    ];
    // The form of every command in Apple's schema.
    for (request_type, _) in catalog() {
        pages.push(format!("/console/send?request_type={request_type}&device={}", d.udid));
    }
    for path in &pages {
        let page = browser.get(path).await;
        assert_page(path, &page, StatusCode::OK);
    }
    // The admin sees every section in the navigation.
    let page = browser.get("/console/keys").await;
    for link in ["/console/enrollment", "/console/push-certificate", "/console/keys"] {
        assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
    }
    // The device list offers its devices to the send form.
    let list = browser.get("/console/devices").await;
    assert!(list.body.contains("action=\"/console/send\""), "{}", list.body);
    assert!(list.body.contains(&format!("name=\"device\" value=\"{}\"", d.udid)));

    let csrf = field(&page.body, "csrf").unwrap();
    // The confirmation, a form sent back with a refusal, the pages that show a secret once.
    let confirm = browser
        .post(
            "/console/send",
            &[
                ("csrf", &csrf),
                ("request_type", "DeviceLock"),
                ("device", &d.udid),
                ("k.Message", HOSTILE),
                ("reason", "lost"),
            ],
        )
        .await;
    assert_page("confirmation", &confirm, StatusCode::OK);
    assert!(confirm.body.contains(HOSTILE_ESCAPED) && !confirm.body.contains(HOSTILE));
    let refused = browser
        .post(
            "/console/send",
            &[("csrf", &csrf), ("request_type", "DeviceLock"), ("device", &d.udid)],
        )
        .await;
    assert_page("refused form", &refused, StatusCode::BAD_REQUEST);
    let token = browser
        .post("/console/enrollment/tokens", &[("csrf", &csrf), ("name", "lobby")])
        .await;
    assert_page("token created", &token, StatusCode::CREATED);
    let key = browser
        .post(
            "/console/keys",
            &[("csrf", &csrf), ("name", "helpdesk"), ("role", "operator")],
        )
        .await;
    assert_page("key created", &key, StatusCode::CREATED);
    // A fan-out page.
    let (status, queued) = app
        .call(
            Method::POST,
            "/v1/commands",
            ADMIN_KEY,
            Some(serde_json::json!({"enrollments": [d.udid], "command": {"RequestType": "ProfileList"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    let uuid = queued["command_uuid"].as_str().unwrap();
    let fan_out = browser.get(&format!("/console/commands/{uuid}")).await;
    assert_page("fan-out", &fan_out, StatusCode::OK);
    assert!(fan_out.body.contains(HOSTILE_ESCAPED));
    let missing = browser.get("/console/commands/NO-SUCH-COMMAND").await;
    assert_page("fan-out 404", &missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enrollment_tokens_are_created_and_revoked_under_the_signed_in_key() {
    let app = app().await;
    let alice = app.key("alice", Role::Admin).await;
    let mut browser = signed_in(&app, &alice).await;
    let page = browser.get("/console/enrollment").await;
    assert!(page.body.contains("No enrollment token yet"), "{}", page.body);
    let csrf = field(&page.body, "csrf").unwrap();
    let before = app.head().await;
    let created = browser
        .post("/console/enrollment/tokens", &[("csrf", &csrf), ("name", "lobby")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.contains("only time"));
    // The enroll URL carries the token, once.
    let start = created.body.find("/enroll?token=").expect("the enroll URL") + "/enroll?token=".len();
    let token: String = created.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let verified = app.server.state.admin.keys().verify(&token).await.unwrap();
    assert_eq!(verified.map(|c| c.role), Some(Role::Enrollment));
    let events = events_after(&app, before).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (stream, kind, actor, data) = &events[0];
    assert_eq!(
        (stream.as_str(), kind.as_str(), actor.as_str()),
        ("api-keys", "ApiKeyCreated", "api-key:alice")
    );
    assert_eq!(data["role"], "enrollment");
    assert!(!data.to_string().contains(&token), "the log keeps only its hash");
    let token_id = data["key_id"].as_str().unwrap().to_string();

    // Listed, never shown again; revoked by its button.
    let page = browser.get("/console/enrollment").await;
    assert!(page.body.contains("lobby") && page.body.contains(&token_id));
    assert!(!page.body.contains(&token));
    let revoke = format!("/console/enrollment/tokens/{token_id}/revoke");
    assert!(page.body.contains(&format!("action=\"{revoke}\"")));
    let before = app.head().await;
    let revoked = browser.post(&revoke, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    let events = events_after(&app, before).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("ApiKeyRevoked", "api-key:alice")
    );
    assert!(app.server.state.admin.keys().verify(&token).await.unwrap().is_none());
    let shown = browser.get(revoked.location()).await;
    assert!(shown.body.contains("revoked"));
    // Twice: the API's conflict, nothing appended.
    let head = app.head().await;
    assert_eq!(
        browser.post(&revoke, &[("csrf", &csrf)]).await.status,
        StatusCode::CONFLICT
    );
    // A name the key ring refuses, and none at all.
    let bad = browser
        .post("/console/enrollment/tokens", &[("csrf", &csrf), ("name", "no spaces")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let none = browser.post("/console/enrollment/tokens", &[("csrf", &csrf)]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn api_keys_are_created_and_revoked_under_the_signed_in_key() {
    let app = app().await;
    let alice = app.key("alice", Role::Admin).await;
    let mut browser = signed_in(&app, &alice).await;
    let page = browser.get("/console/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice"), "the keys are listed");
    let csrf = field(&page.body, "csrf").unwrap();
    let before = app.head().await;
    let created = browser
        .post(
            "/console/keys",
            &[("csrf", &csrf), ("name", "helpdesk"), ("role", "operator")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let start = created.body.find("annal_").expect("the key, shown once");
    let key: String = created.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    // It works on the admin API, with its role.
    let (status, _) = app.get("/v1/devices", &key).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator does not list keys");
    let events = events_after(&app, before).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("ApiKeyCreated", "api-key:alice")
    );
    assert_eq!(events[0].3["role"], "operator");
    assert_eq!(events[0].3["name"], "helpdesk");
    let key_id = events[0].3["key_id"].as_str().unwrap().to_string();
    // Shown once: the list has its id, never the key.
    let page = browser.get("/console/keys").await;
    assert!(page.body.contains(&key_id) && !page.body.contains(&key));

    let before = app.head().await;
    let revoked = browser
        .post(
            &format!("/console/keys/{key_id}/revoke"),
            &[("csrf", &csrf), ("reason", "left the team")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    let events = events_after(&app, before).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("ApiKeyRevoked", "api-key:alice")
    );
    assert_eq!(events[0].3["reason"], "left the team");
    let (status, _) = app.get("/v1/devices", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a revoked key opens nothing");
    // An enrollment role is not made here, an unknown key not revoked; nothing appended.
    let head = app.head().await;
    let wrong_role = browser
        .post(
            "/console/keys",
            &[("csrf", &csrf), ("name", "x"), ("role", "enrollment")],
        )
        .await;
    assert_eq!(wrong_role.status, StatusCode::BAD_REQUEST);
    let unknown = browser
        .post("/console/keys/0000000000000000/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn roles_the_api_refuses_get_403_no_buttons_and_append_nothing() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let victim = app.key("victim", Role::Operator).await;
    let victim_id = victim
        .strip_prefix("annal_")
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = push_pem(dir.path(), "ours", TOPIC);
    for role in [Role::Operator, Role::Auditor] {
        let name = format!("{role:?}").to_lowercase();
        let presented = app.key(&name, role).await;
        let mut browser = signed_in(&app, &presented).await;
        // No list of keys, and no link to it.
        let keys = browser.get("/console/keys").await;
        assert_eq!(keys.status, StatusCode::FORBIDDEN, "{name}");
        assert!(
            keys.body.contains("only the admin role may manage API keys"),
            "{}",
            keys.body
        );
        assert!(
            !keys.body.contains("href=\"/console/keys\""),
            "{name}: a link to a refused page"
        );
        // The pages read, with no form for what the role may not do.
        let enrollment = browser.get("/console/enrollment").await;
        assert_eq!(enrollment.status, StatusCode::OK);
        for action in [
            "/console/enrollment/tokens\"",
            "/console/enrollment/profile\"",
            "/revoke\"",
        ] {
            assert!(!enrollment.body.contains(action), "{name}: {action}");
        }
        let push = browser.get("/console/push-certificate").await;
        assert_eq!(push.status, StatusCode::OK);
        assert!(!push.body.contains("action=\"/console/push-certificate\""), "{name}");
        assert!(push
            .body
            .contains("only the admin role may install the push certificate"));
        let csrf = field(&push.body, "csrf").unwrap();
        // Forged POSTs with the session's own token: refused, nothing appended.
        let head = app.head().await;
        for (path, fields) in [
            (
                "/console/keys".to_string(),
                vec![("name", "mallory"), ("role", "admin")],
            ),
            (format!("/console/keys/{victim_id}/revoke"), vec![]),
            ("/console/enrollment/tokens".to_string(), vec![("name", "mallory")]),
            (format!("/console/enrollment/tokens/{victim_id}/revoke"), vec![]),
            ("/console/enrollment/profile".to_string(), vec![]),
            (
                "/console/push-certificate".to_string(),
                vec![("certificate", cert.as_str()), ("private_key", key.as_str())],
            ),
        ] {
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let answer = browser.post(&path, &fields).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{name} {path}: {}", answer.body);
            assert_protected(&path, &answer);
        }
        assert_eq!(app.head().await, head, "{name}: the refused POSTs appended nothing");
        // The victim's key still works.
        assert_eq!(app.get("/v1/devices", &victim).await.0, StatusCode::OK);

        // Commands: the operator's picker holds only what it may send; the auditor gets none.
        let send = browser.get(&format!("/console/send?device={}", d.udid)).await;
        match role {
            Role::Operator => {
                assert_eq!(send.status, StatusCode::OK);
                assert!(send.body.contains("<option value=\"DeviceInformation\">"));
                assert!(!send.body.contains("<option value=\"DeviceLock\">"));
                let lock = browser
                    .get(&format!("/console/send?request_type=DeviceLock&device={}", d.udid))
                    .await;
                assert_eq!(lock.status, StatusCode::FORBIDDEN);
            }
            _ => {
                assert_eq!(send.status, StatusCode::FORBIDDEN);
                assert!(send.body.contains("read-only"));
            }
        }
        let head = app.head().await;
        for confirm in ["", "yes"] {
            let forged = browser
                .post(
                    "/console/send",
                    &[
                        ("csrf", &csrf),
                        ("confirm", confirm),
                        ("request_type", "EraseDevice"),
                        ("device", &d.udid),
                        ("reason", "forged"),
                    ],
                )
                .await;
            assert_eq!(forged.status, StatusCode::FORBIDDEN, "{name}: {}", forged.body);
        }
        assert_eq!(app.head().await, head);
    }
}

#[tokio::test]
async fn a_push_certificate_renewal_is_installed_and_another_topic_is_refused() {
    let app = app().await;
    enroll_named(&app, 1, "iPad").await;
    let alice = app.key("alice", Role::Admin).await;
    let mut browser = signed_in(&app, &alice).await;
    let page = browser.get("/console/push-certificate").await;
    assert!(page.body.contains("No push certificate is installed"), "{}", page.body);
    assert!(page.body.contains("action=\"/console/push-certificate\""));
    let csrf = field(&page.body, "csrf").unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Another Apple ID's topic would strand the enrolled device: refused, said plainly.
    let (cert, key) = push_pem(dir.path(), "other", "com.apple.mgmt.External.other");
    let head = app.head().await;
    let refused = browser
        .post(
            "/console/push-certificate",
            &[("csrf", &csrf), ("certificate", &cert), ("private_key", &key)],
        )
        .await;
    assert_page("topic refused", &refused, StatusCode::CONFLICT);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains("topic"), "{}", refused.body);
    assert!(
        refused.body.contains(TOPIC),
        "the enrolled topic is named: {}",
        refused.body
    );
    assert!(refused.body.contains("No push certificate is installed"));
    // Half a renewal, and text that is no certificate.
    let half = browser
        .post("/console/push-certificate", &[("csrf", &csrf), ("certificate", &cert)])
        .await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST);
    let junk = browser
        .post(
            "/console/push-certificate",
            &[
                ("csrf", &csrf),
                ("certificate", "-----BEGIN nothing"),
                ("private_key", "x"),
            ],
        )
        .await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST, "{}", junk.body);
    assert_eq!(app.head().await, head, "nothing installed");

    // The same topic: installed, recorded under alice.
    let (cert, key) = push_pem(dir.path(), "ours", TOPIC);
    let installed = browser
        .post(
            "/console/push-certificate",
            &[("csrf", &csrf), ("certificate", &cert), ("private_key", &key)],
        )
        .await;
    assert_eq!(installed.status, StatusCode::SEE_OTHER, "{}", installed.body);
    let events = events_after(&app, head).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str(), events[0].2.as_str()),
        ("push-certificates", "PushCertificateInstalled", "api-key:alice")
    );
    assert!(!serde_json::to_string(&events).unwrap().contains("PRIVATE KEY"));
    let shown = browser.get(installed.location()).await;
    assert_page("installed", &shown, StatusCode::OK);
    assert!(shown.body.contains("is installed"));
    assert!(shown.body.contains(TOPIC));
    assert!(
        shown.body.contains("<dt>Days left</dt><dd>364</dd>") || shown.body.contains("<dt>Days left</dt><dd>365</dd>"),
        "{}",
        shown.body
    );

    // With a topic, the enrollment profile downloads; its one-time challenge is alice's.
    let head = app.head().await;
    let profile = browser.post("/console/enrollment/profile", &[("csrf", &csrf)]).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(
        profile.headers[header::CONTENT_TYPE],
        annal::pki::profile::MOBILECONFIG_CONTENT_TYPE
    );
    assert!(profile.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let events = events_after(&app, head).await;
    assert!(
        events
            .iter()
            .any(|(_, kind, actor, _)| kind == "ScepChallengeIssued" && actor == "api-key:alice"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, _, actor, _)| actor == "api-key:alice"),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_schema_form_refuses_a_bad_enum_or_number_and_queues_nothing() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    // The form is typed by the schema: an enum is a select, a number a number, required marked.
    let erase = browser
        .get(&format!("/console/send?request_type=EraseDevice&device={}", d.udid))
        .await;
    assert!(erase
        .body
        .contains("<select id=\"k-ObliterationBehavior\" name=\"k.ObliterationBehavior\""));
    assert!(erase.body.contains("<option value=\"DoNotObliterate\">"));
    assert!(
        erase
            .body
            .contains("name=\"reason\" rows=\"2\" maxlength=\"1000\" required"),
        "reason required"
    );
    let install = browser
        .get(&format!(
            "/console/send?request_type=InstallApplication&device={}",
            d.udid
        ))
        .await;
    assert!(install.body.contains("name=\"k.iTunesStoreID\" type=\"number\""));
    let info = browser
        .get(&format!(
            "/console/send?request_type=DeviceInformation&device={}",
            d.udid
        ))
        .await;
    assert!(info
        .body
        .contains("type=\"checkbox\" id=\"k-Queries-0\" name=\"k.Queries\""));
    assert!(info.body.contains("pick any; required"));
    let csrf = field(&info.body, "csrf").unwrap();

    let head = app.head().await;
    for confirm in ["", "yes"] {
        for (fields, status, message) in [
            (
                vec![
                    ("request_type", "EraseDevice"),
                    ("k.ObliterationBehavior", "Sometimes"),
                    ("reason", "returned"),
                ],
                StatusCode::BAD_REQUEST,
                "`command.ObliterationBehavior`: value not allowed: &quot;Sometimes&quot;",
            ),
            (
                vec![("request_type", "InstallApplication"), ("k.iTunesStoreID", "12ab")],
                StatusCode::BAD_REQUEST,
                "`iTunesStoreID`: not a whole number",
            ),
            (
                vec![("request_type", "InstallApplication"), ("k.ManagementFlags", "3")],
                StatusCode::BAD_REQUEST,
                "`command.ManagementFlags`: value not allowed: 3 (allowed: 1, 4, 5)",
            ),
            (
                vec![("request_type", "DeviceInformation")],
                StatusCode::BAD_REQUEST,
                "`command.Queries`: missing required key",
            ),
            (
                vec![("request_type", "EraseDevice"), ("k.NoSuchKey", "1"), ("reason", "r")],
                StatusCode::BAD_REQUEST,
                "&quot;NoSuchKey&quot; is not a key of this command",
            ),
            (
                vec![("request_type", "EraseDevice")],
                StatusCode::BAD_REQUEST,
                "give a reason",
            ),
        ] {
            let mut fields = fields;
            fields.extend([
                ("csrf", csrf.as_str()),
                ("device", d.udid.as_str()),
                ("confirm", confirm),
            ]);
            let answer = browser.post("/console/send", &fields).await;
            assert_page("refused", &answer, status);
            assert!(answer.body.contains(message), "{message}: {}", answer.body);
            // The form comes back, filled as it was sent.
            assert!(answer.body.contains("action=\"/console/send\""));
            assert!(answer.body.contains(&format!("name=\"device\" value=\"{}\"", d.udid)));
        }
    }
    // A value typed into the form comes back selected, and an invalid key is marked.
    let back = browser
        .post(
            "/console/send",
            &[
                ("csrf", &csrf),
                ("request_type", "EraseDevice"),
                ("device", &d.udid),
                ("k.ObliterationBehavior", "Always"),
            ],
        )
        .await;
    assert!(back.body.contains("<option value=\"Always\" selected>"));
    let marked = browser
        .post(
            "/console/send",
            &[
                ("csrf", &csrf),
                ("request_type", "InstallApplication"),
                ("device", &d.udid),
                ("k.iTunesStoreID", "x"),
            ],
        )
        .await;
    assert!(marked.body.contains("name=\"k.iTunesStoreID\" type=\"number\" value=\"x\" aria-describedby=\"k-iTunesStoreID-help\" aria-invalid=\"true\""), "{}", marked.body);
    // An unknown device stops the send at the confirmation, naming it.
    let unknown = browser
        .post(
            "/console/send",
            &[
                ("csrf", &csrf),
                ("request_type", "ProfileList"),
                ("device", &d.udid),
                ("device", "NOT-A-DEVICE"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("NOT-A-DEVICE") && unknown.body.contains("Nothing was sent"));
    assert_eq!(app.head().await, head, "nothing was queued");
    let (_, queue) = app.get(&format!("/v1/devices/{}/queue", d.udid), ADMIN_KEY).await;
    assert!(queue["commands"].as_array().unwrap().is_empty(), "{queue}");
}

#[tokio::test]
async fn one_command_reaches_each_selected_device_and_its_fan_out_page_shows_each_answer() {
    let app = app().await;
    let bob = app.key("bob", Role::Operator).await;
    let a = enroll_named(&app, 1, "Front desk iPad").await;
    let b = enroll_named(&app, 2, HOSTILE).await;
    let c = enroll_named(&app, 3, "Not chosen").await;
    let mut browser = signed_in(&app, &bob).await;
    // The devices chosen on the list page come to the picker, then the command's form.
    let picker = browser
        .get(&format!("/console/send?device={}&device={}", a.udid, b.udid))
        .await;
    assert_eq!(picker.status, StatusCode::OK);
    assert!(picker.body.contains(&format!("name=\"device\" value=\"{}\"", b.udid)));
    let form = browser
        .get(&format!(
            "/console/send?request_type=DeviceInformation&device={}&device={}",
            a.udid, b.udid
        ))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = field(&form.body, "csrf").unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("request_type", "DeviceInformation"),
        ("device", a.udid.as_str()),
        ("device", b.udid.as_str()),
        ("k.Queries", "DeviceName"),
        ("k.Queries", "SerialNumber"),
        ("reason", "inventory check"),
    ];
    let head = app.head().await;
    let confirm = browser.post("/console/send", &fields).await;
    assert_page("confirmation", &confirm, StatusCode::OK);
    // It names each device, and queues nothing yet.
    assert!(confirm.body.contains("to <strong>2 devices</strong>"));
    for d in [&a, &b] {
        assert!(confirm.body.contains(&d.udid) && confirm.body.contains(&d.serial));
    }
    assert!(confirm.body.contains("Front desk iPad") && confirm.body.contains(HOSTILE_ESCAPED));
    assert!(!confirm.body.contains(&c.udid));
    assert!(confirm.body.contains("<dd>DeviceName, SerialNumber</dd>"));
    assert!(confirm.body.contains("<dd>api-key:bob</dd>"));
    assert_eq!(app.head().await, head);
    let key = field(&confirm.body, "idempotency_key").unwrap();
    let mut confirmed = fields.to_vec();
    confirmed.extend([("confirm", "yes"), ("idempotency_key", key.as_str())]);
    let sent = browser.post("/console/send", &confirmed).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let uuid = sent
        .location()
        .strip_prefix("/console/commands/")
        .and_then(|rest| rest.strip_suffix("?sent=1"))
        .expect("the fan-out page")
        .to_string();
    // Sent again (a reload): queued once.
    assert_eq!(
        browser.post("/console/send", &confirmed).await.status,
        StatusCode::SEE_OTHER
    );
    // Each chosen device's queue has it, under bob's name and reason; the other's has nothing.
    for d in [&a, &b] {
        let (_, queue) = app.get(&format!("/v1/devices/{}/queue", d.udid), ADMIN_KEY).await;
        let commands = queue["commands"].as_array().unwrap();
        assert_eq!(commands.len(), 1, "{queue}");
        assert_eq!(commands[0]["command_uuid"], uuid.as_str());
        assert_eq!(commands[0]["requester"], "api-key:bob");
        assert_eq!(commands[0]["reason"], "inventory check");
    }
    let (_, queue) = app.get(&format!("/v1/devices/{}/queue", c.udid), ADMIN_KEY).await;
    assert!(queue["commands"].as_array().unwrap().is_empty());
    let page = browser.get(sent.location()).await;
    assert_page("fan-out", &page, StatusCode::OK);
    assert!(page.body.contains("Queued."));
    assert!(page
        .body
        .contains("<span class=\"value\">2</span> <span class=\"label\">queued</span>"));

    // One device answers, the other says NotNow: the page shows each.
    assert_eq!(next_command(&app, &a).await.as_deref(), Some(uuid.as_str()));
    answer(&app, &a, &uuid, "Acknowledged").await;
    assert_eq!(next_command(&app, &b).await.as_deref(), Some(uuid.as_str()));
    answer(&app, &b, &uuid, "NotNow").await;
    let page = browser.get(&format!("/console/commands/{uuid}")).await;
    let row = |d: &annal::testkit::sim::VirtualDevice| {
        let at = page.body.find(&format!(">{}</a>", d.udid)).expect("the device's row");
        let end = page.body[at..].find("</tr>").unwrap() + at;
        page.body[at..end].to_string()
    };
    assert!(row(&a).contains("<td>acknowledged</td>"), "{}", row(&a));
    assert!(row(&b).contains("<td>not_now</td>"), "{}", row(&b));
    assert!(page
        .body
        .contains("<span class=\"value\">1</span> <span class=\"label\">acknowledged</span>"));
    // The same read model as the API's.
    let (_, status) = app.get(&format!("/v1/commands/{uuid}"), ADMIN_KEY).await;
    assert_eq!(status["summary"]["acknowledged"], 1, "{status}");
    assert_eq!(status["summary"]["not_now"], 1, "{status}");
}

#[tokio::test]
async fn a_destructive_command_to_more_than_ten_devices_needs_the_typed_count() {
    let app = app().await;
    let mut devices = Vec::new();
    for i in 0..11 {
        devices.push(enroll_named(&app, i, &format!("Cart iPad {i}")).await);
    }
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let page = browser.get("/console/send?request_type=DeviceLock").await;
    assert!(
        page.body.contains("name=\"device_list\""),
        "no devices yet: a box to type them in"
    );
    let csrf = field(&page.body, "csrf").unwrap();
    let list = devices.iter().map(|d| d.udid.as_str()).collect::<Vec<_>>().join("\n");
    let base = [
        ("csrf", csrf.as_str()),
        ("request_type", "DeviceLock"),
        ("device_list", list.as_str()),
        ("k.Message", "Return to the library"),
        ("k.PIN", "123456"),
        ("reason", "end of term"),
    ];
    let confirm = browser.post("/console/send", &base).await;
    assert_page("confirmation", &confirm, StatusCode::OK);
    assert!(confirm.body.contains("to <strong>11 devices</strong>"));
    assert!(confirm.body.contains("name=\"confirm_count\""));
    // The PIN is not shown on the page (only carried in the form).
    assert!(confirm
        .body
        .contains("<dt>PIN</dt><dd>given (not shown; sealed in the log)</dd>"));
    let head = app.head().await;
    for count in ["", "10"] {
        let mut fields = base.to_vec();
        fields.extend([("confirm", "yes"), ("confirm_count", count)]);
        let refused = browser.post("/console/send", &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{count:?}: {}", refused.body);
        assert!(refused.body.contains("confirm"), "{}", refused.body);
    }
    assert_eq!(app.head().await, head);
    let mut fields = base.to_vec();
    fields.extend([("confirm", "yes"), ("confirm_count", "11")]);
    let sent = browser.post("/console/send", &fields).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    // Each device has it, and the log keeps the PIN sealed, as the API's enqueue does.
    let events = events_after(&app, head).await;
    let queued: Vec<_> = events.iter().filter(|e| e.1 == "CommandQueued").collect();
    assert_eq!(queued.len(), 11, "{events:?}");
    for (_, _, actor, data) in &queued {
        assert_eq!(actor, "api-key:admin");
        assert_eq!(data["raw_sealed"], true, "{data}");
        assert_eq!(data["reason"], "end of term");
    }
    let raw = app.server.state.store.read_all(head + 1, 100).await.unwrap();
    for e in raw {
        let bytes = e.raw.as_deref().unwrap_or_default();
        assert!(!String::from_utf8_lossy(bytes).contains("123456"), "{}", e.event_type);
    }
}

#[tokio::test]
async fn the_device_page_short_form_still_names_the_device_and_returns_to_it() {
    let app = app().await;
    let d = enroll_named(&app, 1, "iPad").await;
    let mut browser = signed_in(&app, ADMIN_KEY).await;
    let device = format!("/console/devices/{}", d.udid);
    let csrf = field(&browser.get(&device).await.body, "csrf").unwrap();
    // The short form's confirmation posts back to the device, with the schema's keys.
    let confirm = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("request_type", "DeviceLock"),
                ("message", "Call 555-0100"),
                ("reason", "lost"),
            ],
        )
        .await;
    assert_page("short confirmation", &confirm, StatusCode::OK);
    assert!(confirm.body.contains(&format!("action=\"{device}/commands\"")));
    assert!(confirm.body.contains("name=\"k.Message\" value=\"Call 555-0100\""));
    let key = field(&confirm.body, "idempotency_key").unwrap();
    let sent = browser
        .post(
            &format!("{device}/commands"),
            &[
                ("csrf", &csrf),
                ("confirm", "yes"),
                ("idempotency_key", &key),
                ("request_type", "DeviceLock"),
                ("k.Message", "Call 555-0100"),
                ("reason", "lost"),
                ("device", &d.udid),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(sent.location().starts_with(&format!("{device}?sent=")));
    let (_, queue) = app.get(&format!("/v1/devices/{}/queue", d.udid), ADMIN_KEY).await;
    assert_eq!(queue["commands"][0]["request_type"], "DeviceLock", "{queue}");
    // A command the short form does not offer goes through the schema form instead.
    let other = browser
        .post(
            &format!("{device}/commands"),
            &[("csrf", &csrf), ("request_type", "ProfileList")],
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
}

/// Push health: the mock APNs answers a device's push 410 Unregistered (as tests/push.rs
/// scripts it), so its token is dead and it was pushed and never answered. The push health page
/// (policy, no inline script, readable by an auditor) lists it in both lists, linked to its
/// device page, whose "Push" section says the token is dead and the push failed; neither page
/// holds the PushMagic or the push token; without a session the page sends to sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_health_lists_a_dead_token_and_the_device_page_shows_it_without_secrets() {
    use base64::Engine as _;

    let dir = tempfile::tempdir().unwrap();
    let (apns, ca) = common::push::mock(dir.path()).await;
    let mut app = app().await;
    // The shared in-process server would push to Apple itself: this one pushes to the mock.
    let mut config = annal::config::ServerConfig::new(dir.path().join("data"));
    config.admin_api_key = Some(ADMIN_KEY.into());
    config.push.apns_url = apns.base_url();
    config.push.apns_ca_file = Some(ca);
    app.server = annal::server::build(config).await.expect("server builds");

    let d = enroll_named(&app, 1, "Kiosk").await;
    let alice = app.key("alice", Role::Admin).await;
    let mut admin = signed_in(&app, &alice).await;
    let page = admin.get("/console/push-certificate").await;
    let csrf = field(&page.body, "csrf").unwrap();
    let (cert, key) = push_pem(dir.path(), "ours", TOPIC);
    let installed = admin
        .post(
            "/console/push-certificate",
            &[("csrf", &csrf), ("certificate", &cert), ("private_key", &key)],
        )
        .await;
    assert_eq!(installed.status, StatusCode::SEE_OTHER, "{}", installed.body);
    // The certificate page reads the log's latest certificate, and loads it.
    assert!(admin.get(installed.location()).await.body.contains("is installed"));
    let (_, status) = app.get("/v1/push-certificate", ADMIN_KEY).await;
    assert_eq!(status["usable"], true, "{status}");

    let token = d.push_token();
    let token_hex = hex::encode(&token);
    apns.script(&token_hex, &[(410, "Unregistered")]);
    let (status, body) = app
        .call(Method::POST, &format!("/v1/push/{}", d.udid), ADMIN_KEY, None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["status"][&d.udid]["outcome"], "token_dead", "{body}");
    let (_, record) = app.get(&format!("/v1/devices/{}/push", d.udid), ADMIN_KEY).await;
    assert_eq!(record["token_dead"], true, "{record}");

    let secrets = [
        format!("{}-magic", d.serial),
        token_hex.clone(),
        token_hex.to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(&token),
    ];
    let no_secrets = |path: &str, html: &str| {
        for secret in &secrets {
            assert!(!html.contains(secret.as_str()), "{path} shows a secret {secret}");
        }
    };
    let device_link = format!("href=\"/console/devices/{}\"", d.udid);

    // Any reading role sees the page: an auditor here.
    let auditor = app.key("audrey", Role::Auditor).await;
    let mut reader = signed_in(&app, &auditor).await;
    let health = reader.get("/console/push-health?silent_minutes=0").await;
    assert_page("/console/push-health", &health, StatusCode::OK);
    no_secrets("/console/push-health", &health.body);
    assert!(
        health.body.contains("aria-current=\"page\">Push health<"),
        "{}",
        health.body
    );
    let (dead, silent) = health.body.split_once("id=\"silent\"").unwrap();
    assert!(dead.contains(&device_link), "listed as a dead token: {}", health.body);
    assert!(dead.contains("failed 410 Unregistered"), "{}", health.body);
    assert!(
        silent.contains(&device_link),
        "listed as pushed and silent: {}",
        health.body
    );
    // The default threshold (an hour): a push a moment ago is not silence yet.
    let default = reader.get("/console/push-health").await;
    assert_page("/console/push-health (default)", &default, StatusCode::OK);
    assert!(default.body.contains("value=\"60\""));
    let (dead, silent) = default.body.split_once("id=\"silent\"").unwrap();
    assert!(dead.contains(&device_link));
    assert!(!silent.contains(&device_link), "{}", default.body);
    let refused = reader.get("/console/push-health?silent_minutes=soon").await;
    assert_page("/console/push-health (refused)", &refused, StatusCode::BAD_REQUEST);

    // The device page's Push section keeps the secrets off the page too. (Only the section: the
    // history below shows the TokenUpdate event as `GET /v1/devices/{id}/history` does.)
    let path = format!("/console/devices/{}", d.udid);
    let device = reader.get(&path).await;
    assert_page(&path, &device, StatusCode::OK);
    let push = &device.body[device.body.find("<h2 id=\"push\">").expect("a Push section")..];
    let push = &push[..push[1..].find("<h2").map_or(push.len(), |end| end + 1)];
    no_secrets(&path, push);
    assert!(push.contains("<dt>Push token</dt><dd>dead"), "{push}");
    assert!(push.contains("failed 410 Unregistered"), "{push}");
    assert!(push.contains("<dt>Failures</dt><dd>1</dd>"), "{push}");

    // Without a session: to sign-in, nothing shown.
    let mut stranger = Browser::new(&app);
    let answer = stranger.get("/console/push-health").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/console/login");
    assert!(!answer.body.contains(&d.udid));
}
