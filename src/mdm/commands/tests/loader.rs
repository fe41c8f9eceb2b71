//! The embedded schema: every file is listed and read, and the compiled tables say what the YAML says.

use std::collections::BTreeSet;
use std::path::Path;

use super::super::embedded::FILES;
use super::super::platform::Platform;
use super::super::request_types;
use super::super::schema::{apple, KeyType, Schema, SchemaError};

fn schema_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/apple/mdm/commands")
}

#[test]
fn embedded_list_is_the_folder() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".yaml").map(str::to_owned))
        .collect();
    let embedded: BTreeSet<String> = FILES.iter().map(|(stem, _)| (*stem).to_owned()).collect();
    assert_eq!(embedded, on_disk);
    assert_eq!(FILES.len(), 66);
    for (stem, text) in FILES {
        let disk = std::fs::read_to_string(schema_dir().join(format!("{stem}.yaml"))).unwrap();
        assert_eq!(*text, disk, "{stem} embedded text differs from the file");
    }
}

/// The RequestTypes read straight from the YAML text, without the loader.
fn request_types_in_text() -> BTreeSet<String> {
    FILES
        .iter()
        .map(|(stem, text)| {
            let line = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("requesttype:"))
                .unwrap_or_else(|| panic!("{stem} has no requesttype line"));
            line.trim().to_owned()
        })
        .collect()
}

#[test]
fn request_types_are_all_66() {
    let listed = request_types();
    assert_eq!(listed.len(), 66);
    let listed_set: BTreeSet<String> = listed.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(listed_set, request_types_in_text());
    for rt in [
        "DeviceLock",
        "EraseDevice",
        "ClearPasscode",
        "Settings",
        "DeclarativeManagement",
        "Restrictions",
    ] {
        assert!(listed.contains(&rt), "{rt} missing");
    }
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted);
}

#[test]
fn compiled_tables_follow_the_yaml() {
    let schema = apple().unwrap();
    let lock = schema.command("DeviceLock").unwrap();
    assert_eq!(lock.file, "device.lock");
    assert!(lock.unsupported.contains(Platform::TvOs));
    assert!(!lock.unsupported.contains(Platform::Ios));
    let pin = lock.keys.iter().find(|k| k.name == "PIN").unwrap();
    assert_eq!(pin.ty, KeyType::String);
    assert!(!pin.required);
    let na: Vec<Platform> = Platform::ALL
        .into_iter()
        .filter(|p| pin.unsupported.contains(*p))
        .collect();
    assert_eq!(na, [Platform::Ios, Platform::VisionOs, Platform::WatchOs]);

    let clear = schema.command("ClearPasscode").unwrap();
    assert!(clear.unsupported.contains(Platform::MacOs) && clear.unsupported.contains(Platform::TvOs));
    assert!(clear.keys[0].required && clear.keys[0].ty == KeyType::Data);

    let settings = schema.command("Settings").unwrap();
    assert_eq!(settings.keys[0].tag.as_deref(), Some("Item"));
    assert_eq!(settings.keys[0].subkeys.len(), 19);

    let enterprise = schema.command("InstallEnterpriseApplication").unwrap();
    let manifest = enterprise.keys.iter().find(|k| k.name == "Manifest").unwrap();
    assert!(manifest.is_open());
    let flags = enterprise.keys.iter().find(|k| k.name == "ManagementFlags").unwrap();
    assert!(!flags.is_open());
}

fn yaml(keys: &str) -> String {
    format!(
        "title: T\npayload:\n  requesttype: Test\n  supportedOS:\n    iOS:\n      introduced: '1.0'\npayloadkeys:\n{keys}"
    )
}

#[test]
fn loader_refuses_what_it_cannot_check() {
    let unknown_type = yaml("- key: A\n  type: <number>\n");
    assert_eq!(
        Schema::from_files(&[("t", &unknown_type)]),
        Err(SchemaError::UnknownType {
            file: "t".into(),
            key: "A".into(),
            ty: "<number>".into()
        })
    );
    let untagged = yaml(
        "- key: A\n  type: <array>\n  subkeys:\n  - key: X\n    type: <string>\n  - key: Y\n    type: <integer>\n",
    );
    assert_eq!(
        Schema::from_files(&[("t", &untagged)]),
        Err(SchemaError::UntaggedArray {
            file: "t".into(),
            key: "A".into()
        })
    );
    let ok = yaml("- key: A\n  type: <string>\n");
    assert_eq!(
        Schema::from_files(&[("t", &ok), ("u", &ok)]),
        Err(SchemaError::Duplicate {
            file: "u".into(),
            name: "Test".into()
        })
    );
    assert!(matches!(
        Schema::from_files(&[("bad", "payload: [unclosed")]),
        Err(SchemaError::Yaml { file, .. }) if file == "bad"
    ));
    // A command that leaves an OS out of supportedOS is not available there.
    let schema = Schema::from_files(&[("t", &ok)]).unwrap();
    let spec = schema.command("Test").unwrap();
    assert!(!spec.unsupported.contains(Platform::Ios));
    assert!(spec.unsupported.contains(Platform::MacOs));
}
