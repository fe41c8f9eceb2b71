use annal_schemas::events::declaration::AssignmentTarget;
use annal_schemas::events::group::{GroupDefined, GroupDefinition, TargetFilter};
use annal_schemas::Event;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::domain::groups::GroupBook;

fn t(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, n).single().unwrap_or_default()
}

const PASSCODE: &str = "com.apple.configuration.passcode.settings";
const ACTIVATION: &str = "com.apple.activation.simple";

fn define(catalog: &mut Catalog, id: &str, ty: &str, payload: serde_json::Value) -> DeclarationDefined {
    let e = catalog
        .decide_define(id, ty, &payload, None, t(1))
        .expect("valid")
        .expect("new content");
    catalog.evolve(&Event::from(e.clone()));
    e
}

fn assign(catalog: &mut Catalog, id: &str, target: AssignmentTarget) {
    if let Some(e) = catalog.decide_assign(id, &target, None, t(2)).expect("assignable") {
        catalog.evolve(&Event::from(e));
    }
}

fn ipad(key: &str, os: &str) -> DeviceFacts {
    DeviceFacts {
        key: key.into(),
        enrolled: true,
        models: vec!["iPad13,1".into(), "iPad".into()],
        os_version: Some(os.into()),
        ..DeviceFacts::default()
    }
}

#[test]
fn the_same_content_appends_nothing_and_a_change_is_a_new_token() {
    let mut c = Catalog::default();
    let first = define(&mut c, "cfg.passcode", PASSCODE, json!({"MinimumLength": 6}));
    assert_eq!(first.category, "configuration");
    assert_eq!(
        c.decide_define("cfg.passcode", PASSCODE, &json!({"MinimumLength": 6}), None, t(3)),
        Ok(None)
    );
    let changed = define(&mut c, "cfg.passcode", PASSCODE, json!({"MinimumLength": 8}));
    assert_ne!(changed.server_token, first.server_token);
}

#[test]
fn schema_errors_name_the_key_path_and_an_identifier_keeps_its_category() {
    let c = Catalog::default();
    let err = c
        .decide_define("cfg", PASSCODE, &json!({"MinimumLength": "six"}), None, t(1))
        .unwrap_err();
    assert_eq!(err.path(), "Payload.MinimumLength");
    let err = c
        .decide_define("cfg", "com.apple.configuration.nope", &json!({}), None, t(1))
        .unwrap_err();
    assert_eq!(err.path(), "Type");
    for reserved in ["status", "validate", "data"] {
        let err = c.decide_define(reserved, PASSCODE, &json!({}), None, t(1)).unwrap_err();
        assert_eq!(err.path(), "Identifier", "{reserved} is an admin API path");
    }
    let mut c = Catalog::default();
    define(&mut c, "x", PASSCODE, json!({}));
    let err = c
        .decide_define("x", ACTIVATION, &json!({"StandardConfigurations": []}), None, t(1))
        .unwrap_err();
    assert!(matches!(err, CatalogRefusal::CategoryChange { .. }), "{err}");
}

#[test]
fn activations_must_name_configurations_that_exist_and_keep_them_from_removal() {
    let mut c = Catalog::default();
    let err = c
        .decide_define(
            "act",
            ACTIVATION,
            &json!({"StandardConfigurations": ["cfg"]}),
            None,
            t(1),
        )
        .unwrap_err();
    assert_eq!(err.path(), "Payload.StandardConfigurations[0]");
    define(&mut c, "cfg", PASSCODE, json!({}));
    define(&mut c, "act", ACTIVATION, json!({"StandardConfigurations": ["cfg"]}));
    let err = c.decide_remove("cfg", None, t(3)).unwrap_err();
    assert!(
        matches!(err, CatalogRefusal::Referenced { ref by, .. } if by == "act"),
        "{err}"
    );
    // Removing the activation takes its assignments with it.
    assign(&mut c, "act", AssignmentTarget::Enrollment("UDID-1".into()));
    let (unassigned, removed) = c.decide_remove("act", Some("retired"), t(4)).expect("removable");
    assert_eq!(unassigned.len(), 1);
    assert_eq!(removed.identifier, "act");
}

#[test]
fn assignments_are_idempotent_and_refuse_the_clock() {
    let mut c = Catalog::default();
    define(&mut c, "cfg", PASSCODE, json!({}));
    let target = AssignmentTarget::Group("lab".into());
    assign(&mut c, "cfg", target.clone());
    assert_eq!(c.decide_assign("cfg", &target, None, t(5)), Ok(None));
    let clock = AssignmentTarget::Filter(TargetFilter {
        last_seen_after: Some("1d".into()),
        ..TargetFilter::default()
    });
    assert_eq!(
        c.decide_assign("cfg", &clock, None, t(5)),
        Err(CatalogRefusal::ClockFilter)
    );
    assert!(matches!(
        c.decide_assign("nope", &target, None, t(5)),
        Err(CatalogRefusal::Unknown(_))
    ));
    assert!(matches!(
        c.decide_unassign("cfg", "nope", None, t(5)),
        Err(CatalogRefusal::UnknownAssignment(_))
    ));
}

#[test]
fn a_set_follows_direct_group_and_filter_assignments_and_closes_over_activations() {
    let mut c = Catalog::default();
    define(&mut c, "cfg", PASSCODE, json!({"MinimumLength": 6}));
    define(&mut c, "act", ACTIVATION, json!({"StandardConfigurations": ["cfg"]}));
    let mut groups = GroupBook::default();
    groups.evolve(&Event::from(GroupDefined {
        name: "lab".into(),
        definition: GroupDefinition::Members(vec!["UDID-2".into()]),
        reason: None,
    }));
    assign(
        &mut c,
        "act",
        AssignmentTarget::Filter(TargetFilter {
            model: Some("ipad".into()),
            os_version: Some("18".into()),
            ..TargetFilter::default()
        }),
    );
    let empty = c.set_for(&groups, &ipad("UDID-1", "17.5"));
    assert!(empty.is_empty(), "OS 17 does not match the filter");
    let on18 = c.set_for(&groups, &ipad("UDID-1", "18.1"));
    let ids: Vec<_> = on18.items.iter().map(|i| i.identifier.as_str()).collect();
    assert_eq!(ids, ["act", "cfg"], "the activation brings its configuration");
    assert_ne!(on18.declarations_token, empty.declarations_token);
    // A user channel is not picked by an inventory filter.
    assert!(c.set_for(&groups, &ipad("UDID-1:user", "18.1")).is_empty());
    // A static group picks its member only.
    assign(&mut c, "cfg", AssignmentTarget::Group("lab".into()));
    assert_eq!(c.set_for(&groups, &ipad("UDID-2", "17.0")).items.len(), 1);
    assert!(c.set_for(&groups, &ipad("UDID-3", "17.0")).is_empty());
    // The token changes with the content of any declaration in the set, and only then.
    let before = c.set_for(&groups, &ipad("UDID-2", "17.0")).declarations_token;
    define(&mut c, "cfg", PASSCODE, json!({"MinimumLength": 8}));
    let after = c.set_for(&groups, &ipad("UDID-2", "17.0"));
    assert_ne!(after.declarations_token, before);
    assert!(after.items_json().contains(&after.items[0].server_token));
    let parsed: serde_json::Value = serde_json::from_str(&after.tokens_json()).expect("json");
    assert_eq!(
        parsed["SyncTokens"]["DeclarationsToken"],
        after.declarations_token.as_str()
    );
}
