//! Apple's example command plists (tests/data/apple-device-management, MIT) through `validate`.

use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};

use super::super::platform::Platform;
use super::super::schema::apple;
use super::super::validate;
use super::err;

fn commands_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/apple-device-management/examples/mdm/commands")
}

/// `(folder, Command dictionary)` of every `example1.plist` (the server → device envelope).
fn examples() -> Vec<(String, Dictionary)> {
    let mut out: Vec<(String, Dictionary)> = std::fs::read_dir(commands_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("example1.plist").exists())
        .map(|dir| {
            let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
            let envelope = Value::from_file(dir.join("example1.plist")).unwrap();
            let command = envelope
                .as_dictionary()
                .and_then(|d| d.get("Command"))
                .and_then(Value::as_dictionary)
                .unwrap_or_else(|| panic!("{folder}: no Command dictionary"))
                .clone();
            (folder, command)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn example(folder: &str) -> Dictionary {
    examples().into_iter().find(|(f, _)| f == folder).unwrap().1
}

#[test]
fn every_example_validates_as_its_schema_file_says() {
    let schema = apple().unwrap();
    let all = examples();
    assert_eq!(all.len(), 8, "{:?}", all.iter().map(|e| &e.0).collect::<Vec<_>>());
    for (folder, command) in all {
        let spec = schema.commands().find(|c| c.file == folder).unwrap();
        let result = validate(&command, None);
        if folder == "declarativemanagement" {
            // Apple's example nests the envelope twice (see PROVENANCE.md): no RequestType here.
            assert_eq!(result, Err(err("RequestType", "missing required key")), "{folder}");
        } else {
            assert_eq!(result, Ok(spec.name.clone()), "{folder}");
        }
    }
}

#[test]
fn the_declarativemanagement_example_is_valid_once_unwrapped() {
    let outer = example("declarativemanagement");
    let inner = outer.get("Command").and_then(Value::as_dictionary).unwrap();
    assert_eq!(validate(inner, None), Ok("DeclarativeManagement".into()));
    // The stray envelope keys are what a device would choke on.
    let mut with_uuid = inner.clone();
    with_uuid.insert("CommandUUID".into(), Value::String("0001".into()));
    assert_eq!(validate(&with_uuid, None), Err(err("CommandUUID", "unknown key")));
}

#[test]
fn examples_against_platforms() {
    let lock = example("device.lock");
    assert_eq!(validate(&lock, Some(Platform::Ios)), Ok("DeviceLock".into()));
    assert_eq!(validate(&lock, Some(Platform::MacOs)), Ok("DeviceLock".into()));
    assert_eq!(
        validate(&lock, Some(Platform::VisionOs)),
        Err(err("Message", "not supported on visionOS"))
    );
    assert_eq!(
        validate(&lock, Some(Platform::TvOs)),
        Err(err("RequestType", "not supported on tvOS"))
    );

    let erase = example("device.erase");
    assert_eq!(validate(&erase, Some(Platform::Ios)), Ok("EraseDevice".into()));
    // The example's first key (dictionary order is the file's) is iOS-only.
    assert_eq!(
        validate(&erase, Some(Platform::MacOs)),
        Err(err("DisallowProximitySetup", "not supported on macOS"))
    );

    let clear = example("passcode.clear");
    assert_eq!(validate(&clear, Some(Platform::Ios)), Ok("ClearPasscode".into()));
    assert_eq!(
        validate(&clear, Some(Platform::MacOs)),
        Err(err("RequestType", "not supported on macOS"))
    );
}

#[test]
fn example_queries_are_checked_one_by_one_on_a_platform() {
    let info = example("information.device");
    let queries = info.get("Queries").and_then(Value::as_array).unwrap();
    let spec = apple().unwrap().command("DeviceInformation").unwrap();
    let names = &spec.keys.iter().find(|k| k.name == "Queries").unwrap().subkeys[0];
    // The first query the schema marks n/a on macOS is the one refused.
    let first_na = queries
        .iter()
        .position(|q| {
            names
                .subkey(q.as_string().unwrap())
                .is_some_and(|doc| doc.unsupported.contains(Platform::MacOs))
        })
        .unwrap();
    assert_eq!(
        validate(&info, Some(Platform::MacOs)),
        Err(err(&format!("Queries[{first_na}]"), "not supported on macOS"))
    );
    assert_eq!(validate(&info, None), Ok("DeviceInformation".into()));
}
