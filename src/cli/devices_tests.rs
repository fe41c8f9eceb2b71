use super::*;
use crate::cli::{Cli, Command};
use clap::Parser;
use serde_json::json;

fn parse(args: &[&str]) -> DevicesCommand {
    let cli = Cli::try_parse_from(std::iter::once("annal").chain(args.iter().copied())).unwrap();
    match cli.command {
        Command::Devices(d) => d.command,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn filters_map_to_the_list_query() {
    let DevicesCommand::List(list) = parse(&[
        "devices",
        "list",
        "--state",
        "checked-out",
        "--model",
        "iPhone16,1",
        "--os-version",
        "17.4",
        "--last-seen-before",
        "2024-05-01T00:00:00Z",
        "--limit",
        "50",
    ]) else {
        panic!("not list")
    };
    let req = list_request(&list.filters, list.limit, Some("k9"));
    assert_eq!(req.method, hyper::Method::GET);
    assert_eq!(
        req.path,
        "/v1/devices?state=checked_out&model=iPhone16%2C1&os_version=17.4\
         &last_seen_before=2024-05-01T00%3A00%3A00Z&after=k9&limit=50"
    );
    assert_eq!(list_request(&DeviceFilters::default(), None, None).path, "/v1/devices");
}

#[test]
fn state_accepts_the_api_spelling_too() {
    let DevicesCommand::List(list) = parse(&["devices", "list", "--state", "checked_out"]) else {
        panic!("not list")
    };
    assert_eq!(list.filters.state, Some(StateArg::CheckedOut));
}

#[test]
fn show_and_queue_requests() {
    let DevicesCommand::Show { id, as_of, .. } = parse(&[
        "devices",
        "show",
        "UDID-1",
        "--as-of-time",
        "2024-05-01T12:00:00.25+00:00",
    ]) else {
        panic!("not show")
    };
    assert_eq!(
        show_request(&id, &as_of).path,
        "/v1/devices/UDID-1?as_of_time=2024-05-01T12%3A00%3A00.250Z"
    );
    assert_eq!(queue_request("a b").path, "/v1/devices/a%20b/queue");
}

#[test]
fn server_flags_work_before_or_after_the_subcommand() {
    let cli = Cli::try_parse_from([
        "annal",
        "devices",
        "--server",
        "https://mdm:1",
        "list",
        "--api-key",
        "k",
    ])
    .unwrap();
    let Command::Devices(d) = cli.command else { panic!() };
    assert_eq!(d.api.server, "https://mdm:1");
    assert_eq!(d.api.api_key.as_deref(), Some("k"));
}

#[test]
fn next_is_a_non_empty_string_or_none() {
    assert_eq!(next_key(&json!({"next": "k2"})), Some("k2".into()));
    assert_eq!(next_key(&json!({"next": null})), None);
    assert_eq!(next_key(&json!({})), None);
}

fn device() -> Value {
    json!({
        "enrollment": "enr-1", "udid": "0000-1111", "serial_number": "C02XYZ", "model": "iPhone16,1",
        "model_name": "iPhone", "os_version": "17.4", "build_version": "21E219", "state": "enrolled",
        "last_seen_at": "2024-05-01T12:00:00.123Z", "pending_commands": 2, "token_dead": false,
        "enrolled_at": "2024-04-01T08:00:00Z", "device_name": "Ann\u{1b}[2J's phone",
        "query_responses": {"BatteryLevel": 0.87, "IsSupervised": true}
    })
}

#[test]
fn list_table_has_the_documented_columns() {
    let mut dead = device();
    dead["enrollment"] = json!("enr-2");
    dead["token_dead"] = json!(true);
    dead["build_version"] = Value::Null;
    dead["last_seen_at"] = Value::Null;
    let out = devices_table(&[device(), dead]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    let expected = [
        "KEY    SERIAL  MODEL   OS             STATE                  LAST SEEN             PENDING",
        "enr-1  C02XYZ  iPhone  17.4 (21E219)  enrolled               2024-05-01 12:00:00Z  2",
        "enr-2  C02XYZ  iPhone  17.4           enrolled (token dead)  -                     2",
    ];
    assert_eq!(lines, expected);
}

#[test]
fn details_show_fields_and_query_responses_without_control_characters() {
    let out = device_details(&device());
    assert!(out.contains("os_version        17.4 (21E219)\n"), "{out}");
    assert!(out.contains("last_seen_at      2024-05-01 12:00:00Z\n"), "{out}");
    assert!(out.contains("device_name       Ann?[2J's phone\n"), "{out}");
    assert!(
        out.contains("query_responses:\n  BatteryLevel  0.87\n  IsSupervised  true\n"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'));
    assert!(!out.contains("user_id"), "absent fields are left out");
}
