//! Configuration profiles checked against Apple's profile schema (`schemas/apple/mdm/profiles/`)
//! with the same compiler and validator as commands: the wrapper against `TopLevel`, each
//! payload against `CommonPayloadKeys` plus its own `payloadtype` file.
//!
//! Only the payload types Annal generates are embedded; any other type is refused by name, so a
//! profile Annal signs never carries a payload nobody checked.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use plist::{Dictionary, Value};

use super::embedded::PROFILE_FILES;
use super::error::{quote, CommandError};
use super::platform::Platform;
use super::schema::{compile_all, CommandSpec, KeySpec, KeyType, NameField, SchemaError};
use super::validate::{check_keys, kind};

const TOP_LEVEL: &str = "TopLevel";
const COMMON: &str = "CommonPayloadKeys";
const PAYLOAD_CONTENT: &str = "PayloadContent";
const PAYLOAD_TYPE: &str = "PayloadType";
/// With it, the payloads are encrypted and `PayloadContent` is absent (TopLevel.yaml says so
/// in prose: "If 'IsEncrypted' is 'true', this array isn't needed").
const ENCRYPTED_PAYLOAD_CONTENT: &str = "EncryptedPayloadContent";

struct ProfileSchema {
    top: Vec<KeySpec>,
    /// `top` with `PayloadContent` optional, for encrypted profiles.
    top_encrypted: Vec<KeySpec>,
    /// Per PayloadType: the common keys, overridden and extended by the type's own.
    payloads: BTreeMap<String, CommandSpec>,
}

/// Checks a configuration profile (the outer dictionary of a .mobileconfig) and each of its
/// payloads, against `platform` when given. Errors name the key path
/// (`PayloadContent[2].Topic`).
pub fn validate_profile(profile: &Dictionary, platform: Option<Platform>) -> Result<(), CommandError> {
    let schema = profile_schema()?;
    let top = if profile.contains_key(ENCRYPTED_PAYLOAD_CONTENT) {
        &schema.top_encrypted
    } else {
        &schema.top
    };
    check_keys(top, false, profile, "", platform, None)?;
    let Some(Value::Array(items)) = profile.get(PAYLOAD_CONTENT) else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        validate_payload(schema, item, &format!("{PAYLOAD_CONTENT}[{i}]"), platform)?;
    }
    Ok(())
}

/// Checks one payload dictionary; `path` is where it sits in the profile.
fn validate_payload(
    schema: &ProfileSchema,
    item: &Value,
    path: &str,
    platform: Option<Platform>,
) -> Result<(), CommandError> {
    let Value::Dictionary(dict) = item else {
        return Err(CommandError::wrong_type(path, KeyType::Dictionary.name(), kind(item)));
    };
    let type_path = format!("{path}.{PAYLOAD_TYPE}");
    let payload_type = match dict.get(PAYLOAD_TYPE) {
        None => return Err(CommandError::missing(type_path)),
        Some(Value::String(t)) => t,
        Some(other) => return Err(CommandError::wrong_type(type_path, KeyType::String.name(), kind(other))),
    };
    let spec = schema.payloads.get(payload_type).ok_or_else(|| {
        let known: Vec<&str> = schema.payloads.keys().map(String::as_str).collect();
        CommandError::new(
            &type_path,
            format!(
                "payload type {} is not one Annal checks ({})",
                quote(payload_type),
                known.join(", ")
            ),
        )
    })?;
    if let Some(p) = platform.filter(|p| spec.unsupported.contains(*p)) {
        return Err(CommandError::unsupported(type_path, p));
    }
    check_keys(&spec.keys, false, dict, path, platform, None)
}

fn profile_schema() -> Result<&'static ProfileSchema, CommandError> {
    static SCHEMA: OnceLock<Result<ProfileSchema, SchemaError>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| compile(PROFILE_FILES))
        .as_ref()
        .map_err(|e| CommandError::new(PAYLOAD_TYPE, format!("profile schema unavailable: {e}")))
}

fn compile(files: &[(&str, &str)]) -> Result<ProfileSchema, SchemaError> {
    let mut specs = compile_all(files, NameField::PayloadType)?;
    let mut take = |name: &str| {
        specs.remove(name).ok_or_else(|| SchemaError::Unnamed {
            file: name.to_owned(),
            field: "payloadtype",
        })
    };
    let top = take(TOP_LEVEL)?.keys;
    let common = take(COMMON)?.keys;
    let top_encrypted = top
        .iter()
        .cloned()
        .map(|mut k| {
            if k.name == PAYLOAD_CONTENT {
                k.required = false;
            }
            k
        })
        .collect();
    let payloads = specs
        .into_iter()
        .map(|(name, mut spec)| {
            let own: Vec<String> = spec.keys.iter().map(|k| k.name.clone()).collect();
            spec.keys
                .extend(common.iter().filter(|k| !own.contains(&k.name)).cloned());
            (name, spec)
        })
        .collect();
    Ok(ProfileSchema {
        top,
        top_encrypted,
        payloads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profile_files_are_the_folder_and_compile() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/apple/mdm/profiles");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".yaml")
                    .to_owned()
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = PROFILE_FILES.iter().map(|(s, _)| (*s).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
        for (stem, text) in PROFILE_FILES {
            assert_eq!(
                *text,
                std::fs::read_to_string(dir.join(format!("{stem}.yaml"))).unwrap()
            );
        }
        let schema = profile_schema().expect("compiles");
        let names: Vec<&str> = schema.payloads.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["com.apple.mdm", "com.apple.security.root", "com.apple.security.scep"]
        );
        // The payload's own PayloadContent (a dictionary for SCEP) wins over nothing common.
        let scep = &schema.payloads["com.apple.security.scep"];
        assert!(scep.keys.iter().any(|k| k.name == "PayloadUUID" && k.required));
    }
}
