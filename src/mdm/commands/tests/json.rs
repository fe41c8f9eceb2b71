//! JSON → plist conversion: `<data>` from base64, `<date>` from RFC 3339, `<real>` from numbers.

use std::time::{Duration, SystemTime};

use plist::Value;
use serde_json::json;

use super::super::json::from_json_in;
use super::super::schema::Schema;
use super::super::validate::validate_in;
use super::{accepted, err, refused};

/// A schema with the types no Apple command uses (`<date>`, `<real>`), built by the same loader.
fn test_schema() -> Schema {
    let yaml = "\
title: Test
payload:
  requesttype: TestCommand
  supportedOS:
    iOS:
      introduced: '1.0'
payloadkeys:
- key: When
  type: <date>
  presence: required
- key: Ratio
  type: <real>
  presence: optional
- key: Scale
  type: <real>
  rangelist: [0.5, 1, 2.5]
- key: Blob
  type: <data>
- key: Times
  type: <array>
  subkeys:
  - key: TimesItem
    type: <date>
";
    Schema::from_files(&[("test", yaml)]).unwrap()
}

fn at(secs: u64) -> Value {
    Value::Date((SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).into())
}

#[test]
fn dates_from_rfc3339() {
    let schema = test_schema();
    let dict = from_json_in(
        &schema,
        &json!({"RequestType": "TestCommand", "When": "2024-10-21T12:00:00Z"}),
        None,
    )
    .unwrap();
    assert_eq!(dict.get("When"), Some(&at(1_729_512_000)));
    // An offset is honoured, not dropped.
    let dict = from_json_in(
        &schema,
        &json!({"RequestType": "TestCommand", "When": "2024-10-21T14:00:00+02:00",
        "Times": ["1970-01-01T00:00:01Z"]}),
        None,
    )
    .unwrap();
    assert_eq!(dict.get("When"), Some(&at(1_729_512_000)));
    assert_eq!(dict.get("Times"), Some(&Value::Array(vec![at(1)])));
    assert_eq!(
        from_json_in(
            &schema,
            &json!({"RequestType": "TestCommand", "When": "21/10/2024"}),
            None
        ),
        Err(err(
            "When",
            "wrong type: expected <date> as RFC 3339 got a string that is not RFC 3339"
        ))
    );
    assert_eq!(
        from_json_in(
            &schema,
            &json!({"RequestType": "TestCommand", "When": 1729512000}),
            None
        ),
        Err(err("When", "wrong type: expected <date> got integer"))
    );
    assert_eq!(
        from_json_in(
            &schema,
            &json!({"RequestType": "TestCommand", "When": "2024-10-21T12:00:00Z", "Times": ["x"]}),
            None
        ),
        Err(err(
            "Times[0]",
            "wrong type: expected <date> as RFC 3339 got a string that is not RFC 3339"
        ))
    );
}

#[test]
fn reals_accept_integers() {
    let schema = test_schema();
    let when = "2024-10-21T12:00:00Z";
    let dict = from_json_in(
        &schema,
        &json!({"RequestType": "TestCommand", "When": when, "Ratio": 2, "Scale": 1}),
        None,
    )
    .unwrap();
    assert_eq!(dict.get("Ratio"), Some(&Value::Real(2.0)));
    assert_eq!(dict.get("Scale"), Some(&Value::Real(1.0)));
    assert_eq!(
        from_json_in(
            &schema,
            &json!({"RequestType": "TestCommand", "When": when, "Scale": 2}),
            None
        ),
        Err(err("Scale", "value not allowed: 2 (allowed: 0.5, 1, 2.5)"))
    );
    // A plist integer is a valid <real> when a double holds it exactly.
    let mut plist = dict.clone();
    plist.insert("Ratio".into(), Value::Integer(3.into()));
    plist.insert("Scale".into(), Value::Integer(1.into()));
    assert_eq!(validate_in(&schema, &plist, None), Ok("TestCommand".into()));
    plist.insert("Ratio".into(), Value::Integer(((1u64 << 53) + 1).into()));
    assert_eq!(
        validate_in(&schema, &plist, None),
        Err(err("Ratio", "wrong type: expected <real> got integer"))
    );
    plist.insert("Ratio".into(), Value::String("2".into()));
    assert_eq!(
        validate_in(&schema, &plist, None),
        Err(err("Ratio", "wrong type: expected <real> got string"))
    );
}

#[test]
fn integers_refuse_fractions() {
    assert_eq!(
        refused(json!({"RequestType": "InstallApplication", "iTunesStoreID": 1.5}), None),
        err("iTunesStoreID", "wrong type: expected <integer> got real")
    );
    let dict = accepted(
        json!({"RequestType": "InstallApplication", "iTunesStoreID": u64::MAX}),
        None,
    );
    assert_eq!(dict.get("iTunesStoreID"), Some(&Value::Integer(u64::MAX.into())));
}

#[test]
fn data_from_base64() {
    let payload = b"<?xml version=\"1.0\"?><plist/>".to_vec();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &payload);
    let dict = accepted(json!({"RequestType": "InstallProfile", "Payload": b64}), None);
    assert_eq!(dict.get("Payload"), Some(&Value::Data(payload.clone())));
    // Line-wrapped base64, as plist <data> is written, decodes the same.
    let wrapped = format!("{}\n  {}", &b64[..8], &b64[8..]);
    let dict = accepted(json!({"RequestType": "InstallProfile", "Payload": wrapped}), None);
    assert_eq!(dict.get("Payload"), Some(&Value::Data(payload)));
    assert_eq!(
        refused(json!({"RequestType": "InstallProfile", "Payload": "not*base64"}), None),
        err(
            "Payload",
            "wrong type: expected <data> as base64 got a string that is not base64"
        )
    );
    assert_eq!(
        refused(json!({"RequestType": "InstallProfile", "Payload": [1, 2]}), None),
        err("Payload", "wrong type: expected <data> got array")
    );
    // Nested data keys convert too.
    let dict = accepted(
        json!({"RequestType": "EraseDevice", "ReturnToService": {"Enabled": true, "MDMProfileData": "AAEC"}}),
        None,
    );
    let rts = dict.get("ReturnToService").and_then(Value::as_dictionary).unwrap();
    assert_eq!(rts.get("MDMProfileData"), Some(&Value::Data(vec![0, 1, 2])));
    assert_eq!(rts.get("Enabled"), Some(&Value::Boolean(true)));
}

#[test]
fn settings_elements_convert_by_their_own_shape() {
    let dict = accepted(
        json!({"RequestType": "Settings", "Settings": [{"Item": "Wallpaper", "Image": "AAEC", "Where": 1}]}),
        None,
    );
    let first = dict.get("Settings").and_then(Value::as_array).unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(first.get("Image"), Some(&Value::Data(vec![0, 1, 2])));
    assert_eq!(first.get("Where"), Some(&Value::Integer(1.into())));
}
