use plist::Value;

use super::*;
use crate::mdm::testutil::{body, dict, s};

const UDID: &str = "00008020-000915083C80012E";
const CMD: &str = "0001_DeviceLock";

fn parse(entries: &[(&str, Value)]) -> Result<CommandReport, ParseError> {
    parse_report(&body(entries))
}

fn ids_udid() -> EnrollmentIds {
    EnrollmentIds {
        udid: Some(UDID.into()),
        ..Default::default()
    }
}

fn error_item(code: i64, domain: &str) -> Value {
    Value::Dictionary(dict(&[
        ("ErrorCode", Value::Integer(code.into())),
        ("ErrorDomain", s(domain)),
        ("LocalizedDescription", s("The command could not be completed.")),
    ]))
}

#[test]
fn idle_needs_no_command_uuid() {
    let report = parse(&[("Status", s("Idle")), ("UDID", s(UDID))]);
    let expected = CommandReport {
        ids: ids_udid(),
        status: Status::Idle,
        command_uuid: None,
        error_chain: vec![],
        request_type: None,
    };
    assert_eq!(report, Ok(expected));
}

#[test]
fn acknowledged_with_response_keys() {
    let entries = [
        ("Status", s("Acknowledged")),
        ("UDID", s(UDID)),
        ("CommandUUID", s(CMD)),
        ("MessageResult", s("Success")),
        ("QueryResponses", Value::Dictionary(dict(&[("UDID", s(UDID))]))),
    ];
    let (report, response) = parse_report_with_response(&body(&entries)).expect("valid report");
    assert_eq!(report.status, Status::Acknowledged);
    assert_eq!(report.command_uuid.as_deref(), Some(CMD));
    let keys: Vec<&String> = response.keys().collect();
    assert_eq!(keys.len(), 2, "only response keys remain: {keys:?}");
    assert!(response.contains_key("MessageResult") && response.contains_key("QueryResponses"));
}

#[test]
fn error_with_chain() {
    let chain = Value::Array(vec![
        error_item(12021, "MCMDMErrorDomain"),
        Value::Dictionary(dict(&[
            ("ErrorCode", Value::Integer(4001.into())),
            ("ErrorDomain", s("MCProfileErrorDomain")),
            ("USEnglishDescription", s("Profile is malformed")),
        ])),
    ]);
    let report = parse(&[
        ("Status", s("Error")),
        ("UDID", s(UDID)),
        ("CommandUUID", s(CMD)),
        ("ErrorChain", chain),
    ])
    .expect("valid error report");
    assert_eq!(report.status, Status::Error);
    assert_eq!(
        report.error_chain,
        vec![
            ErrorChainItem {
                error_code: 12021,
                error_domain: "MCMDMErrorDomain".into(),
                localized_description: Some("The command could not be completed.".into()),
                us_english_description: None,
            },
            ErrorChainItem {
                error_code: 4001,
                error_domain: "MCProfileErrorDomain".into(),
                localized_description: None,
                us_english_description: Some("Profile is malformed".into()),
            },
        ]
    );
}

#[test]
fn error_without_chain_is_accepted() {
    let report = parse(&[("Status", s("Error")), ("UDID", s(UDID)), ("CommandUUID", s(CMD))]);
    assert_eq!(report.map(|r| r.error_chain), Ok(vec![]));
}

#[test]
fn command_format_error_and_not_now() {
    for (name, status) in [
        ("CommandFormatError", Status::CommandFormatError),
        ("NotNow", Status::NotNow),
    ] {
        let report = parse(&[("Status", s(name)), ("EnrollmentID", s("E1")), ("CommandUUID", s(CMD))])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.status, status);
        assert_eq!(report.ids.enrollment_key(), Ok("E1".to_string()));
        assert_eq!(status.to_string(), name);
        assert_eq!(name.parse::<Status>(), Ok(status));
    }
}

#[test]
fn every_status_but_idle_requires_a_command_uuid() {
    for status in [
        Status::Acknowledged,
        Status::Error,
        Status::CommandFormatError,
        Status::NotNow,
    ] {
        assert!(status.requires_command_uuid());
        let report = parse(&[("Status", s(status.as_str())), ("UDID", s(UDID))]);
        assert_eq!(
            report,
            Err(ParseError::MissingCommandUuid {
                status: status.as_str()
            })
        );
    }
    assert!(!Status::Idle.requires_command_uuid());
}

#[test]
fn user_channel_and_request_type_echo() {
    let report = parse(&[
        ("Status", s("Acknowledged")),
        ("UDID", s(UDID)),
        ("UserID", s("U1")),
        ("UserShortName", s("ann")),
        ("NotOnConsole", Value::Boolean(true)),
        ("CommandUUID", s(CMD)),
        ("RequestType", s("ProfileList")),
    ])
    .expect("valid user-channel report");
    assert_eq!(report.ids.enrollment_key(), Ok(format!("{UDID}:U1")));
    assert_eq!(report.request_type.as_deref(), Some("ProfileList"));
    assert_eq!(report.ids.to_device_ref().user_id.as_deref(), Some("U1"));
}

#[test]
fn status_errors() {
    assert_eq!(
        parse(&[("UDID", s(UDID))]),
        Err(ParseError::MissingKey { key: "Status".into() })
    );
    assert_eq!(
        parse(&[("Status", Value::Boolean(true)), ("UDID", s(UDID))]),
        Err(ParseError::WrongType {
            key: "Status".into(),
            expected: "string",
            found: "boolean"
        })
    );
    assert_eq!(
        parse(&[("Status", s("Done")), ("UDID", s(UDID))]),
        Err(ParseError::UnknownStatus("Done".into()))
    );
    assert_eq!(parse(&[("Status", s("Idle"))]), Err(ParseError::NoEnrollmentId));
    assert!(matches!(
        parse_report(b"bplist00"),
        Err(ParseError::MalformedPlist { .. })
    ));
    let string_root = br#"<plist version="1.0"><string>Idle</string></plist>"#;
    assert_eq!(
        parse_report(string_root),
        Err(ParseError::NotADictionary { found: "string" })
    );
}

#[test]
fn error_chain_wrong_types_name_the_item() {
    let report = |chain: Value| {
        parse(&[
            ("Status", s("Error")),
            ("UDID", s(UDID)),
            ("CommandUUID", s(CMD)),
            ("ErrorChain", chain),
        ])
    };
    assert_eq!(
        report(s("oops")),
        Err(ParseError::WrongType {
            key: "ErrorChain".into(),
            expected: "array",
            found: "string"
        })
    );
    assert_eq!(
        report(Value::Array(vec![error_item(1, "D"), s("x")])),
        Err(ParseError::WrongType {
            key: "ErrorChain[1]".into(),
            expected: "dictionary",
            found: "string"
        })
    );
    let code_as_string = Value::Dictionary(dict(&[("ErrorCode", s("12021")), ("ErrorDomain", s("D"))]));
    assert_eq!(
        report(Value::Array(vec![code_as_string])),
        Err(ParseError::WrongType {
            key: "ErrorChain[0].ErrorCode".into(),
            expected: "integer",
            found: "string"
        })
    );
    let no_domain = Value::Dictionary(dict(&[("ErrorCode", Value::Integer(1.into()))]));
    assert_eq!(
        report(Value::Array(vec![no_domain])),
        Err(ParseError::MissingKey {
            key: "ErrorChain[0].ErrorDomain".into()
        })
    );
}

#[test]
fn command_uuid_wrong_type() {
    let report = parse(&[
        ("Status", s("Acknowledged")),
        ("UDID", s(UDID)),
        ("CommandUUID", Value::Integer(7.into())),
    ]);
    assert_eq!(
        report,
        Err(ParseError::WrongType {
            key: "CommandUUID".into(),
            expected: "string",
            found: "integer"
        })
    );
}

fn answer_xml(extra: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CommandUUID</key><string>{CMD}</string>\
         {extra}<key>Status</key><string>Acknowledged</string><key>UDID</key><string>{UDID}</string></dict></plist>"
    )
    .into_bytes()
}

/// Issue 14: `<data>` in a command answer as Apple's and Python's readers take it.
#[test]
fn lenient_data_in_a_command_answer() {
    for text in ["AAECAw==", "AAECAw", "AA\r\nEC\r\nAw", " A A E C A w = = ", "AAE.CAw"] {
        let body = answer_xml(&format!(
            "<key>ProfileList</key><array><dict><key>SignerCertificates</key><array><data>{text}</data></array></dict></array>"
        ));
        let (report, response) = parse_report_with_response(&body).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(report.command_uuid.as_deref(), Some(CMD));
        let list = response
            .get("ProfileList")
            .and_then(Value::as_array)
            .expect("ProfileList");
        let certs = list[0]
            .as_dictionary()
            .and_then(|d| d.get("SignerCertificates"))
            .and_then(Value::as_array)
            .expect("certificates");
        assert_eq!(certs[0].as_data(), Some(&[0u8, 1, 2, 3][..]), "{text:?}");
    }
}

#[test]
fn an_unreadable_answer_keeps_its_header() {
    let body = answer_xml("<key>QueryResponses</key><dict><key>ProductName</key><integer>iPad</integer></dict>");
    let err = parse_report(&body).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("malformed plist at QueryResponses.ProductName: not an integer (byte "),
        "{message}"
    );
    match read_report(&body) {
        Ok(ReadReport::Unreadable(r)) => {
            assert_eq!(
                (r.status, r.command_uuid.as_str(), r.ids),
                (Status::Acknowledged, CMD, ids_udid())
            );
            assert_eq!(r.error, err);
        }
        other => panic!("expected an unreadable report, got {other:?}"),
    }
    // A report that parses but whose own keys have the wrong type.
    let body = answer_xml("<key>ErrorChain</key><array><string>x</string></array>");
    match read_report(&body) {
        Ok(ReadReport::Unreadable(r)) => assert_eq!(
            r.error.to_string(),
            "ErrorChain[0]: expected a dictionary, found a string"
        ),
        other => panic!("expected an unreadable report, got {other:?}"),
    }
    // A whole report reads whole.
    assert!(matches!(read_report(&answer_xml("")), Ok(ReadReport::Whole(..))));
}

#[test]
fn without_status_and_command_uuid_it_is_refused() {
    let broken = "<key>QueryResponses</key><dict><key>A</key><integer>x</integer></dict>";
    // Idle answers no command: refused.
    let idle = String::from_utf8(answer_xml(broken))
        .unwrap()
        .replace(">Acknowledged<", ">Idle<");
    assert!(read_report(idle.as_bytes()).is_err());
    // No readable CommandUUID.
    let none = String::from_utf8(answer_xml(broken))
        .unwrap()
        .replace(&format!("<string>{CMD}</string>"), "<integer>3</integer>");
    assert!(read_report(none.as_bytes()).is_err());
    // No enrollment identifier.
    let anonymous = String::from_utf8(answer_xml(broken))
        .unwrap()
        .replace(&format!("<key>UDID</key><string>{UDID}</string>"), "");
    assert!(read_report(anonymous.as_bytes()).is_err());
    // An unknown Status, a Status of the wrong type: the precise refusal of the strict parse.
    let unknown = String::from_utf8(answer_xml(""))
        .unwrap()
        .replace(">Acknowledged<", ">Done<");
    assert_eq!(
        read_report(unknown.as_bytes()),
        Err(ParseError::UnknownStatus("Done".into()))
    );
}
