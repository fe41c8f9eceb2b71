use annal_schemas::events::checkin::*;
use annal_schemas::events::command::*;
use annal_schemas::events::push::PushAttempted;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{EventData, NewEvent, RecordedEvent, GENESIS_HASH};
use serde_json::Value as Json;

use super::*;

fn key() -> DataKey {
    DataKey::from_hex(&"42".repeat(32)).unwrap()
}

fn device() -> DeviceRef {
    DeviceRef {
        udid: Some("UDID-A".into()),
        ..DeviceRef::default()
    }
}

fn who() -> IdentityRef {
    IdentityRef {
        fingerprint_sha256: "ab".repeat(32),
        proof: "mtls".into(),
        url_params: Default::default(),
    }
}

fn plist(message: &str, extra: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
         <key>MessageType</key><string>{message}</string><key>UDID</key><string>UDID-A</string>{extra}\
         </dict></plist>"
    )
    .into_bytes()
}

fn recorded<E: EventData>(body: &E, raw: Option<Vec<u8>>) -> RecordedEvent {
    let mut new = NewEvent::new("device", body);
    new.raw = raw.map(Into::into);
    RecordedEvent::place(new, "UDID-A", 1, 7, chrono::Utc::now(), &GENESIS_HASH)
}

/// The JSON body and the decoded raw payload.
fn webhook(event: &RecordedEvent, options: FormatOptions) -> Option<(Json, Vec<u8>)> {
    let hook = format(event, &key(), options).unwrap()?;
    assert!(hook.raw_withheld.is_none());
    let json: Json = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(json["topic"], hook.topic);
    let inner = json.get("checkin_event").or(json.get("acknowledge_event")).unwrap();
    let raw = B64.decode(inner["raw_payload"].as_str().unwrap()).unwrap();
    Some((json, raw))
}

fn assert_checkin(event: &RecordedEvent, topic: &str) -> Vec<u8> {
    let (json, raw) = webhook(event, FormatOptions::default()).unwrap();
    assert_eq!(json["topic"], topic);
    assert_eq!(json["event_id"], event.event_id.to_string());
    let created = chrono::DateTime::parse_from_rfc3339(json["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(created, event.recorded_at);
    assert_eq!(json["checkin_event"]["udid"], "UDID-A");
    assert!(json.get("acknowledge_event").is_none());
    assert!(json["checkin_event"].get("enrollment_id").is_none());
    raw
}

#[test]
fn authenticate_checkout_and_the_other_checkins_carry_their_raw() {
    let auth_raw = plist("Authenticate", "<key>Topic</key><string>com.apple.mgmt.t</string>");
    let auth = Authenticate {
        device: device(),
        identity: who(),
        topic: "com.apple.mgmt.t".into(),
        generation: 1,
        serial_number: Some("C02X".into()),
        imei: None,
        meid: None,
        os_version: None,
        build_version: None,
        product_name: None,
        device_name: None,
        model: None,
        model_name: None,
    };
    let raw = assert_checkin(&recorded(&auth, Some(auth_raw.clone())), "mdm.Authenticate");
    assert_eq!(raw, auth_raw, "a raw without secrets is sent byte for byte");

    let checkout = CheckOut {
        device: device(),
        identity: who(),
        topic: "com.apple.mgmt.t".into(),
        with_device_channel: false,
    };
    assert_checkin(&recorded(&checkout, Some(plist("CheckOut", ""))), "mdm.CheckOut");

    let get_bt = GetBootstrapToken {
        device: device(),
        identity: who(),
        awaiting_configuration: Some(true),
        returned: false,
    };
    assert_checkin(
        &recorded(&get_bt, Some(plist("GetBootstrapToken", ""))),
        "mdm.GetBootstrapToken",
    );

    let ddm = DeclarativeManagement {
        device: device(),
        identity: who(),
        endpoint: "tokens".into(),
        http_status: 200,
        declarations_token: Some("0123".into()),
        server_token: None,
    };
    assert_checkin(
        &recorded(&ddm, Some(plist("DeclarativeManagement", ""))),
        "mdm.DeclarativeManagement",
    );
    let status = annal_schemas::events::declaration::DeclarationStatusReported {
        device: device(),
        identity: who(),
        full_report: true,
        report: serde_json::json!({"StatusItems": {}, "FullReport": true}),
    };
    assert_checkin(
        &recorded(&status, Some(plist("DeclarativeManagement", ""))),
        "mdm.DeclarativeManagement",
    );
}

#[test]
fn checkins_with_secrets_are_opened_and_redacted() {
    let key = key();
    let sealed = |extra: &str, message: &str| key.seal_raw(&plist(message, extra)).unwrap();

    let token_update = TokenUpdate {
        device: device(),
        identity: who(),
        topic: "com.apple.mgmt.t".into(),
        token_hex: "abcd".into(),
        push_magic: key.seal(b"MAGIC-1").unwrap(),
        unlock_token: None,
        awaiting_configuration: None,
        user_short_name: None,
        user_long_name: None,
        token_update_tally: Some(1),
    };
    let raw = sealed(
        "<key>PushMagic</key><string>MAGIC-1</string><key>UnlockToken</key><data>VU5MT0NL</data>",
        "TokenUpdate",
    );
    let event = recorded(&token_update, Some(raw));
    let (json, _) = webhook(&event, FormatOptions::default()).unwrap();
    assert_eq!(json["checkin_event"]["token_update_tally"], 1);
    assert_eq!(
        json["checkin_event"]["ids"],
        serde_json::json!({"id": "UDID-A", "type": "Device"})
    );
    let plain = String::from_utf8(assert_checkin(&event, "mdm.TokenUpdate")).unwrap();
    assert!(plain.contains("<string>TokenUpdate</string>"));
    assert!(!plain.contains("PushMagic") && !plain.contains("MAGIC-1") && !plain.contains("VU5MT0NL"));
    // Opted in (--webhook-include-secrets): the device's plist as it sent it.
    let with_secrets = FormatOptions {
        include_secrets: true,
        ..FormatOptions::default()
    };
    let (_, raw) = webhook(&event, with_secrets).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("MAGIC-1") && raw.contains("VU5MT0NL"), "{raw}");

    let set_bt = SetBootstrapToken {
        device: device(),
        identity: who(),
        bootstrap_token: Some(key.seal(b"BT").unwrap()),
        awaiting_configuration: None,
    };
    let raw = sealed("<key>BootstrapToken</key><data>QlQ=</data>", "SetBootstrapToken");
    let plain = assert_checkin(&recorded(&set_bt, Some(raw)), "mdm.SetBootstrapToken");
    assert!(!String::from_utf8(plain).unwrap().contains("BootstrapToken</key>"));

    let user_auth = UserAuthenticate {
        device: DeviceRef {
            user_id: Some("USER-1".into()),
            ..device()
        },
        identity: who(),
        user_short_name: Some("ann".into()),
        user_long_name: None,
        digest_response_present: true,
        outcome: "declined".into(),
    };
    let raw = sealed("<key>DigestResponse</key><string>resp</string>", "UserAuthenticate");
    let plain = assert_checkin(&recorded(&user_auth, Some(raw)), "mdm.UserAuthenticate");
    assert!(!String::from_utf8(plain).unwrap().contains("DigestResponse"));

    let get_token = GetToken {
        device: device(),
        identity: who(),
        token_service_type: "com.apple.maid".into(),
        outcome: "refused".into(),
        detail: None,
    };
    assert_checkin(&recorded(&get_token, Some(sealed("", "GetToken"))), "mdm.GetToken");
}

#[test]
fn command_results_are_connect_events_with_their_status() {
    let cases: Vec<(RecordedEvent, &str)> = vec![
        (
            recorded(
                &CommandAcknowledged {
                    command_uuid: "C-1".into(),
                    request_type: "DeviceInformation".into(),
                    device: device(),
                    identity: who(),
                },
                Some(plist("", "<key>Status</key><string>Acknowledged</string>")),
            ),
            "Acknowledged",
        ),
        (
            recorded(
                &CommandErrored {
                    command_uuid: "C-1".into(),
                    request_type: "DeviceInformation".into(),
                    device: device(),
                    identity: who(),
                    error_chain: vec![],
                    reason: None,
                    unparseable: None,
                },
                Some(plist("", "")),
            ),
            "Error",
        ),
        (
            recorded(
                &CommandFormatError {
                    command_uuid: "C-1".into(),
                    request_type: String::new(),
                    device: device(),
                    identity: who(),
                },
                Some(plist("", "")),
            ),
            "CommandFormatError",
        ),
        (
            recorded(
                &CommandNotNow {
                    command_uuid: "C-1".into(),
                    request_type: "DeviceInformation".into(),
                    device: device(),
                    identity: who(),
                },
                Some(plist("", "")),
            ),
            "NotNow",
        ),
    ];
    for (event, status) in cases {
        let (json, _) = webhook(&event, FormatOptions::default()).unwrap();
        assert_eq!(json["topic"], CONNECT_TOPIC);
        let ack = &json["acknowledge_event"];
        assert_eq!(ack["status"], status);
        assert_eq!(ack["command_uuid"], "C-1");
        assert_eq!(ack["udid"], "UDID-A");
        assert!(json.get("checkin_event").is_none());
    }
}

#[test]
fn idle_is_a_connect_without_command_and_can_be_turned_off() {
    let enrollment = DeviceRef {
        enrollment_id: Some("ENR-9".into()),
        ..DeviceRef::default()
    };
    let idle = recorded(
        &Idle {
            device: enrollment,
            identity: who(),
        },
        Some(plist("", "<key>Status</key><string>Idle</string>")),
    );
    let (json, _) = webhook(&idle, FormatOptions::default()).unwrap();
    let ack = &json["acknowledge_event"];
    assert_eq!(ack["status"], "Idle");
    // NanoMDM leaves command_uuid out on Idle; a Go receiver reads it as "".
    assert!(ack.get("command_uuid").is_none(), "{ack}");
    assert_eq!(ack["enrollment_id"], "ENR-9");
    assert_eq!(
        ack["ids"],
        serde_json::json!({"id": "ENR-9", "type": "User Enrollment (Device)"})
    );
    assert!(ack.get("udid").is_none());
    let no_idle = FormatOptions {
        include_idle: false,
        ..FormatOptions::default()
    };
    assert!(webhook(&idle, no_idle).is_none());
}

#[test]
fn url_params_are_sent_as_recorded_and_left_out_when_there_are_none() {
    let mut with_params = who();
    with_params.url_params = [("profile", "sales"), ("site", "b\u{e9}rn")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let checkout = recorded(
        &CheckOut {
            device: device(),
            identity: with_params.clone(),
            topic: "com.apple.mgmt.t".into(),
            with_device_channel: false,
        },
        Some(plist("CheckOut", "")),
    );
    let (json, _) = webhook(&checkout, FormatOptions::default()).unwrap();
    assert_eq!(
        json["checkin_event"]["url_params"],
        serde_json::json!({"profile": "sales", "site": "b\u{e9}rn"})
    );
    let acknowledged = recorded(
        &CommandAcknowledged {
            command_uuid: "C-1".into(),
            request_type: "DeviceLock".into(),
            device: device(),
            identity: with_params,
        },
        Some(plist("", "<key>Status</key><string>Acknowledged</string>")),
    );
    let (json, _) = webhook(&acknowledged, FormatOptions::default()).unwrap();
    assert_eq!(json["acknowledge_event"]["url_params"]["profile"], "sales");
    // NanoMDM leaves the field out when the URL had no query.
    let idle = recorded(
        &Idle {
            device: device(),
            identity: who(),
        },
        Some(plist("", "<key>Status</key><string>Idle</string>")),
    );
    let (json, _) = webhook(&idle, FormatOptions::default()).unwrap();
    assert!(json["acknowledge_event"].get("url_params").is_none(), "{json}");
}

#[test]
fn other_events_are_not_webhooks_and_bad_raws_are_withheld() {
    let queued = CommandQueued {
        command_uuid: "C-1".into(),
        request_type: "DeviceLock".into(),
        generation: 1,
        idempotency_key: None,
        reason: None,
        expires_at: None,
        raw_sealed: false,
        identity_fingerprint_sha256: None,
    };
    assert!(format(&recorded(&queued, None), &key(), FormatOptions::default())
        .unwrap()
        .is_none());
    let push = PushAttempted::EVENT_TYPE;
    assert_eq!(route(push), None);

    let checkout = CheckOut {
        device: device(),
        identity: who(),
        topic: "t".into(),
        with_device_channel: false,
    };
    let hook = format(
        &recorded(&checkout, Some(b"garbage".to_vec())),
        &key(),
        FormatOptions::default(),
    )
    .unwrap()
    .unwrap();
    assert!(matches!(hook.raw_withheld, Some(RedactError::Plist(_))));
    let json: Json = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(json["checkin_event"]["raw_payload"], "");

    let mut broken = recorded(&checkout, None);
    broken.data = b"{}".to_vec();
    assert!(matches!(
        format(&broken, &key(), FormatOptions::default()),
        Err(FormatError::Decode(_))
    ));
}

#[test]
fn a_refused_enrollment_is_an_annal_webhook_naming_both_certificates() {
    let refused = annal_schemas::events::identity::EnrollmentRefused {
        enrollment: "UDID-A".into(),
        udid: Some("UDID-A".into()),
        fingerprint_sha256: "ee".repeat(32),
        bound_fingerprint_sha256: Some("ab".repeat(32)),
        reason: "this device is enrolled under another identity".into(),
    };
    let hook = format(&recorded(&refused, None), &key(), FormatOptions::default())
        .unwrap()
        .expect("a webhook");
    assert_eq!(hook.topic, ENROLLMENT_REFUSED_TOPIC);
    let json: Json = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(json["topic"], ENROLLMENT_REFUSED_TOPIC);
    let body = &json["enrollment_refused_event"];
    assert_eq!(body["udid"], "UDID-A");
    assert_eq!(body["fingerprint_sha256"], "ee".repeat(32));
    assert_eq!(body["bound_fingerprint_sha256"], "ab".repeat(32));
    assert!(body["reason"].as_str().unwrap().contains("another identity"));
}

/// NanoMDM's `ids` for every kind of channel: the id a NanoMDM receiver keys enrollments by.
#[test]
fn every_kind_of_channel_gets_nanomdm_ids() {
    let ids = |device: DeviceRef, short: Option<&str>| {
        let ids = enrollment_ids(&device, short).expect("ids");
        (ids.id, ids.parent_id, ids.kind)
    };
    let udid = |user: Option<&str>| DeviceRef {
        udid: Some("UDID-A".into()),
        user_id: user.map(Into::into),
        ..DeviceRef::default()
    };
    assert_eq!(ids(udid(None), None), ("UDID-A".into(), None, "Device"));
    assert_eq!(
        ids(udid(Some("U-1")), None),
        ("UDID-A:U-1".into(), Some("UDID-A".into()), "User")
    );
    assert_eq!(
        ids(
            udid(Some("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")),
            Some("ann@example.com")
        ),
        ("UDID-A:ann@example.com".into(), Some("UDID-A".into()), "Shared iPad")
    );
    let byod = |user: Option<&str>| DeviceRef {
        enrollment_id: Some("ENR-9".into()),
        enrollment_user_id: user.map(Into::into),
        ..DeviceRef::default()
    };
    assert_eq!(
        ids(byod(None), None),
        ("ENR-9".into(), None, "User Enrollment (Device)")
    );
    assert_eq!(
        ids(byod(Some("EU-1")), None),
        ("ENR-9:EU-1".into(), Some("ENR-9".into()), "User Enrollment")
    );
    assert!(enrollment_ids(&DeviceRef::default(), None).is_none());
}
