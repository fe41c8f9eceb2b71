//! The command channel: a command plist (what an admin submits and the server sends, read by
//! `parse_command`) and a device's report (`PUT /mdm/connect`, read by `parse_report*`).
//! Both parse or refuse with a short error; what parses keeps its invariants and survives
//! being written back and read again.
#![no_main]

use annal::mdm::ids::ID_KEYS;
use annal::mdm::{command_envelope, parse_command, parse_report, parse_report_with_response, ParseError};
use annal_fuzz::encode;
use libfuzzer_sys::fuzz_target;
use plist::Value;

/// Keys of the report itself; with the identity keys (`ID_KEYS`), what the response
/// dictionary must no longer hold.
const REPORT_KEYS: [&str; 5] = ["Status", "CommandUUID", "ErrorChain", "RequestType", "NotOnConsole"];

fuzz_target!(|data: &[u8]| {
    command(data);
    report(data);
});

fn short(e: &ParseError) {
    let text = e.to_string();
    assert!(text.len() < 300, "error message of {} bytes: {text}", text.len());
}

fn command(data: &[u8]) {
    let (uuid, request_type, command) = match parse_command(data) {
        Ok(parsed) => parsed,
        Err(e) => return short(&e),
    };
    assert_eq!(command.get("RequestType"), Some(&Value::String(request_type.clone())));
    // The server wraps a queued command in its envelope: what it writes must read back the same.
    let uuid = uuid.filter(|u| !u.is_empty()).unwrap_or_else(|| "fuzz".to_owned());
    let envelope = match command_envelope(&uuid, command.clone()) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a parsed command cannot be enveloped: {e}"),
    };
    match parse_command(&envelope) {
        Ok((u, rt, c)) => {
            assert_eq!(
                (u.as_deref(), rt.as_str()),
                (Some(uuid.as_str()), request_type.as_str())
            );
            assert!(
                encode::same(&c, &command),
                "envelope changed the command: {command:?} -> {c:?}"
            );
        }
        Err(e) => panic!("the envelope of a parsed command is refused: {e}"),
    }
}

fn report(data: &[u8]) {
    let (report, response) = match parse_report_with_response(data) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert_eq!(
                parse_report(data).err(),
                Some(e.clone()),
                "the two entry points disagree"
            );
            return short(&e);
        }
    };
    assert_eq!(
        parse_report(data).as_ref(),
        Ok(&report),
        "the two entry points disagree"
    );
    assert!(
        report.ids.enrollment_key().is_ok(),
        "accepted without an enrollment key"
    );
    if report.status.requires_command_uuid() {
        assert!(report.command_uuid.is_some(), "{} without a CommandUUID", report.status);
    }
    for key in REPORT_KEYS.iter().chain(&ID_KEYS) {
        assert!(!response.contains_key(key), "{key} left in the response keys");
    }
    let rewritten = encode::binary(encode::report(&report, &response));
    match parse_report_with_response(&rewritten) {
        Ok((r, resp)) => {
            assert_eq!(r, report, "round trip changed the report");
            assert!(encode::same(&resp, &response), "round trip changed the response keys");
        }
        Err(e) => panic!("a parsed report, written back, is refused: {e}; {report:?}"),
    }
}
