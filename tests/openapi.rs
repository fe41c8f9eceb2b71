//! The hand-written OpenAPI document (`schemas/openapi.json`, served at /v1/openapi.json):
//! valid OpenAPI 3.1 structure, every `$ref` resolves, every operation is named and answers,
//! every route the server serves is documented, and every admin operation says which roles
//! may call it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    let text = std::fs::read_to_string(root().join("schemas/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_string(), op.clone()));
            }
        }
    }
    out
}

/// Every `$ref` value anywhere under `v`, with where it was found.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    if let Value::String(target) = child {
                        out.push((at.to_string(), target.clone()));
                    }
                } else {
                    refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => v,
    }
}

#[test]
fn is_openapi_3_1_with_info_and_paths() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    assert!(!doc["paths"].as_object().unwrap().is_empty());
}

#[test]
fn every_ref_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, "#", &mut found);
    assert!(found.len() > 50, "only {} refs: the walk is broken", found.len());
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: external ref {target}"));
        assert!(doc.pointer(pointer).is_some(), "{at}: $ref {target} does not resolve");
    }
}

#[test]
fn every_operation_has_a_unique_id_and_responses() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} used twice");
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{id}: no responses"));
        assert!(!responses.is_empty(), "{id}: empty responses");
        for (code, response) in responses {
            let valid =
                code == "default" || (code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c)));
            assert!(valid, "{id}: response key {code}");
            assert!(
                resolve(&doc, response)["description"].is_string(),
                "{id} {code}: no description"
            );
        }
    }
    assert!(ids.len() >= 15, "only {} operations", ids.len());
}

#[test]
fn path_parameters_match_the_template() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let template: BTreeSet<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| resolve(&doc, p)).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: path parameter not required"))
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(template, declared, "{method} {path}");
    }
}

#[test]
fn security_names_defined_schemes_and_admin_operations_state_their_roles() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    for requirement in doc["security"].as_array().unwrap() {
        for name in requirement.as_object().unwrap().keys() {
            assert!(schemes.contains_key(name), "security names undefined scheme {name}");
        }
    }
    for (path, method, op) in operations(&doc) {
        let open = op
            .get("security")
            .is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
        // Prometheus scrapes with an API key too: metrics reveal fleet size and push health.
        // NanoMDM's /migration is an admin route outside /v1, as NanoMDM serves it.
        let is_admin =
            (path.starts_with("/v1/") && path != "/v1/openapi.json") || path == "/metrics" || path == "/migration";
        assert_eq!(
            open, !is_admin,
            "{method} {path}: only non-admin endpoints skip the API key"
        );
        if is_admin {
            let description = op["description"].as_str().unwrap_or_default();
            assert!(description.contains("Role"), "{method} {path}: no role note");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("401") && responses.contains_key("403"),
                "{method} {path}"
            );
        }
    }
}

#[test]
fn the_named_components_exist_with_their_key_fields() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("Device", "last_seen_at"),
        ("CommandStatus", "error_chain"),
        ("AuditEntry", "answer"),
        ("Event", "global_position"),
        ("Error", "error"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field} missing"
        );
    }
}

/// The routes the server registers (string literals passed to `.route(`) must be documented,
/// so a new endpoint cannot ship without its entry.
#[test]
fn every_served_route_is_documented() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    let mut routes = Vec::new();
    for file in ["src/http/mod.rs", "src/http/admin/mod.rs"] {
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        for piece in source.split(".route(").skip(1) {
            let literal = piece.trim_start().strip_prefix('"').and_then(|s| s.split('"').next());
            if let Some(route) = literal {
                routes.push(route.to_string());
            }
        }
    }
    assert!(routes.iter().any(|r| r == "/v1/events"), "route scan found {routes:?}");
    for route in routes {
        assert!(
            paths.contains_key(&route),
            "route {route} is served but not in schemas/openapi.json"
        );
    }
}

/// The read models' documents and the document's component schemas describe the same fields:
/// every field a document has is documented, and every documented field exists.
#[test]
fn read_model_schemas_match_the_documents() {
    use annal_projections::synthetic::{fleet, FleetSpec};
    use annal_projections::Projections;
    let doc: serde_json::Value = serde_json::from_str(include_str!("../schemas/openapi.json")).unwrap();
    let mut events = fleet(&FleetSpec {
        devices: 30,
        rounds: 12,
        seed: 3,
    });
    // A refused re-enrollment: the audit trail's other kind of entry.
    let last = events.last().unwrap().clone();
    let udid = events
        .iter()
        .find_map(|e| e.stream.strip_prefix("enrollment-"))
        .unwrap()
        .to_owned();
    let refused = annal_schemas::events::identity::EnrollmentRefused {
        enrollment: udid.clone(),
        udid: Some(udid.clone()),
        fingerprint_sha256: "ee".repeat(32),
        bound_fingerprint_sha256: Some("ab".repeat(32)),
        reason: "this device is enrolled under another identity".into(),
    };
    events.push(annal_schemas::RecordedEvent::place(
        annal_schemas::NewEvent::new("device", &refused),
        &format!("refused-{udid}"),
        1,
        last.global_position + 1,
        last.recorded_at,
        &last.hash,
    ));
    // An administrative action: the audit trail's third kind of entry.
    let last = events.last().unwrap().clone();
    let created = annal_schemas::events::apikey::ApiKeyCreated {
        key_id: "K1".into(),
        name: "lobby".into(),
        role: annal_schemas::events::apikey::Role::Enrollment,
        secret_sha256: "00".repeat(32),
    };
    events.push(annal_schemas::RecordedEvent::place(
        annal_schemas::NewEvent::new("api-key:alice", &created),
        "api-keys",
        1,
        last.global_position + 1,
        last.recorded_at,
        &last.hash,
    ));
    // A device that reported its DDM status and was given a declaration set.
    let mut position = events.last().unwrap().global_position;
    let reported = annal_projections::synthetic::enrolled_device_with_status(999);
    let stream = reported[0].stream.clone();
    for mut e in reported {
        position += 1;
        e.global_position = position;
        events.push(e);
    }
    let last = events.last().unwrap().clone();
    let sync = annal_schemas::events::command::CommandQueued {
        command_uuid: "DDM-0123456789abcdef0123456789abcdef".into(),
        request_type: "DeclarativeManagement".into(),
        generation: 1,
        idempotency_key: None,
        reason: None,
        expires_at: None,
        raw_sealed: true,
        identity_fingerprint_sha256: None,
    };
    events.push(annal_schemas::RecordedEvent::place(
        annal_schemas::NewEvent::new("system:ddm-sync", &sync),
        &stream,
        last.stream_version + 1,
        last.global_position + 1,
        last.recorded_at,
        &last.hash,
    ));
    let projections = Projections::fold(&events);
    let components = [
        ("devices", "Device"),
        ("commands", "CommandStatus"),
        ("audit", "AuditEntry"),
        ("push", "PushRecord"),
    ];
    for (model, component) in components {
        let schema = &doc["components"]["schemas"][component];
        let documented: std::collections::BTreeSet<String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{component} has no properties"))
            .keys()
            .cloned()
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        // The audit trail also keeps its own index of devices (keyed by the bare enrollment,
        // never shown by the API); its entries are keyed `<enrollment>/<CommandUUID>`.
        let shown = |c: &annal_projections::Change| c.model != "audit" || c.key.contains('/');
        for change in projections
            .snapshot()
            .into_iter()
            .filter(|c| c.model == model && shown(c))
        {
            let fields = change.doc.as_ref().and_then(|d| d.as_object()).unwrap();
            for (k, _) in fields {
                assert!(documented.contains(k), "{model} field {k:?} is not in {component}");
                seen.insert(k.clone());
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    fields.contains_key(required.as_str().unwrap()),
                    "{component} requires {required}"
                );
            }
        }
        let missing: Vec<_> = documented.difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "{component} documents fields no {model} document has: {missing:?}"
        );
    }
}
