//! Checks a plist Command dictionary against Apple's schema.
//!
//! Order of checks, so the same command always gives the same error: `RequestType`, the
//! command's platform support, then each key present (platform, type, allowed values, nested
//! keys, in dictionary order), then required keys that are missing (in schema order).

use plist::{Dictionary, Integer, Value};

use super::error::{join, quote, CommandError};
use super::platform::Platform;
use super::schema::{self, Allowed, CommandSpec, Items, KeySpec, KeyType, Schema, ANY_KEY};

/// The key every Command dictionary carries besides the schema's `payloadkeys`.
pub(crate) const REQUEST_TYPE: &str = "RequestType";

/// Largest integer magnitude an IEEE double holds exactly: integers up to it are valid `<real>`s.
const EXACT_IN_F64: u64 = 1 << 53;

/// Checks `command` (a Command dictionary: `RequestType` plus its keys) against Apple's schema,
/// and against `platform` when given. Returns the RequestType.
pub fn validate(command: &Dictionary, platform: Option<Platform>) -> Result<String, CommandError> {
    validate_in(schema::apple()?, command, platform)
}

pub(crate) fn validate_in(
    schema: &Schema,
    command: &Dictionary,
    platform: Option<Platform>,
) -> Result<String, CommandError> {
    let spec = command_spec(schema, command.get(REQUEST_TYPE), platform)?;
    check_keys(&spec.keys, false, command, "", platform, Some(REQUEST_TYPE))?;
    Ok(spec.name.clone())
}

/// The schema entry for a `RequestType` value, refused when absent, not a string, unknown, or
/// not available on `platform`.
pub(crate) fn command_spec<'s>(
    schema: &'s Schema,
    request_type: Option<&Value>,
    platform: Option<Platform>,
) -> Result<&'s CommandSpec, CommandError> {
    let request_type = match request_type {
        None => return Err(CommandError::missing(REQUEST_TYPE)),
        Some(Value::String(rt)) => rt,
        Some(other) => {
            return Err(CommandError::wrong_type(
                REQUEST_TYPE,
                KeyType::String.name(),
                kind(other),
            ))
        }
    };
    let spec = schema
        .command(request_type)
        .ok_or_else(|| CommandError::new(REQUEST_TYPE, format!("unknown RequestType: {}", quote(request_type))))?;
    match platform {
        Some(p) if spec.unsupported.contains(p) => Err(CommandError::unsupported(REQUEST_TYPE, p)),
        _ => Ok(spec),
    }
}

/// The plist type name of `value`, as messages say it (`got string`).
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Boolean(_) => "boolean",
        Value::Date(_) => "date",
        Value::Data(_) => "data",
        Value::Array(_) => "array",
        Value::Dictionary(_) => "dictionary",
        Value::Uid(_) => "uid",
        _ => "unknown value",
    }
}

fn check_dict(
    keys: &[KeySpec],
    open: bool,
    dict: &Dictionary,
    path: &str,
    platform: Option<Platform>,
) -> Result<(), CommandError> {
    check_keys(keys, open, dict, path, platform, None)
}

/// Checks a dictionary's keys against `keys`; `checked` names a key the caller has already
/// checked (a Command's `RequestType`). Closed dictionaries refuse keys the schema does not name.
pub(crate) fn check_keys(
    keys: &[KeySpec],
    open: bool,
    dict: &Dictionary,
    path: &str,
    platform: Option<Platform>,
    checked: Option<&str>,
) -> Result<(), CommandError> {
    for (name, value) in dict {
        if checked == Some(name.as_str()) {
            continue;
        }
        let key_path = join(path, name);
        match keys.iter().find(|k| &k.name == name) {
            Some(spec) => check_value(spec, value, &key_path, platform)?,
            None if open => {}
            None => return Err(CommandError::unknown_key(key_path)),
        }
    }
    let applies = |k: &&KeySpec| platform.is_none_or(|p| !k.unsupported.contains(p));
    // `ANY` stands for whatever keys an open dictionary has, not for a key named ANY.
    match keys
        .iter()
        .filter(applies)
        .find(|k| k.required && k.name != ANY_KEY && !dict.contains_key(&k.name))
    {
        Some(missing) => Err(CommandError::missing(join(path, &missing.name))),
        None => Ok(()),
    }
}

pub(crate) fn check_value(
    spec: &KeySpec,
    value: &Value,
    path: &str,
    platform: Option<Platform>,
) -> Result<(), CommandError> {
    if let Some(p) = platform.filter(|p| spec.unsupported.contains(*p)) {
        return Err(CommandError::unsupported(path, p));
    }
    let wrong = || CommandError::wrong_type(path, spec.ty.name(), kind(value));
    match (spec.ty, value) {
        (KeyType::Any, _)
        | (KeyType::Boolean, Value::Boolean(_))
        | (KeyType::Date, Value::Date(_))
        | (KeyType::Data, Value::Data(_)) => Ok(()),
        (KeyType::String, Value::String(s)) => check_string(spec, s, path, platform),
        (KeyType::Integer, Value::Integer(i)) => check_allowed(spec, &Number::Int(*i), path),
        (KeyType::Real, Value::Real(r)) => check_allowed(spec, &Number::Real(*r), path),
        (KeyType::Real, Value::Integer(i)) if fits_f64(*i) => check_allowed(spec, &Number::Int(*i), path),
        (KeyType::Array, Value::Array(items)) => check_array(spec, items, path, platform),
        (KeyType::Dictionary, Value::Dictionary(dict)) => {
            check_dict(&spec.subkeys, spec.is_open(), dict, path, platform)
        }
        _ => Err(wrong()),
    }
}

fn check_string(spec: &KeySpec, s: &str, path: &str, platform: Option<Platform>) -> Result<(), CommandError> {
    if !spec.allowed.is_empty() && !spec.allowed.iter().any(|a| matches!(a, Allowed::Str(v) if v == s)) {
        return Err(CommandError::not_allowed(path, &quote(s), &allowed_list(spec)));
    }
    // Documented values (query names) may be unavailable on a platform; undocumented ones pass,
    // as devices ignore queries they do not know.
    match (platform, spec.subkey(s)) {
        (Some(p), Some(value)) if value.unsupported.contains(p) => Err(CommandError::unsupported(path, p)),
        _ => Ok(()),
    }
}

fn check_array(spec: &KeySpec, items: &[Value], path: &str, platform: Option<Platform>) -> Result<(), CommandError> {
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match spec.items() {
            Items::Unconstrained => {}
            Items::One(shape) => check_value(shape, item, &item_path, platform)?,
            Items::Tagged { tag, alternatives } => {
                let shape = tagged_shape(spec, tag, alternatives, item, &item_path)?;
                check_value(shape, item, &item_path, platform)?;
            }
        }
    }
    Ok(())
}

/// The element shape an element's tag value selects.
fn tagged_shape<'s>(
    spec: &'s KeySpec,
    tag: &str,
    alternatives: &'s [KeySpec],
    item: &Value,
    path: &str,
) -> Result<&'s KeySpec, CommandError> {
    let Value::Dictionary(dict) = item else {
        return Err(CommandError::wrong_type(path, KeyType::Dictionary.name(), kind(item)));
    };
    let tag_path = join(path, tag);
    match dict.get(tag) {
        None => Err(CommandError::missing(tag_path)),
        Some(Value::String(value)) => spec.alternative(tag, value).ok_or_else(|| {
            let allowed: Vec<String> = alternatives
                .iter()
                .filter_map(|alt| alt.subkey(tag))
                .flat_map(|k| k.allowed.iter().map(Allowed::shown))
                .collect();
            CommandError::not_allowed(tag_path, &quote(value), &allowed)
        }),
        Some(other) => Err(CommandError::wrong_type(tag_path, KeyType::String.name(), kind(other))),
    }
}

enum Number {
    Int(Integer),
    Real(f64),
}

fn check_allowed(spec: &KeySpec, value: &Number, path: &str) -> Result<(), CommandError> {
    if spec.allowed.is_empty() || spec.allowed.iter().any(|a| number_eq(a, value)) {
        return Ok(());
    }
    let shown = match value {
        Number::Int(i) => i.to_string(),
        Number::Real(r) => r.to_string(),
    };
    Err(CommandError::not_allowed(path, &shown, &allowed_list(spec)))
}

fn number_eq(allowed: &Allowed, value: &Number) -> bool {
    match (allowed, value) {
        (Allowed::Int(a), Number::Int(v)) => v.as_signed() == Some(*a),
        (Allowed::Int(a), Number::Real(v)) => *a as f64 == *v,
        (Allowed::Real(a), Number::Real(v)) => a == v,
        (Allowed::Real(a), Number::Int(v)) => v.as_signed().is_some_and(|v| v as f64 == *a),
        (Allowed::Str(_), _) => false,
    }
}

fn fits_f64(i: Integer) -> bool {
    match (i.as_signed(), i.as_unsigned()) {
        (Some(s), _) => s.unsigned_abs() <= EXACT_IN_F64,
        (None, Some(u)) => u <= EXACT_IN_F64,
        (None, None) => false,
    }
}

fn allowed_list(spec: &KeySpec) -> Vec<String> {
    spec.allowed.iter().map(Allowed::shown).collect()
}
