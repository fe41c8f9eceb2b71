//! Apple's official example plists (tests/data/apple-device-management, MIT, see its README)
//! through the protocol layer: commands through `parse_command`, results through `parse_report`,
//! and the two known-broken examples behaving as PROVENANCE.md describes.

use std::fs;
use std::path::{Path, PathBuf};

use annal::mdm::{parse_command, parse_dict, parse_plist, parse_report_with_response, ParseError, Status};
use plist::Value;

/// Example folder (= `mdm/commands/<folder>.yaml`) → that YAML's `payload.requesttype` and its
/// `responsekeys` present in the example result.
const COMMANDS: [(&str, &str, &[&str]); 9] = [
    ("declarativemanagement", "DeclarativeManagement", &[]),
    ("device.erase", "EraseDevice", &[]),
    ("device.lock", "DeviceLock", &["MessageResult"]),
    ("information.device", "DeviceInformation", &["QueryResponses"]),
    ("information.security", "SecurityInfo", &["SecurityInfo"]),
    ("passcode.clear", "ClearPasscode", &[]),
    ("profile.install", "InstallProfile", &[]),
    ("profile.list", "ProfileList", &["ProfileList"]),
    ("profile.remove", "RemoveProfile", &[]),
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/apple-device-management/examples")
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn plist_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            plist_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "plist") {
            out.push(path);
        }
    }
}

fn command_folders() -> Vec<(String, PathBuf)> {
    let dir = examples().join("mdm/commands");
    let mut folders: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .map(|path| {
            (
                path.file_name().expect("folder name").to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();
    folders.sort();
    folders
}

fn expected(folder: &str) -> (&'static str, &'static [&'static str]) {
    match COMMANDS.iter().find(|(f, _, _)| *f == folder) {
        Some((_, request_type, response_keys)) => (request_type, response_keys),
        None => panic!("new example folder {folder}: add its RequestType from mdm/commands/{folder}.yaml to COMMANDS"),
    }
}

/// `{Command: {CommandUUID, Command: {RequestType, …}}}`: the inner envelope's CommandUUID and
/// RequestType, read by hand.
fn nested_envelope(bytes: &[u8]) -> (String, String) {
    let top = parse_dict(bytes).expect("outer plist");
    let outer = top
        .get("Command")
        .and_then(Value::as_dictionary)
        .expect("Command dictionary");
    let uuid = outer
        .get("CommandUUID")
        .and_then(Value::as_string)
        .expect("Command.CommandUUID");
    let inner = outer
        .get("Command")
        .and_then(Value::as_dictionary)
        .expect("Command.Command");
    let rt = inner
        .get("RequestType")
        .and_then(Value::as_string)
        .expect("Command.Command.RequestType");
    (uuid.to_owned(), rt.to_owned())
}

#[test]
fn every_example_is_a_plist() {
    let mut files = Vec::new();
    plist_files(&examples(), &mut files);
    assert_eq!(files.len(), 19, "PROVENANCE.md lists 19 example plists");
    for path in files {
        let bytes = read(&path);
        if let Err(e) = parse_plist(&bytes) {
            panic!("{}: {e}", path.display());
        }
        assert!(
            plist::Value::from_reader(std::io::Cursor::new(&bytes)).is_ok(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_command_example_yields_its_request_type() {
    let mut seen = 0;
    for (folder, dir) in command_folders() {
        let path = dir.join("example1.plist");
        if !path.exists() {
            continue; // information.security ships a result only
        }
        let (request_type, _) = expected(&folder);
        let bytes = read(&path);
        if folder == "declarativemanagement" {
            // Documented choice: the doubly nested envelope is reported, not unwrapped.
            assert_eq!(parse_command(&bytes), Err(ParseError::NestedEnvelope));
            assert_eq!(nested_envelope(&bytes).1, request_type);
        } else {
            let (uuid, rt, command) = parse_command(&bytes).unwrap_or_else(|e| panic!("{folder}: {e}"));
            assert_eq!(rt, request_type, "{folder}");
            assert!(
                uuid.is_some_and(|u| !u.is_empty()),
                "{folder}: envelope has a CommandUUID"
            );
            assert_eq!(
                command.get("RequestType").and_then(Value::as_string),
                Some(request_type)
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn every_result_example_is_a_report() {
    let mut seen = 0;
    for (folder, dir) in command_folders() {
        let (_, response_keys) = expected(&folder);
        let bytes = read(&dir.join("example2.plist"));
        // Apple's results all carry an identifier (UDID, or EnrollmentID for the DDM one): none is filled in.
        let (report, response) = parse_report_with_response(&bytes).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(report.status, Status::Acknowledged, "{folder}");
        assert!(report.error_chain.is_empty(), "{folder}");
        let key = report.ids.enrollment_key().unwrap_or_else(|e| panic!("{folder}: {e}"));
        if folder == "declarativemanagement" {
            assert_eq!(report.ids.udid, None);
            assert_eq!(key, "8DB29EAB-A5BB-4B60-8DDA-F75517766FAC");
        } else {
            assert_eq!(key, "00008020-000915083C80012E", "{folder}");
        }
        let mut keys: Vec<&str> = response.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, response_keys, "{folder}: response keys");
        // The result answers the command of the same folder.
        let command = dir.join("example1.plist");
        if command.exists() {
            let bytes = read(&command);
            let uuid = match parse_command(&bytes) {
                Ok((uuid, _, _)) => uuid,
                Err(ParseError::NestedEnvelope) => Some(nested_envelope(&bytes).0),
                Err(e) => panic!("{folder}: {e}"),
            };
            assert_eq!(report.command_uuid, uuid, "{folder}");
        }
        seen += 1;
    }
    assert_eq!(seen, 9);
}

#[test]
fn profile_install_payload_is_not_well_formed() {
    let bytes = read(&examples().join("mdm/commands/profile.install/example1.plist"));
    let (_, rt, command) = parse_command(&bytes).expect("the outer command is well formed");
    assert_eq!(rt, "InstallProfile");
    let payload = command
        .get("Payload")
        .and_then(Value::as_data)
        .expect("Payload is data");
    assert!(payload.starts_with(b"<?xml"), "the payload is an XML profile");
    assert!(matches!(parse_plist(payload), Err(ParseError::MalformedPlist { .. })));
    assert!(plist::Value::from_reader(std::io::Cursor::new(payload)).is_err());
}
