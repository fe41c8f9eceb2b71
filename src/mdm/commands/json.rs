//! A command given as flat JSON with Apple's key names, turned into a plist Command dictionary.
//!
//! JSON has no `<data>` or `<date>`, so the schema decides: a string where the schema wants
//! `<data>` is base64, where it wants `<date>` is RFC 3339, and a number where it wants `<real>`
//! becomes a real. Everything else converts by its JSON type (so under `<any>` a string stays a
//! string: JSON cannot say it meant data or a date), and [`validate`](super::validate)
//! then judges the result, so both entry points refuse the same commands with the same errors.

use std::time::SystemTime;

use base64::Engine;
use plist::{Dictionary, Value};
use serde_json::{Map, Number, Value as Json};

use super::error::{join, CommandError, ROOT};
use super::platform::Platform;
use super::schema::{self, Items, KeySpec, KeyType, Schema};
use super::validate::{command_spec, validate_in, REQUEST_TYPE};

/// Converts `{"RequestType": "DeviceLock", "PIN": "123456", …}` into the plist Command
/// dictionary after checking it against Apple's schema (and `platform`, when given).
pub fn from_json(command: &Json, platform: Option<Platform>) -> Result<Dictionary, CommandError> {
    from_json_in(schema::apple()?, command, platform)
}

pub(crate) fn from_json_in(
    schema: &Schema,
    command: &Json,
    platform: Option<Platform>,
) -> Result<Dictionary, CommandError> {
    let Json::Object(object) = command else {
        return Err(CommandError::wrong_type(
            ROOT,
            KeyType::Dictionary.name(),
            json_kind(command),
        ));
    };
    // RequestType first: it chooses the schema that guides every other conversion.
    let request_type = match object.get(REQUEST_TYPE) {
        None => None,
        Some(Json::String(rt)) => Some(Value::String(rt.clone())),
        Some(other) => {
            return Err(CommandError::wrong_type(
                REQUEST_TYPE,
                KeyType::String.name(),
                json_kind(other),
            ))
        }
    };
    let spec = command_spec(schema, request_type.as_ref(), platform)?;
    let dict = convert_object(object, &spec.keys, "")?;
    validate_in(schema, &dict, platform)?;
    Ok(dict)
}

pub(crate) fn convert_object(
    object: &Map<String, Json>,
    keys: &[KeySpec],
    path: &str,
) -> Result<Dictionary, CommandError> {
    object
        .iter()
        .map(|(name, value)| {
            let spec = keys.iter().find(|k| &k.name == name);
            Ok((name.clone(), convert(value, spec, &join(path, name))?))
        })
        .collect()
}

fn convert(value: &Json, spec: Option<&KeySpec>, path: &str) -> Result<Value, CommandError> {
    let ty = spec.map(|s| s.ty);
    Ok(match (ty, value) {
        (Some(KeyType::Data), Json::String(s)) => Value::Data(base64_data(s, path)?),
        (Some(KeyType::Date), Json::String(s)) => Value::Date(rfc3339_date(s, path)?),
        (Some(KeyType::Real), Json::Number(n)) => n.as_f64().map_or_else(|| number(n), Value::Real),
        (_, Json::Null) => {
            let expected = ty.map_or("a plist value", KeyType::name);
            return Err(CommandError::wrong_type(path, expected, "null"));
        }
        (_, Json::Bool(b)) => Value::Boolean(*b),
        (_, Json::Number(n)) => number(n),
        (_, Json::String(s)) => Value::String(s.clone()),
        (_, Json::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, spec.and_then(|s| item_spec(s, item)), &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (_, Json::Object(object)) => {
            let keys = match spec {
                Some(s) if s.ty == KeyType::Dictionary => s.subkeys.as_slice(),
                _ => &[],
            };
            Value::Dictionary(convert_object(object, keys, path)?)
        }
    })
}

/// The element shape guiding an array element's conversion; `None` leaves it to its JSON type
/// (validation then reports any mismatch).
fn item_spec<'s>(spec: &'s KeySpec, item: &Json) -> Option<&'s KeySpec> {
    if spec.ty != KeyType::Array {
        return None;
    }
    match spec.items() {
        Items::Unconstrained => None,
        Items::One(shape) => Some(shape),
        Items::Tagged { tag, .. } => spec.alternative(tag, item.get(tag)?.as_str()?),
    }
}

fn number(n: &Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Integer(i.into())
    } else if let Some(u) = n.as_u64() {
        Value::Integer(u.into())
    } else {
        Value::Real(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Standard base64; line breaks and spaces (as in plist `<data>` text) are ignored.
fn base64_data(s: &str, path: &str) -> Result<Vec<u8>, CommandError> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| {
        CommandError::new(
            path,
            "wrong type: expected <data> as base64 got a string that is not base64",
        )
    })
}

fn rfc3339_date(s: &str, path: &str) -> Result<plist::Date, CommandError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| plist::Date::from(SystemTime::from(t)))
        .map_err(|_| {
            CommandError::new(
                path,
                "wrong type: expected <date> as RFC 3339 got a string that is not RFC 3339",
            )
        })
}

/// The JSON type of `value`, named as plist types are in messages.
pub(crate) fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_f64() => "real",
        Json::Number(_) => "integer",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "dictionary",
    }
}
