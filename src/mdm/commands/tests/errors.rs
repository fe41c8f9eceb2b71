//! Each kind of refusal, with its exact path and reason.

use plist::{Dictionary, Value};
use serde_json::json;

use super::super::platform::Platform::{self, Ios, MacOs, TvOs};
use super::super::validate;
use super::{accepted, err, refused};

const NONE: Option<Platform> = None;

#[test]
fn request_type_errors() {
    assert_eq!(
        refused(json!({"PIN": "123456"}), NONE),
        err("RequestType", "missing required key")
    );
    assert_eq!(
        refused(json!({"RequestType": 5}), NONE),
        err("RequestType", "wrong type: expected <string> got integer")
    );
    assert_eq!(
        refused(json!({"RequestType": "DeviceLok"}), NONE),
        err("RequestType", "unknown RequestType: \"DeviceLok\"")
    );
    // Checked before anything else, even a key that cannot convert.
    assert_eq!(
        refused(json!({"RequestType": "Nope", "Payload": null}), NONE),
        err("RequestType", "unknown RequestType: \"Nope\"")
    );
    assert_eq!(
        refused(json!(["DeviceLock"]), NONE),
        err("Command", "wrong type: expected <dictionary> got array")
    );
    let mut numeric = Dictionary::new();
    numeric.insert("RequestType".into(), Value::Boolean(true));
    assert_eq!(
        validate(&numeric, None),
        Err(err("RequestType", "wrong type: expected <string> got boolean"))
    );
}

#[test]
fn missing_wrong_type_and_unknown_keys() {
    assert_eq!(
        refused(json!({"RequestType": "RemoveProfile"}), NONE),
        err("Identifier", "missing required key")
    );
    assert_eq!(
        refused(json!({"RequestType": "RemoveProfile", "Identifier": 5}), NONE),
        err("Identifier", "wrong type: expected <string> got integer")
    );
    assert_eq!(
        refused(json!({"RequestType": "SecurityInfo", "Foo": 1}), NONE),
        err("Foo", "unknown key")
    );
    assert_eq!(
        refused(json!({"RequestType": "ProfileList", "ManagedOnly": "yes"}), NONE),
        err("ManagedOnly", "wrong type: expected <boolean> got string")
    );
    assert_eq!(
        refused(json!({"RequestType": "ProfileList", "ManagedOnly": null}), NONE),
        err("ManagedOnly", "wrong type: expected <boolean> got null")
    );
    assert_eq!(
        refused(json!({"RequestType": "ProfileList", "Other": null}), NONE),
        err("Other", "wrong type: expected a plist value got null")
    );
    // A plist Command dictionary with a string where Apple wants <data>.
    let mut install = Dictionary::new();
    install.insert("RequestType".into(), Value::String("InstallProfile".into()));
    install.insert("Payload".into(), Value::String("PD94bWw=".into()));
    assert_eq!(
        validate(&install, None),
        Err(err("Payload", "wrong type: expected <data> got string"))
    );
}

#[test]
fn platform_refusals() {
    let lock_with_pin = json!({"RequestType": "DeviceLock", "PIN": "123456", "Message": "Lost"});
    assert_eq!(
        refused(lock_with_pin.clone(), Some(Ios)),
        err("PIN", "not supported on iOS")
    );
    assert_eq!(accepted(lock_with_pin.clone(), Some(MacOs)).len(), 3);
    assert_eq!(accepted(lock_with_pin, NONE).len(), 3);
    assert_eq!(
        refused(json!({"RequestType": "DeviceLock"}), Some(TvOs)),
        err("RequestType", "not supported on tvOS")
    );
    assert_eq!(
        refused(
            json!({"RequestType": "EraseDevice", "ObliterationBehavior": "Always"}),
            Some(Ios)
        ),
        err("ObliterationBehavior", "not supported on iOS")
    );
    // Nested: ReturnToService is iOS/tvOS; its subkeys inherit that.
    let rts = json!({"RequestType": "EraseDevice", "ReturnToService": {"Enabled": true}});
    assert!(from_ok(&rts, Some(Ios)));
    assert_eq!(
        refused(rts, Some(MacOs)),
        err("ReturnToService", "not supported on macOS")
    );
    // Documented query names carry their own platform support; undocumented ones pass.
    let queries = json!({"RequestType": "DeviceInformation", "Queries": ["UDID", "IsAppleSilicon", "NotAQuery"]});
    assert_eq!(
        refused(queries.clone(), Some(Ios)),
        err("Queries[1]", "not supported on iOS")
    );
    assert!(from_ok(&queries, Some(MacOs)));
}

fn from_ok(command: &serde_json::Value, platform: Option<Platform>) -> bool {
    super::super::from_json(command, platform).is_ok()
}

#[test]
fn allowed_values() {
    assert_eq!(
        refused(
            json!({"RequestType": "EraseDevice", "ObliterationBehavior": "Sometimes"}),
            NONE
        ),
        err(
            "ObliterationBehavior",
            "value not allowed: \"Sometimes\" (allowed: Default, DoNotObliterate, ObliterateWithWarning, Always)"
        )
    );
    assert_eq!(
        refused(json!({"RequestType": "InstallApplication", "ManagementFlags": 2}), NONE),
        err("ManagementFlags", "value not allowed: 2 (allowed: 1, 4, 5)")
    );
    assert_eq!(
        accepted(json!({"RequestType": "InstallApplication", "ManagementFlags": 4}), NONE).len(),
        2
    );
    assert_eq!(
        refused(
            json!({"RequestType": "InstalledApplicationList", "Items": ["Name", "Colour"]}),
            NONE
        ),
        err(
            "Items[1]",
            &format!("value not allowed: \"Colour\" (allowed: {})", items_allowed())
        )
    );
}

fn items_allowed() -> String {
    let schema = super::super::schema::apple().unwrap();
    let spec = schema.command("InstalledApplicationList").unwrap();
    let items = spec.keys.iter().find(|k| k.name == "Items").unwrap();
    let allowed: Vec<String> = items.subkeys[0].allowed.iter().map(|a| a.shown()).collect();
    assert!(allowed.len() > 10 && allowed.contains(&"Name".to_string()));
    allowed.join(", ")
}

#[test]
fn nested_paths() {
    assert_eq!(
        refused(json!({"RequestType": "EraseDevice", "ReturnToService": {}}), NONE),
        err("ReturnToService.Enabled", "missing required key")
    );
    assert_eq!(
        refused(
            json!({"RequestType": "EraseDevice", "ReturnToService": {"Enabled": true, "Extra": 1}}),
            NONE
        ),
        err("ReturnToService.Extra", "unknown key")
    );
    assert_eq!(
        refused(
            json!({"RequestType": "DeviceInformation", "Queries": ["UDID", "OSVersion", 3]}),
            NONE
        ),
        err("Queries[2]", "wrong type: expected <string> got integer")
    );
    assert_eq!(
        refused(json!({"RequestType": "DeviceInformation", "Queries": "UDID"}), NONE),
        err("Queries", "wrong type: expected <array> got string")
    );
    // Open dictionaries (`ANY` subkey) take keys the schema does not name.
    let config = json!({"RequestType": "InstallApplication", "iTunesStoreID": 1,
                        "Configuration": {"ServerURL": "https://x", "Nested": {"A": [1, 2.5, true]}}});
    assert_eq!(accepted(config, NONE).len(), 3);
}

#[test]
fn tagged_array_elements() {
    let settings = |items: serde_json::Value| json!({"RequestType": "Settings", "Settings": items});
    assert_eq!(
        accepted(
            settings(json!([{"Item": "DeviceName", "DeviceName": "Lab 1"}])),
            Some(Ios)
        )
        .len(),
        2
    );
    assert_eq!(
        refused(settings(json!([{"Item": "DeviceName"}])), NONE),
        err("Settings[0].DeviceName", "missing required key")
    );
    assert_eq!(
        refused(settings(json!([{"DeviceName": "Lab 1"}])), NONE),
        err("Settings[0].Item", "missing required key")
    );
    assert_eq!(
        refused(settings(json!([{"Item": 3}])), NONE),
        err("Settings[0].Item", "wrong type: expected <string> got integer")
    );
    assert_eq!(
        refused(settings(json!(["DeviceName"])), NONE),
        err("Settings[0]", "wrong type: expected <dictionary> got string")
    );
    let e = refused(
        settings(json!([{"Item": "DeviceName", "DeviceName": "a"}, {"Item": "Colour"}])),
        NONE,
    );
    assert_eq!(e.path, "Settings[1].Item");
    assert!(
        e.reason
            .starts_with("value not allowed: \"Colour\" (allowed: Wallpaper, DataRoaming,"),
        "{e}"
    );
    assert!(e.reason.ends_with(", AccessibilitySettings)"), "{e}");
    // The element shape chosen by Item decides the keys and types inside it.
    assert_eq!(
        refused(
            settings(json!([{"Item": "DeviceName", "DeviceName": "a", "HostName": "b"}])),
            NONE
        ),
        err("Settings[0].HostName", "unknown key")
    );
    assert_eq!(
        refused(settings(json!([{"Item": "HostName", "HostName": "mac"}])), Some(Ios)),
        err("Settings[0]", "not supported on iOS")
    );
}

#[test]
fn messages_never_quote_secret_values() {
    let e = refused(
        json!({"RequestType": "ClearPasscode", "UnlockToken": "not base64 SECRET!"}),
        NONE,
    );
    assert_eq!(e.path, "UnlockToken");
    assert!(!e.to_string().contains("SECRET"), "{e}");
    let e = refused(json!({"RequestType": "DeviceLock", "PIN": 123456}), NONE);
    assert_eq!(e, err("PIN", "wrong type: expected <string> got integer"));
    assert!(!e.to_string().contains("123456"));
}
