//! The simulator's DDM: what a device holds after syncs, and what it reports.
use super::*;

fn hold(state: &mut DdmState, category: Category, declaration: Json) {
    let id = declaration["Identifier"].as_str().expect("id").to_owned();
    let held = check(category, &id, declaration);
    state.held.insert((category, id), held);
}

fn entry<'a>(report: &'a Json, group: &str, id: &str) -> &'a Json {
    report["StatusItems"]["management"]["declarations"][group]
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["identifier"] == id)
        .expect("reported")
}

fn configuration(id: &str, declaration_type: &str, payload: Json) -> Json {
    json!({"Identifier": id, "Type": declaration_type, "Payload": payload, "ServerToken": format!("t-{id}")})
}

#[test]
fn an_ios_device_applies_what_it_supports_and_says_why_not_the_rest() {
    let mut state = DdmState::default();
    hold(
        &mut state,
        Category::Configuration,
        configuration(
            "cfg.passcode",
            "com.apple.configuration.passcode.settings",
            json!({"MinimumLength": 6}),
        ),
    );
    hold(
        &mut state,
        Category::Configuration,
        configuration(
            "cfg.su",
            SU_SPECIFIC,
            json!({"TargetOSVersion": "18.2", "TargetLocalDateTime": "2027-01-01T10:00:00"}),
        ),
    );
    hold(
        &mut state,
        Category::Configuration,
        configuration(
            "cfg.screen",
            "com.apple.configuration.screensharing.host.settings",
            json!({}),
        ),
    );
    hold(
        &mut state,
        Category::Configuration,
        configuration(
            "cfg.bad",
            "com.apple.configuration.passcode.settings",
            json!({"MinimumLength": "six"}),
        ),
    );
    hold(
        &mut state,
        Category::Activation,
        configuration(
            "act.baseline",
            SIMPLE_ACTIVATION,
            json!({"StandardConfigurations": ["cfg.passcode", "cfg.su"]}),
        ),
    );
    hold(
        &mut state,
        Category::Activation,
        configuration(
            "act.broken",
            SIMPLE_ACTIVATION,
            json!({"StandardConfigurations": ["cfg.absent"]}),
        ),
    );
    let report = state.report();
    for id in ["cfg.passcode", "cfg.su"] {
        let e = entry(&report, "configurations", id);
        assert_eq!((&e["valid"], &e["active"]), (&json!("valid"), &json!(true)), "{e}");
        assert_eq!(e["server-token"], format!("t-{id}"));
    }
    let screen = entry(&report, "configurations", "cfg.screen");
    assert_eq!(
        (&screen["valid"], &screen["active"]),
        (&json!("invalid"), &json!(false))
    );
    assert_eq!(screen["reasons"][0]["code"], "Error.ConfigurationNotSupported");
    let bad = entry(&report, "configurations", "cfg.bad");
    assert_eq!(bad["reasons"][0]["code"], "Error.ConfigurationCannotBeDeserialized");
    let broken = entry(&report, "activations", "act.broken");
    assert_eq!(broken["valid"], "invalid");
    assert_eq!(broken["reasons"][0]["code"], "Error.MissingConfigurations");
    assert_eq!(entry(&report, "activations", "act.baseline")["active"], true);
    let items = &report["StatusItems"];
    assert_eq!(items["softwareupdate"]["install-state"], "downloading");
    assert_eq!(items["softwareupdate"]["pending-version"]["os-version"], "18.2");
    assert_eq!(items["device"]["operating-system"]["version"], OS_VERSION);
    assert_eq!(items["passcode"]["is-compliant"], true);
    assert_eq!(report["FullReport"], true);
}

#[test]
fn an_enforcement_not_newer_or_not_activated_downloads_nothing() {
    let mut state = DdmState::default();
    hold(
        &mut state,
        Category::Configuration,
        configuration(
            "cfg.su",
            SU_SPECIFIC,
            json!({"TargetOSVersion": "18.2", "TargetLocalDateTime": "2027-01-01T10:00:00"}),
        ),
    );
    let report = state.report();
    assert_eq!(
        report["StatusItems"]["softwareupdate"],
        json!({"install-state": "none"})
    );
    assert_eq!(
        entry(&report, "configurations", "cfg.su")["reasons"][0]["code"],
        "Info.NotReferencedByActivation"
    );
    assert!(newer("18.2", "18.1") && newer("18.10", "18.9") && !newer("18.1.0", "18.1"));
}

#[test]
fn a_configuration_missing_its_asset_is_invalid() {
    let mut payload = Map::new();
    payload.insert("Nested".into(), json!({"DataAssetReference": "asset.absent"}));
    payload.insert("AnchorCertificateAssetReferences".into(), json!(["asset.a", "asset.b"]));
    let payload = Json::Object(payload);
    let found = asset_references(&payload);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["asset.a", "asset.absent", "asset.b"]
    );
    let mut state = DdmState::default();
    state.held.insert(
        (Category::Configuration, "cfg.account".into()),
        Held {
            server_token: "t".into(),
            declaration_type: "com.apple.configuration.account.caldav".into(),
            payload,
            problem: None,
        },
    );
    let report = state.report();
    let e = entry(&report, "configurations", "cfg.account");
    assert_eq!(e["valid"], "invalid");
    assert_eq!(e["reasons"][0]["code"], "Error.MissingAssets");
}

#[test]
fn a_command_names_its_token() {
    let mut command = Dictionary::new();
    command.insert(
        "Data".into(),
        Value::Data(br#"{"SyncTokens":{"DeclarationsToken":"abc","Timestamp":"2026-01-01T00:00:00Z"}}"#.to_vec()),
    );
    assert_eq!(command_token(&command).ok().as_deref(), Some("abc"));
    command.insert("Data".into(), Value::Data(b"[1]".to_vec()));
    assert!(matches!(command_token(&command), Err(DdmError::NoTokens)));
    assert!(matches!(command_token(&Dictionary::new()), Err(DdmError::NoTokens)));
}
