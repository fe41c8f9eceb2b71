//! Apple's command schema described for a form: each RequestType's title and description, and
//! its top-level keys with what an input for each needs (type, whether required, allowed values,
//! the documented values of a list, Apple's description, the platforms it applies to). The web
//! console builds its send form from this. What a form produces is still checked by
//! [`from_json`](super::from_json), so a form can never accept a command the API would refuse.
//!
//! Pure: the compiled schema (for types and rules) and the same embedded files read once more
//! for the prose the compiled schema does not keep.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::embedded::FILES;
use super::platform::{Platform, PlatformSet};
use super::schema::{self, Allowed, Items, KeySpec, KeyType};

/// How a key is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    Text,
    /// A whole number.
    Integer,
    /// A number.
    Real,
    /// true or false.
    Boolean,
    /// RFC 3339.
    Date,
    /// Base64.
    Data,
    /// An array of strings: the documented values to pick from ([`FormField::choices`]), or one
    /// per line when none are documented.
    StringList,
    /// A dictionary, an array of anything but strings, or any value: written as JSON.
    Json,
}

/// One top-level key of a command.
#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    /// Apple's key name, exactly.
    pub name: String,
    pub kind: FieldKind,
    pub required: bool,
    /// The values allowed (a `rangelist`) or, for a [`FieldKind::StringList`], documented.
    pub choices: Vec<String>,
    /// Apple's description of the key (may be empty).
    pub help: String,
    /// Where the key applies; empty when the schema does not limit it.
    pub platforms: Vec<Platform>,
}

/// One command: what its form shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandForm {
    pub request_type: String,
    /// Apple's title ("Device Lock Command").
    pub title: String,
    pub description: String,
    pub platforms: Vec<Platform>,
    pub fields: Vec<FormField>,
}

/// Every RequestType with its title, sorted by RequestType.
pub fn catalog() -> Vec<(&'static str, &'static str)> {
    let Ok(schema) = schema::apple() else {
        return Vec::new();
    };
    let prose = prose();
    schema
        .commands()
        .map(|c| {
            let title = prose.get(c.name.as_str()).map_or("", |p| p.title.as_str());
            (c.name.as_str(), title)
        })
        .collect()
}

/// The form of `request_type`; `None` when Apple's schema has no such command.
pub fn describe(request_type: &str) -> Option<CommandForm> {
    let spec = schema::apple().ok()?.command(request_type)?;
    let prose = prose().get(request_type);
    let key_help = |name: &str| prose.and_then(|p| p.keys.get(name)).cloned().unwrap_or_default();
    Some(CommandForm {
        request_type: spec.name.clone(),
        title: prose.map(|p| p.title.clone()).unwrap_or_default(),
        description: prose.map(|p| p.description.clone()).unwrap_or_default(),
        platforms: platforms(spec.unsupported),
        fields: spec
            .keys
            .iter()
            .map(|k| FormField {
                name: k.name.clone(),
                kind: kind(k),
                required: k.required,
                choices: choices(k),
                help: key_help(&k.name),
                // A key inherits its command's support; list only where both apply.
                platforms: platforms(k.unsupported)
                    .into_iter()
                    .filter(|p| !spec.unsupported.contains(*p))
                    .collect(),
            })
            .collect(),
    })
}

fn kind(k: &KeySpec) -> FieldKind {
    match k.ty {
        KeyType::String => FieldKind::Text,
        KeyType::Integer => FieldKind::Integer,
        KeyType::Real => FieldKind::Real,
        KeyType::Boolean => FieldKind::Boolean,
        KeyType::Date => FieldKind::Date,
        KeyType::Data => FieldKind::Data,
        KeyType::Array => match k.items() {
            Items::One(item) if item.ty == KeyType::String => FieldKind::StringList,
            _ => FieldKind::Json,
        },
        KeyType::Dictionary | KeyType::Any => FieldKind::Json,
    }
}

/// A scalar's allowed values; a string list's documented ones (the element's subkeys, as
/// DeviceInformation's query names, or its `rangelist`).
fn choices(k: &KeySpec) -> Vec<String> {
    let allowed = |k: &KeySpec| -> Vec<String> { k.allowed.iter().map(Allowed::shown).collect() };
    match (k.ty, k.items()) {
        (KeyType::Array, Items::One(item)) if item.ty == KeyType::String => {
            if item.subkeys.is_empty() {
                allowed(item)
            } else {
                item.subkeys.iter().map(|s| s.name.clone()).collect()
            }
        }
        (KeyType::Array, _) => Vec::new(),
        _ => allowed(k),
    }
}

fn platforms(unsupported: PlatformSet) -> Vec<Platform> {
    let all: Vec<Platform> = Platform::ALL
        .into_iter()
        .filter(|p| !unsupported.contains(*p))
        .collect();
    if all.len() == Platform::ALL.len() {
        Vec::new()
    } else {
        all
    }
}

/// The prose of one command file: what the compiled schema leaves out.
struct Prose {
    title: String,
    description: String,
    /// Top-level key → its `content`.
    keys: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    title: String,
    payload: RawPayload,
    #[serde(default)]
    payloadkeys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawPayload {
    requesttype: Option<String>,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct RawKey {
    key: String,
    #[serde(default)]
    content: String,
}

/// RequestType → prose, read once. A file that cannot be read has no prose (the compiled schema,
/// which the tests check loads, would have refused it first).
fn prose() -> &'static BTreeMap<String, Prose> {
    static PROSE: OnceLock<BTreeMap<String, Prose>> = OnceLock::new();
    PROSE.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|(_, yaml)| serde_yaml_ng::from_str::<RawFile>(yaml).ok())
            .filter_map(|raw| {
                let name = raw.payload.requesttype?;
                let keys = raw.payloadkeys.into_iter().map(|k| (k.key, k.content)).collect();
                Some((
                    name,
                    Prose {
                        title: raw.title,
                        description: raw.payload.content,
                        keys,
                    },
                ))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_form() {
        let all = catalog();
        assert!(all.len() > 60, "{}", all.len());
        for (request_type, title) in all {
            let form = describe(request_type).unwrap_or_else(|| panic!("{request_type}"));
            assert_eq!(form.request_type, request_type);
            assert!(!title.is_empty(), "{request_type} has no title");
        }
        assert!(describe("NoSuchCommand").is_none());
    }

    #[test]
    fn fields_follow_the_schema() {
        let lock = describe("DeviceLock").unwrap();
        assert_eq!(lock.title, "Device Lock Command");
        let names: Vec<&str> = lock.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Message", "PhoneNumber", "PIN"]);
        let pin = &lock.fields[2];
        assert_eq!((pin.kind, pin.required), (FieldKind::Text, false));
        assert_eq!(pin.platforms, [Platform::MacOs]);
        assert!(pin.help.contains("PIN"));

        let info = describe("DeviceInformation").unwrap();
        let queries = &info.fields[0];
        assert_eq!((queries.kind, queries.required), (FieldKind::StringList, true));
        assert!(queries.choices.iter().any(|c| c == "SerialNumber"));

        // An enumerated string and a boolean.
        let all: Vec<FormField> = catalog()
            .into_iter()
            .filter_map(|(rt, _)| describe(rt))
            .flat_map(|f| f.fields)
            .collect();
        assert!(all.iter().any(|f| f.kind == FieldKind::Text && !f.choices.is_empty()));
        assert!(all.iter().any(|f| f.kind == FieldKind::Boolean));
        assert!(all.iter().any(|f| f.kind == FieldKind::Integer));
        assert!(all.iter().any(|f| f.kind == FieldKind::Json));
    }
}
