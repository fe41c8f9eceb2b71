//! Every RequestType in the schema, built from a minimal JSON generated from its own schema.

use plist::Value;
use serde_json::{json, Map, Value as Json};

use super::super::platform::Platform;
use super::super::schema::{apple, Allowed, Items, KeySpec, KeyType};
use super::super::{from_json, request_types, validate};
use super::{accepted, err, refused};

/// A JSON value of `spec`'s type: its first allowed value, or one element / its required keys;
/// for an array of several shapes, the first shape available on `platform`.
fn sample(spec: &KeySpec, platform: Option<Platform>) -> Json {
    match (spec.ty, spec.allowed.first()) {
        (_, Some(Allowed::Str(s))) => json!(s),
        (_, Some(Allowed::Int(i))) => json!(i),
        (_, Some(Allowed::Real(r))) => json!(r),
        (KeyType::String | KeyType::Any, None) => json!("x"),
        (KeyType::Integer, None) => json!(7),
        (KeyType::Real, None) => json!(1.5),
        (KeyType::Boolean, None) => json!(true),
        (KeyType::Date, None) => json!("2024-10-21T12:00:00Z"),
        (KeyType::Data, None) => json!("AAEC"),
        (KeyType::Array, None) => match spec.items() {
            Items::Unconstrained => json!([]),
            Items::One(shape) => json!([sample(shape, platform)]),
            Items::Tagged { alternatives, .. } => {
                let available = |alt: &&KeySpec| platform.is_none_or(|p| !alt.unsupported.contains(p));
                json!([sample(alternatives.iter().find(available).unwrap(), platform)])
            }
        },
        (KeyType::Dictionary, None) => Json::Object(required(&spec.subkeys, platform)),
    }
}

fn required(keys: &[KeySpec], platform: Option<Platform>) -> Map<String, Json> {
    keys.iter()
        .filter(|k| k.required)
        .map(|k| (k.name.clone(), sample(k, platform)))
        .collect()
}

/// The plist type `from_json` must produce for a key of type `ty`.
fn has_type(value: &Value, ty: KeyType) -> bool {
    match ty {
        KeyType::String => value.as_string().is_some(),
        KeyType::Integer => matches!(value, Value::Integer(_)),
        KeyType::Real => matches!(value, Value::Real(_)),
        KeyType::Boolean => value.as_boolean().is_some(),
        KeyType::Date => value.as_date().is_some(),
        KeyType::Data => value.as_data().is_some(),
        KeyType::Array => value.as_array().is_some(),
        KeyType::Dictionary => value.as_dictionary().is_some(),
        KeyType::Any => true,
    }
}

#[test]
fn every_request_type_builds_from_its_required_keys() {
    let schema = apple().unwrap();
    let mut with_required = 0;
    for rt in request_types() {
        let spec = schema.command(rt).unwrap();
        let mut command = required(&spec.keys, None);
        with_required += usize::from(!command.is_empty());
        command.insert("RequestType".into(), json!(rt));
        let command = Json::Object(command);
        let dict = accepted(command.clone(), None);

        let required_keys: Vec<&KeySpec> = spec.keys.iter().filter(|k| k.required).collect();
        assert_eq!(dict.len(), required_keys.len() + 1, "{rt}");
        assert_eq!(dict.get("RequestType"), Some(&Value::String(rt.into())));
        for key in required_keys {
            let value = dict
                .get(&key.name)
                .unwrap_or_else(|| panic!("{rt}: {} missing", key.name));
            assert!(
                has_type(value, key.ty),
                "{rt}.{}: {value:?} is not {}",
                key.name,
                key.ty.name()
            );
        }
        assert_eq!(
            validate(&dict, None),
            Ok(rt.to_owned()),
            "{rt}: the plist form validates too"
        );

        for platform in Platform::ALL {
            let mut command = required(&spec.keys, Some(platform));
            command.insert("RequestType".into(), json!(rt));
            let command = Json::Object(command);
            if spec.unsupported.contains(platform) {
                assert_eq!(
                    refused(command.clone(), Some(platform)),
                    err("RequestType", &format!("not supported on {platform}")),
                    "{rt} on {platform}"
                );
            } else {
                if let Err(e) = from_json(&command, Some(platform)) {
                    panic!("{rt} on {platform}: {e}");
                }
            }
        }
    }
    // Guards against a loader that silently drops keys: many commands have required keys.
    assert!(with_required >= 20, "only {with_required} commands with required keys");
}

#[test]
fn every_required_key_is_enforced() {
    let schema = apple().unwrap();
    for rt in request_types() {
        let spec = schema.command(rt).unwrap();
        for key in spec.keys.iter().filter(|k| k.required) {
            let mut command = required(&spec.keys, None);
            command.remove(&key.name);
            command.insert("RequestType".into(), json!(rt));
            assert_eq!(
                refused(Json::Object(command), None),
                err(&key.name, "missing required key"),
                "{rt}"
            );
        }
    }
}
