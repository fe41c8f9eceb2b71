//! Apple's command schema (`mdm/commands/*.yaml`) and configuration-profile payload schema
//! (`mdm/profiles/*.yaml`) compiled once into lookup tables. Both use the same key format, so one
//! compiler and one validator (validate.rs) serve both.
//!
//! Only what validation needs is kept: key names, types, `presence`, `rangelist`, `subkeys` and
//! which platforms a command or key is not available on. Everything else (access rights,
//! supervision, user-enrollment modes, versions) depends on the device and is left to the device.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::embedded::FILES;
use super::error::CommandError;
use super::platform::{Platform, PlatformSet};

/// A schema `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    String,
    Integer,
    Real,
    Boolean,
    Date,
    Data,
    Array,
    Dictionary,
    Any,
}

impl KeyType {
    const ALL: [KeyType; 9] = [
        KeyType::String,
        KeyType::Integer,
        KeyType::Real,
        KeyType::Boolean,
        KeyType::Date,
        KeyType::Data,
        KeyType::Array,
        KeyType::Dictionary,
        KeyType::Any,
    ];

    /// The schema's spelling, used in messages too.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::String => "<string>",
            KeyType::Integer => "<integer>",
            KeyType::Real => "<real>",
            KeyType::Boolean => "<boolean>",
            KeyType::Date => "<date>",
            KeyType::Data => "<data>",
            KeyType::Array => "<array>",
            KeyType::Dictionary => "<dictionary>",
            KeyType::Any => "<any>",
        }
    }
}

/// One entry of a `rangelist`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Allowed {
    Int(i64),
    Real(f64),
    Str(String),
}

impl Allowed {
    pub(crate) fn shown(&self) -> String {
        match self {
            Allowed::Int(i) => i.to_string(),
            Allowed::Real(r) => r.to_string(),
            Allowed::Str(s) => s.clone(),
        }
    }
}

/// One key of a command, or one element shape of an array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeySpec {
    pub(crate) name: String,
    pub(crate) ty: KeyType,
    pub(crate) required: bool,
    pub(crate) allowed: Vec<Allowed>,
    pub(crate) unsupported: PlatformSet,
    /// Dictionary keys; array element shapes; for a `<string>`, its documented values (the
    /// DeviceInformation query names), each with its own platform support.
    pub(crate) subkeys: Vec<KeySpec>,
    /// For an array with several element shapes: the key whose `rangelist` says which one applies.
    pub(crate) tag: Option<String>,
}

/// Subkey that marks a dictionary as open to any key (`Manifest`, `Configuration`).
pub(crate) const ANY_KEY: &str = "ANY";

/// What an array's elements must look like.
pub(crate) enum Items<'a> {
    Unconstrained,
    One(&'a KeySpec),
    /// Dictionaries whose `tag` key value selects one of `alternatives` (Settings' `Item`).
    Tagged {
        tag: &'a str,
        alternatives: &'a [KeySpec],
    },
}

impl KeySpec {
    pub(crate) fn subkey(&self, name: &str) -> Option<&KeySpec> {
        self.subkeys.iter().find(|k| k.name == name)
    }

    /// A dictionary that accepts keys the schema does not name.
    pub(crate) fn is_open(&self) -> bool {
        self.subkeys.iter().any(|k| k.name == ANY_KEY && k.ty == KeyType::Any)
    }

    pub(crate) fn items(&self) -> Items<'_> {
        match (self.subkeys.as_slice(), &self.tag) {
            ([], _) => Items::Unconstrained,
            ([one], _) => Items::One(one),
            (alternatives, Some(tag)) => Items::Tagged { tag, alternatives },
            // Refused when the schema loads (see `compile_key`), so never reached.
            (alternatives, None) => Items::One(&alternatives[0]),
        }
    }

    /// The element shape whose tag key allows `value`.
    pub(crate) fn alternative(&self, tag: &str, value: &str) -> Option<&KeySpec> {
        self.subkeys.iter().find(|alt| {
            alt.subkey(tag)
                .is_some_and(|k| k.allowed.iter().any(|a| matches!(a, Allowed::Str(s) if s == value)))
        })
    }
}

/// One command (`payload.requesttype`) or profile payload (`payload.payloadtype`) and its keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommandSpec {
    /// The command's RequestType, or the payload's PayloadType.
    pub(crate) name: String,
    /// Schema file stem, e.g. `device.lock`.
    pub(crate) file: String,
    pub(crate) unsupported: PlatformSet,
    pub(crate) keys: Vec<KeySpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: key {key}: unknown type {ty}")]
    UnknownType { file: String, key: String, ty: String },
    #[error("{file}: array {key} has several element shapes and no tag key to tell them apart")]
    UntaggedArray { file: String, key: String },
    #[error("{file}: {name} is defined twice")]
    Duplicate { file: String, name: String },
    #[error("{file}: no payload.{field}")]
    Unnamed { file: String, field: &'static str },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schema {
    commands: BTreeMap<String, CommandSpec>,
}

/// Which name a schema file is filed under.
// The variants are the schema's own key names (requesttype, payloadtype, declarationtype).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameField {
    RequestType,
    PayloadType,
    /// Declarative Device Management declarations (`declarative/declarations/*/*.yaml`).
    DeclarationType,
}

impl Schema {
    /// Compiles `(file stem, YAML)` command files.
    pub(crate) fn from_files(files: &[(&str, &str)]) -> Result<Schema, SchemaError> {
        compile_all(files, NameField::RequestType).map(|commands| Schema { commands })
    }

    pub(crate) fn command(&self, request_type: &str) -> Option<&CommandSpec> {
        self.commands.get(request_type)
    }

    pub(crate) fn commands(&self) -> impl Iterator<Item = &CommandSpec> {
        self.commands.values()
    }
}

/// Apple's schema as embedded in the binary, parsed on first use.
pub(crate) fn apple() -> Result<&'static Schema, CommandError> {
    static SCHEMA: OnceLock<Result<Schema, SchemaError>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Schema::from_files(FILES))
        .as_ref()
        .map_err(|e| CommandError::new("RequestType", format!("command schema unavailable: {e}")))
}

#[derive(Deserialize)]
struct RawFile {
    payload: RawPayload,
    #[serde(default)]
    payloadkeys: Vec<RawKey>,
}

/// Compiles `(file stem, YAML)` pairs into specs filed under `field`.
pub(crate) fn compile_all(
    files: &[(&str, &str)],
    field: NameField,
) -> Result<BTreeMap<String, CommandSpec>, SchemaError> {
    let mut specs = BTreeMap::new();
    for (file, yaml) in files {
        let raw: RawFile = serde_yaml_ng::from_str(yaml).map_err(|e| SchemaError::Yaml {
            file: (*file).to_owned(),
            message: e.to_string(),
        })?;
        let spec = compile_command(file, raw, field)?;
        if let Some(old) = specs.insert(spec.name.clone(), spec) {
            return Err(SchemaError::Duplicate {
                file: (*file).to_owned(),
                name: old.name,
            });
        }
    }
    Ok(specs)
}

#[derive(Deserialize)]
struct RawPayload {
    requesttype: Option<String>,
    payloadtype: Option<String>,
    declarationtype: Option<String>,
    #[serde(rename = "supportedOS", default)]
    supported_os: BTreeMap<String, Option<RawOs>>,
}

#[derive(Deserialize, Default)]
struct RawOs {
    introduced: Option<serde_yaml_ng::Value>,
    removed: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    key: String,
    #[serde(rename = "type")]
    ty: String,
    presence: Option<String>,
    #[serde(default)]
    rangelist: Vec<Allowed>,
    #[serde(rename = "supportedOS", default)]
    supported_os: BTreeMap<String, Option<RawOs>>,
    #[serde(default)]
    subkeys: Vec<RawKey>,
}

fn compile_command(file: &str, raw: RawFile, field: NameField) -> Result<CommandSpec, SchemaError> {
    let name = match field {
        NameField::RequestType => raw.payload.requesttype,
        NameField::PayloadType => raw.payload.payloadtype,
        NameField::DeclarationType => raw.payload.declarationtype,
    };
    let name = name.ok_or_else(|| SchemaError::Unnamed {
        file: file.to_owned(),
        field: match field {
            NameField::RequestType => "requesttype",
            NameField::PayloadType => "payloadtype",
            NameField::DeclarationType => "declarationtype",
        },
    })?;
    // A command lists every OS it knows of; one it leaves out is not available there.
    let mut unsupported = PlatformSet::default();
    for platform in Platform::ALL {
        match raw.payload.supported_os.get(platform.as_str()) {
            Some(Some(os)) if !os.unavailable() => {}
            _ => unsupported.insert(platform),
        }
    }
    let keys = raw
        .payloadkeys
        .into_iter()
        .map(|k| compile_key(file, k))
        .collect::<Result<_, _>>()?;
    Ok(CommandSpec {
        name,
        file: file.to_owned(),
        unsupported,
        keys,
    })
}

fn compile_key(file: &str, raw: RawKey) -> Result<KeySpec, SchemaError> {
    let ty = KeyType::ALL
        .into_iter()
        .find(|t| t.name() == raw.ty)
        .ok_or_else(|| SchemaError::UnknownType {
            file: file.to_owned(),
            key: raw.key.clone(),
            ty: raw.ty.clone(),
        })?;
    // A key inherits its parent's support for an OS it does not mention.
    let mut unsupported = PlatformSet::default();
    for platform in Platform::ALL {
        if let Some(Some(os)) = raw.supported_os.get(platform.as_str()) {
            if os.unavailable() {
                unsupported.insert(platform);
            }
        }
    }
    let subkeys: Vec<KeySpec> = raw
        .subkeys
        .into_iter()
        .map(|k| compile_key(file, k))
        .collect::<Result<_, _>>()?;
    let tag = if ty == KeyType::Array && subkeys.len() > 1 {
        Some(array_tag(&subkeys).ok_or_else(|| SchemaError::UntaggedArray {
            file: file.to_owned(),
            key: raw.key.clone(),
        })?)
    } else {
        None
    };
    Ok(KeySpec {
        name: raw.key,
        ty,
        required: raw.presence.as_deref() == Some("required"),
        allowed: raw.rangelist,
        unsupported,
        subkeys,
        tag,
    })
}

/// The key every element shape requires with a string `rangelist` (Settings' `Item`).
fn array_tag(alternatives: &[KeySpec]) -> Option<String> {
    let tags = |alt: &KeySpec| -> Vec<String> {
        alt.subkeys
            .iter()
            .filter(|k| k.required && k.ty == KeyType::String && !k.allowed.is_empty())
            .map(|k| k.name.clone())
            .collect()
    };
    let first = tags(alternatives.first()?);
    first
        .into_iter()
        .find(|name| alternatives.iter().all(|alt| tags(alt).contains(name)))
}

impl RawOs {
    /// `introduced: n/a`, or `removed` at any version (every current device is past it).
    fn unavailable(&self) -> bool {
        let na = matches!(&self.introduced, Some(serde_yaml_ng::Value::String(s)) if s == "n/a");
        na || self.removed.is_some()
    }
}
