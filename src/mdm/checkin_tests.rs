use base64::Engine;
use plist::{Dictionary, Value};

use super::*;
use crate::mdm::testutil::{body, dict, s};

const UDID: &str = "00008020-000915083C80012E";
const EID: &str = "8DB29EAB-A5BB-4B60-8DDA-F75517766FAC";
const TOPIC: &str = "com.apple.mgmt.External.5c8b0e2a-6bd3-4c5c-9b2b-2a6b3f0f7a11";

fn ids_udid() -> EnrollmentIds {
    EnrollmentIds {
        udid: Some(UDID.into()),
        ..Default::default()
    }
}

fn parse(entries: &[(&str, Value)]) -> Result<CheckinMessage, ParseError> {
    parse_checkin(&body(entries))
}

#[test]
fn authenticate_ios() {
    let msg = parse(&[
        ("MessageType", s("Authenticate")),
        ("Topic", s(TOPIC)),
        ("UDID", s(UDID)),
        ("SerialNumber", s("F2LXXXXXXXXX")),
        ("IMEI", s("35 735005 003432 4")),
        ("MEID", s("35745019114431")),
        ("OSVersion", s("18.1")),
        ("BuildVersion", s("22B83")),
        ("ProductName", s("iPhone11,8")),
        ("SomeFutureKey", Value::Boolean(true)),
    ]);
    let expected = Authenticate {
        ids: ids_udid(),
        topic: TOPIC.into(),
        serial_number: Some("F2LXXXXXXXXX".into()),
        imei: Some("35 735005 003432 4".into()),
        meid: Some("35745019114431".into()),
        os_version: Some("18.1".into()),
        build_version: Some("22B83".into()),
        product_name: Some("iPhone11,8".into()),
        device_name: None,
        model: None,
        model_name: None,
    };
    assert_eq!(msg, Ok(CheckinMessage::Authenticate(expected)));
}

#[test]
fn authenticate_macos_names_the_model() {
    let msg = parse(&[
        ("MessageType", s("Authenticate")),
        ("Topic", s(TOPIC)),
        ("UDID", s(UDID)),
        ("DeviceName", s("Ann's Mac")),
        ("Model", s("Mac14,2")),
        ("ModelName", s("MacBook Air")),
    ]);
    let Ok(CheckinMessage::Authenticate(a)) = msg else {
        panic!("expected Authenticate, got {msg:?}")
    };
    assert_eq!(a.device_name.as_deref(), Some("Ann's Mac"));
    assert_eq!(
        (a.model.as_deref(), a.model_name.as_deref()),
        (Some("Mac14,2"), Some("MacBook Air"))
    );
}

fn token_update_entries() -> Vec<(&'static str, Value)> {
    vec![
        ("MessageType", s("TokenUpdate")),
        ("Topic", s(TOPIC)),
        ("UDID", s(UDID)),
        ("Token", Value::Data(vec![0xab; 32])),
        ("PushMagic", s("B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E")),
        ("UnlockToken", Value::Data(vec![1, 2, 3])),
        ("AwaitingConfiguration", Value::Boolean(false)),
    ]
}

#[test]
fn token_update_device_channel() {
    let msg = parse(&token_update_entries());
    let expected = TokenUpdate {
        ids: ids_udid(),
        topic: TOPIC.into(),
        token: vec![0xab; 32],
        push_magic: Secret::new("B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E".into()),
        unlock_token: Some(Secret::new(vec![1, 2, 3])),
        awaiting_configuration: Some(false),
        not_on_console: None,
    };
    assert_eq!(msg, Ok(CheckinMessage::TokenUpdate(expected)));
}

#[test]
fn token_update_macos_user_channel() {
    let msg = parse(&[
        ("MessageType", s("TokenUpdate")),
        ("Topic", s(TOPIC)),
        ("UDID", s(UDID)),
        ("UserID", s("A1B2C3D4-0000-1111-2222-333344445555")),
        ("UserShortName", s("ann")),
        ("UserLongName", s("Ann Example")),
        ("NotOnConsole", Value::Boolean(false)),
        ("Token", Value::Data(vec![7; 32])),
        ("PushMagic", s("magic")),
    ])
    .expect("valid user-channel TokenUpdate");
    let CheckinMessage::TokenUpdate(t) = &msg else {
        panic!("expected TokenUpdate, got {msg:?}")
    };
    assert_eq!(t.not_on_console, Some(false));
    assert_eq!(t.unlock_token, None);
    assert_eq!(msg.ids().user_long_name.as_deref(), Some("Ann Example"));
    assert_eq!(
        msg.ids().enrollment_key(),
        Ok(format!("{UDID}:A1B2C3D4-0000-1111-2222-333344445555"))
    );
}

#[test]
fn token_update_debug_redacts_secrets() {
    let msg = parse(&token_update_entries()).expect("valid TokenUpdate");
    let debug = format!("{msg:?}");
    assert!(!debug.contains("B5E5C5F5"), "PushMagic leaked: {debug}");
    assert!(debug.contains("unlock_token: Some(Secret(<redacted>))"), "{debug}");
    let CheckinMessage::TokenUpdate(t) = msg else {
        panic!("expected TokenUpdate")
    };
    assert_eq!(t.push_magic.expose(), "B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E");
}

#[test]
fn check_out() {
    let msg = parse(&[
        ("MessageType", s("CheckOut")),
        ("Topic", s(TOPIC)),
        ("EnrollmentID", s(EID)),
    ]);
    let ids = EnrollmentIds {
        enrollment_id: Some(EID.into()),
        ..Default::default()
    };
    assert_eq!(
        msg,
        Ok(CheckinMessage::CheckOut(CheckOut {
            ids,
            topic: TOPIC.into()
        }))
    );
}

#[test]
fn user_authenticate_both_steps() {
    let first = parse(&[
        ("MessageType", s("UserAuthenticate")),
        ("UDID", s(UDID)),
        ("UserID", s("U1")),
    ]);
    let ids = EnrollmentIds {
        udid: Some(UDID.into()),
        user_id: Some("U1".into()),
        ..Default::default()
    };
    let expected = UserAuthenticate {
        ids: ids.clone(),
        digest_response: None,
    };
    assert_eq!(first, Ok(CheckinMessage::UserAuthenticate(expected)));
    let second = parse(&[
        ("MessageType", s("UserAuthenticate")),
        ("UDID", s(UDID)),
        ("UserID", s("U1")),
        ("DigestResponse", s("response=deadbeef")),
    ])
    .expect("valid second step");
    assert!(!format!("{second:?}").contains("deadbeef"));
    let expected = UserAuthenticate {
        ids,
        digest_response: Some(Secret::new("response=deadbeef".into())),
    };
    assert_eq!(second, CheckinMessage::UserAuthenticate(expected));
}

#[test]
fn bootstrap_token_messages() {
    let set = parse(&[
        ("MessageType", s("SetBootstrapToken")),
        ("UDID", s(UDID)),
        ("BootstrapToken", Value::Data(b"bootstrap".to_vec())),
        ("AwaitingConfiguration", Value::Boolean(true)),
    ]);
    let expected = SetBootstrapToken {
        ids: ids_udid(),
        bootstrap_token: Some(Secret::new(b"bootstrap".to_vec())),
        awaiting_configuration: Some(true),
    };
    assert_eq!(set, Ok(CheckinMessage::SetBootstrapToken(expected)));
    let get = parse(&[("MessageType", s("GetBootstrapToken")), ("UDID", s(UDID))]);
    let expected = GetBootstrapToken {
        ids: ids_udid(),
        awaiting_configuration: None,
    };
    assert_eq!(get, Ok(CheckinMessage::GetBootstrapToken(expected)));
}

#[test]
fn get_token_keeps_parameters_whole() {
    let params = dict(&[
        ("SecurityToken", s("sekrit")),
        ("PhoneUDID", s(UDID)),
        ("WatchUDID", s("W1")),
    ]);
    let msg = parse(&[
        ("MessageType", s("GetToken")),
        ("UDID", s(UDID)),
        ("TokenServiceType", s("com.apple.watch.pairing")),
        ("TokenParameters", Value::Dictionary(params.clone())),
    ])
    .expect("valid GetToken");
    assert!(!format!("{msg:?}").contains("sekrit"));
    let expected = GetToken {
        ids: ids_udid(),
        token_service_type: "com.apple.watch.pairing".into(),
        token_parameters: Some(Secret::new(Value::Dictionary(params))),
    };
    assert_eq!(msg, CheckinMessage::GetToken(expected));
}

#[test]
fn declarative_management() {
    let json = br#"{"StatusItems":{}}"#.to_vec();
    let msg = parse(&[
        ("MessageType", s("DeclarativeManagement")),
        ("EnrollmentID", s(EID)),
        ("EnrollmentUserID", s("EU1")),
        ("Endpoint", s("status")),
        ("Data", Value::Data(json.clone())),
    ])
    .expect("valid DeclarativeManagement");
    assert_eq!(msg.message_type(), "DeclarativeManagement");
    assert_eq!(msg.ids().enrollment_key(), Ok(format!("{EID}:EU1")));
    let CheckinMessage::DeclarativeManagement(d) = msg else {
        panic!("expected DeclarativeManagement")
    };
    assert_eq!((d.endpoint.as_str(), d.data), ("status", Some(json)));
}

#[test]
fn message_type_names_round_trip() {
    for (name, extra) in [
        ("Authenticate", vec![("Topic", s(TOPIC))]),
        (
            "TokenUpdate",
            vec![
                ("Topic", s(TOPIC)),
                ("Token", Value::Data(vec![1])),
                ("PushMagic", s("m")),
            ],
        ),
        ("CheckOut", vec![("Topic", s(TOPIC))]),
        ("UserAuthenticate", vec![]),
        ("SetBootstrapToken", vec![]),
        ("GetBootstrapToken", vec![]),
        ("GetToken", vec![("TokenServiceType", s("com.apple.maid"))]),
        ("DeclarativeManagement", vec![("Endpoint", s("tokens"))]),
    ] {
        let mut entries = vec![("MessageType", s(name)), ("UDID", s(UDID))];
        entries.extend(extra);
        let msg = parse(&entries).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.message_type(), name);
        assert_eq!(msg.ids(), &ids_udid());
    }
}

#[test]
fn binary_plist_bodies_are_accepted() {
    let d: Dictionary = dict(&[("MessageType", s("CheckOut")), ("Topic", s(TOPIC)), ("UDID", s(UDID))]);
    let mut bytes = Vec::new();
    Value::Dictionary(d).to_writer_binary(&mut bytes).expect("encode");
    assert_eq!(parse_checkin(&bytes).map(|m| m.message_type()), Ok("CheckOut"));
}

#[test]
fn envelope_errors() {
    assert!(matches!(
        parse_checkin(b"<plist><dict>"),
        Err(ParseError::MalformedPlist { .. })
    ));
    let array = br#"<plist version="1.0"><array/></plist>"#;
    assert_eq!(parse_checkin(array), Err(ParseError::NotADictionary { found: "array" }));
    assert_eq!(
        parse(&[("UDID", s(UDID))]),
        Err(ParseError::MissingKey {
            key: "MessageType".into()
        })
    );
    assert_eq!(
        parse(&[("MessageType", Value::Integer(1.into()))]),
        Err(ParseError::WrongType {
            key: "MessageType".into(),
            expected: "string",
            found: "integer"
        })
    );
    let rts = parse(&[("MessageType", s("ReturnToService")), ("UDID", s(UDID))]);
    assert_eq!(rts, Err(ParseError::UnknownMessageType("ReturnToService".into())));
    let no_id = parse(&[("MessageType", s("CheckOut")), ("Topic", s(TOPIC))]);
    assert_eq!(no_id, Err(ParseError::NoEnrollmentId));
    let bad_id = parse(&[("MessageType", s("CheckOut")), ("Topic", s(TOPIC)), ("UDID", s("a:b"))]);
    assert_eq!(bad_id, Err(ParseError::InvalidIdentifier { key: "UDID" }));
}

#[test]
fn key_errors() {
    let mut entries = token_update_entries();
    entries.retain(|(k, _)| *k != "Topic");
    assert_eq!(parse(&entries), Err(ParseError::MissingKey { key: "Topic".into() }));
    let mut entries = token_update_entries();
    entries[3] = ("Token", s("not-data"));
    let err = parse(&entries).expect_err("Token as a string");
    assert_eq!(
        err,
        ParseError::WrongType {
            key: "Token".into(),
            expected: "data",
            found: "string"
        }
    );
    assert_eq!(err.to_string(), "Token: expected data, found a string");
    let mut entries = token_update_entries();
    entries[4] = ("PushMagic", Value::Data(b"secret-magic".to_vec()));
    let err = parse(&entries).expect_err("PushMagic as data");
    assert!(!err.to_string().contains("secret-magic"));
    let ep = parse(&[("MessageType", s("DeclarativeManagement")), ("UDID", s(UDID))]);
    assert_eq!(ep, Err(ParseError::MissingKey { key: "Endpoint".into() }));
    let tp = parse(&[
        ("MessageType", s("GetToken")),
        ("UDID", s(UDID)),
        ("TokenServiceType", s("com.apple.maid")),
        ("TokenParameters", s("x")),
    ]);
    assert!(matches!(
        tp,
        Err(ParseError::WrongType {
            expected: "dictionary",
            ..
        })
    ));
}

#[test]
fn unknown_message_type_is_bounded() {
    let long = "X".repeat(10_000);
    let Err(ParseError::UnknownMessageType(v)) = parse(&[("MessageType", s(&long)), ("UDID", s(UDID))]) else {
        panic!("expected UnknownMessageType");
    };
    assert!(v.len() < 100);
}

/// A TokenUpdate as XML text, with `token` and `unlock` as the `<data>` texts.
fn token_update_xml(token: &str, unlock: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<plist version=\"1.0\">\r\n<dict>\r\n\
         <key>MessageType</key><string>TokenUpdate</string>\r\n\
         <key>PushMagic</key><string>B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E</string>\r\n\
         <key>Token</key><data>{token}</data>\r\n<key>Topic</key><string>{TOPIC}</string>\r\n\
         <key>UDID</key><string>{UDID}</string>\r\n<key>UnlockToken</key><data>{unlock}</data>\r\n\
         </dict>\r\n</plist>\r\n"
    )
    .into_bytes()
}

fn token_and_unlock(body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match parse_checkin(body) {
        Ok(CheckinMessage::TokenUpdate(m)) => {
            let unlock = m.unlock_token.map(|t| t.expose().clone()).unwrap_or_default();
            (m.token, unlock)
        }
        other => panic!("expected a TokenUpdate, got {other:?}"),
    }
}

/// Issue 14: `<data>` as Apple's and Python's readers take it.
#[test]
fn lenient_data_in_a_token_update() {
    let token: Vec<u8> = (0u8..32).collect();
    let canonical = base64::engine::general_purpose::STANDARD.encode(&token);
    let unpadded = canonical.trim_end_matches('=').to_owned();
    let wrapped: String = canonical
        .as_bytes()
        .chunks(8)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\r\n\t ");
    let cases = [
        ("canonical", canonical.clone()),
        ("missing padding", unpadded.clone()),
        ("whitespace and CRLF line breaks", wrapped.clone()),
        (
            "line breaks and missing padding",
            format!("\n{}\n", unpadded.replace("AAE", "AAE\n")),
        ),
        ("a stray character", canonical.replacen('A', "A.", 1)),
    ];
    for (name, text) in cases {
        let (got, unlock) = token_and_unlock(&token_update_xml(&text, "c2VjcmV0"));
        assert_eq!(got, token, "{name}");
        assert_eq!(unlock, b"secret", "{name}");
    }
    // Placeholders of public test captures read as what CFPropertyList makes of them.
    let (got, unlock) = token_and_unlock(&token_update_xml("...", "c2VjcmV0LXVubG9jaw"));
    assert_eq!((got, unlock), (Vec::new(), b"secret-unlock".to_vec()));
    let (got, _) = token_and_unlock(&token_update_xml("<!-- redacted -->", ""));
    assert!(got.is_empty());
}

#[test]
fn unreadable_values_are_named_by_key_and_reason() {
    // A character reference is resolved by the plist crate, which then refuses the text.
    let err = parse_checkin(&token_update_xml("QU&#33;", "")).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, ParseError::MalformedPlist { at, reason, .. } if at == "Token" && reason == "not base64"),
        "{err:?}"
    );
    assert!(message.starts_with("malformed plist at Token: not base64"), "{message}");
    assert!(!message.contains("InvalidDataString"), "{message}");
    // A truncated document names where it stopped.
    let body = token_update_xml("AAEC", "");
    let cut = &body[..body.len() - 30];
    let message = parse_checkin(cut).unwrap_err().to_string();
    assert!(message.contains("the document ends inside <dict>"), "{message}");
    // A value of the wrong type, in words.
    let text = String::from_utf8(token_update_xml("AAEC", "")).unwrap();
    let wrong = text.replace("<data>AAEC</data>", "<integer>7</integer>");
    assert_eq!(
        parse_checkin(wrong.as_bytes()).unwrap_err().to_string(),
        "Token: expected data, found an integer"
    );
    // A bad integer deep in a dictionary.
    let deep = text.replace(
        "<key>Topic</key>",
        "<key>Extra</key><dict><key>Inner</key><array><integer>x</integer></array></dict><key>Topic</key>",
    );
    let message = parse_checkin(deep.as_bytes()).unwrap_err().to_string();
    assert!(
        message.starts_with("malformed plist at Extra.Inner[0]: not an integer"),
        "{message}"
    );
}
