use super::*;
use crate::cli::{Cli, Command};
use clap::Parser;
use serde_json::json;

fn parse(args: &[&str]) -> Result<EnqueueArgs, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("annal").chain(args.iter().copied()))?;
    match cli.command {
        Command::Enqueue(e) => Ok(e),
        other => panic!("parsed as {other:?}"),
    }
}

fn body(args: &[&str]) -> Value {
    let a = parse(args).unwrap();
    let ids = expand_ids(&a.ids, std::io::empty()).unwrap();
    let command = CommandBody::Json(command_from_keys(a.request_type.as_deref().unwrap(), &a.keys).unwrap());
    let req = build_request(&a, &ids, &command, a.command_uuid.as_deref());
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v1/commands");
    req.body.unwrap()
}

#[test]
fn request_type_and_keys_become_the_command() {
    let b = body(&[
        "enqueue",
        "e1,e2",
        "e3",
        "-t",
        "DeviceLock",
        "--key",
        "Message=Call IT: 555-0100",
        "-k",
        "PIN=123456",
        "--reason",
        "lost",
        "--no-push",
        "--platform",
        "ios",
        "--expires-at",
        "2024-05-01T12:00:00+02:00",
    ]);
    assert_eq!(
        b,
        json!({
            "enrollments": ["e1", "e2", "e3"],
            "command": {"RequestType": "DeviceLock", "Message": "Call IT: 555-0100", "PIN": "123456"},
            "reason": "lost",
            "push": false,
            "platform": "iOS",
            "expires_at": "2024-05-01T12:00:00+02:00"
        })
    );
}

#[test]
fn typed_keys_are_json() {
    let b = body(&[
        "enqueue",
        "e1",
        "-t",
        "DeviceInformation",
        "-k",
        r#"Queries:=["OSVersion","UDID"]"#,
        "-k",
        "Flag:=true",
        "--idempotency-key",
        "k1",
        "--command-uuid",
        "U-1",
    ]);
    assert_eq!(b["command"]["Queries"], json!(["OSVersion", "UDID"]));
    assert_eq!(b["command"]["Flag"], json!(true));
    assert_eq!(b["idempotency_key"], "k1");
    assert_eq!(b["command_uuid"], "U-1");
    assert!(b.get("push").is_none(), "push is left to the server's default");
}

#[test]
fn bad_keys_are_refused_before_any_request() {
    assert!(matches!(parse_key("NoEquals"), Err(EnqueueError::KeySyntax(_))));
    assert!(matches!(parse_key("=x"), Err(EnqueueError::KeySyntax(_))));
    assert!(matches!(parse_key("N:=[1,"), Err(EnqueueError::KeyJson { .. })));
    assert_eq!(parse_key("A=b=c").unwrap(), ("A".into(), json!("b=c")));
    let twice = command_from_keys("X", &["A=1".into(), "A=2".into()]);
    assert!(matches!(twice, Err(EnqueueError::DuplicateKey(k)) if k == "A"));
    assert!(matches!(
        command_from_keys("X", &["RequestType=Y".into()]),
        Err(EnqueueError::RequestTypeKey)
    ));
}

#[test]
fn exactly_one_command_source_is_required() {
    assert!(parse(&["enqueue", "e1"]).is_err());
    assert!(parse(&["enqueue", "e1", "-t", "X", "--json-command", "{}"]).is_err());
    assert!(parse(&["enqueue", "e1", "--json-command", "{}", "-k", "A=1"]).is_err());
    assert!(parse(&["enqueue", "--json-command", "{}"]).is_err(), "ids are required");
    assert!(parse(&["enqueue", "e1", "--plist-file", "c.plist"]).is_ok());
}

#[test]
fn json_commands_must_be_objects() {
    assert!(command_from_json(r#"{"RequestType":"ProfileList"}"#).is_ok());
    assert!(matches!(command_from_json("[1]"), Err(EnqueueError::JsonCommand(_))));
    assert!(matches!(command_from_json("{"), Err(EnqueueError::JsonCommand(_))));
}

#[test]
fn plist_files_are_sent_as_xml_text() {
    let a = parse(&["enqueue", "e1", "--plist-file", "x"]).unwrap();
    let mut dict = plist::Dictionary::new();
    dict.insert("RequestType".into(), "ProfileList".into());
    let mut binary = Vec::new();
    plist::Value::Dictionary(dict).to_writer_binary(&mut binary).unwrap();
    let xml = plist_xml(&binary).unwrap();
    assert!(xml.contains("<key>RequestType</key>") && xml.contains("<string>ProfileList</string>"));
    let req = build_request(&a, &["e1".into()], &CommandBody::Plist(xml.clone()), None);
    let b = req.body.unwrap();
    assert_eq!(b["plist"], Value::String(xml));
    assert!(b.get("command").is_none());
    assert!(matches!(plist_xml(b"<plist><dict>"), Err(EnqueueError::Plist(_))));
}

#[test]
fn ids_split_on_commas_read_stdin_and_drop_repeats() {
    let stdin = std::io::Cursor::new("s1\n\ns2, e1\n");
    let ids = expand_ids(&["e1,e2".into(), "-".into(), "e2".into()], stdin).unwrap();
    assert_eq!(ids, ["e1", "e2", "s1", "s2"]);
    assert!(matches!(
        expand_ids(&[" , ".into()], std::io::empty()),
        Err(EnqueueError::NoIds)
    ));
}

#[test]
fn results_count_failures_and_show_error_paths() {
    let status = json!({
        "a": {"queued": true, "duplicate": false},
        "b": {"queued": true, "duplicate": true},
        "c": {"queued": false, "error": {"code": "not_found", "message": "no such enrollment"}},
        "d": {"queued": false, "error": {"code": "invalid", "message": "bad", "path": "Command.PIN"}}
    });
    let (rows, failed) = result_rows(status.as_object().unwrap());
    assert_eq!(failed, 2);
    assert_eq!(rows[0], ["a", "queued"]);
    assert_eq!(rows[1], ["b", "duplicate (already queued)"]);
    assert_eq!(rows[2], ["c", "failed: not_found: no such enrollment"]);
    assert_eq!(rows[3], ["d", "failed: invalid: bad (at Command.PIN)"]);
}

#[test]
fn a_group_replaces_the_ids_and_the_server_resolves_it() {
    let a = parse(&[
        "enqueue",
        "--group",
        "lab-ipads",
        "-t",
        "EraseDevice",
        "--reason",
        "reset",
    ])
    .unwrap();
    assert!(a.ids.is_empty());
    let command = CommandBody::Json(command_from_keys("EraseDevice", &[]).unwrap());
    let b = build_group_request(&a, "lab-ipads", &command).body.unwrap();
    assert_eq!(b["group"], "lab-ipads");
    assert!(b.get("enrollments").is_none());
    assert_eq!(b["reason"], "reset");
    // Ids and a group together, or neither, are refused before anything is asked.
    assert!(parse(&["enqueue", "A", "--group", "lab-ipads", "-t", "DeviceInformation"]).is_err());
    assert!(parse(&["enqueue", "-t", "DeviceInformation"]).is_err());
}
