//! A declaration as an admin writes it (`{"Type", "Identifier", "Payload"}`, JSON as the device
//! receives it) checked against Apple's schema with the commands' checker: the type is known,
//! the payload's keys are Apple's, required keys are present and every value has its type and,
//! where Apple enumerates them, one of its values. An error names the key path
//! (`Payload.MinimumLength`) and never quotes a value that is not enumerated.
//!
//! Not checked yet (docs/design/ddm.md, step 2): numeric `range`s and an asset's `assettypes`.

use serde_json::{Map, Value as Json};

use super::{schema, Category};
use crate::mdm::commands::error::{quote, CommandError};
use crate::mdm::commands::json::{convert_object, json_kind};
use crate::mdm::commands::schema::{KeyType, ANY_KEY};
use crate::mdm::commands::validate::check_keys;

/// Longest Identifier accepted (Apple sets no limit; the protocol puts it in a URL path).
pub const MAX_IDENTIFIER: usize = 256;

/// What a valid declaration is, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub category: Category,
    pub declaration_type: String,
    pub identifier: String,
}

/// Checks `declaration`; `ServerToken` may be given (a device-side copy) and is ignored: the
/// server derives it from the content.
pub fn validate_declaration(declaration: &Json) -> Result<Checked, CommandError> {
    let Json::Object(object) = declaration else {
        return Err(CommandError::wrong_type(
            "Declaration",
            KeyType::Dictionary.name(),
            json_kind(declaration),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "Type" | "Identifier" | "Payload" | "ServerToken"))
    {
        return Err(CommandError::new(unknown.as_str(), "unknown key"));
    }
    let declaration_type = string(object, "Type")?;
    let identifier = string(object, "Identifier")?;
    if identifier.is_empty()
        || identifier.len() > MAX_IDENTIFIER
        || identifier.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(CommandError::new(
            "Identifier",
            format!("must be 1 to {MAX_IDENTIFIER} bytes with no control characters and no '/'"),
        ));
    }
    let known = schema()
        .map_err(|e| CommandError::new("Type", format!("declaration schema unavailable: {e}")))?
        .get(declaration_type)
        .ok_or_else(|| CommandError::new("Type", format!("unknown declaration type: {}", quote(declaration_type))))?;
    let empty = Map::new();
    let payload = match object.get("Payload") {
        None => &empty,
        Some(Json::Object(payload)) => payload,
        Some(other) => {
            return Err(CommandError::wrong_type(
                "Payload",
                KeyType::Dictionary.name(),
                json_kind(other),
            ))
        }
    };
    let keys = &known.spec.keys;
    let dict = convert_object(payload, keys, "Payload")?;
    let open = keys.iter().any(|k| k.name == ANY_KEY && k.ty == KeyType::Any);
    check_keys(keys, open, &dict, "Payload", None, None)?;
    Ok(Checked {
        category: known.category,
        declaration_type: declaration_type.to_owned(),
        identifier: identifier.to_owned(),
    })
}

fn string<'a>(object: &'a Map<String, Json>, key: &str) -> Result<&'a str, CommandError> {
    match object.get(key) {
        None => Err(CommandError::missing(key)),
        Some(Json::String(s)) => Ok(s),
        Some(other) => Err(CommandError::wrong_type(key, KeyType::String.name(), json_kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENFORCEMENT: &str = "com.apple.configuration.softwareupdate.enforcement.specific";

    fn error(declaration: Json) -> (String, String) {
        let e = validate_declaration(&declaration).unwrap_err();
        (e.path, e.reason)
    }

    #[test]
    fn the_flagship_declarations_pass() {
        let enforcement = json!({
            "Type": ENFORCEMENT,
            "Identifier": "os-18-2",
            "Payload": {"TargetOSVersion": "18.2", "TargetLocalDateTime": "2026-12-20T18:00:00"}
        });
        let checked = validate_declaration(&enforcement).unwrap();
        assert_eq!(
            (checked.category, checked.identifier.as_str()),
            (Category::Configuration, "os-18-2")
        );
        let passcode = json!({
            "Type": "com.apple.configuration.passcode.settings",
            "Identifier": "passcode",
            "Payload": {"MinimumLength": 6, "RequireAlphanumericPasscode": false}
        });
        assert_eq!(
            validate_declaration(&passcode).unwrap().category,
            Category::Configuration
        );
        let activation = json!({
            "Type": "com.apple.activation.simple",
            "Identifier": "all",
            "Payload": {"StandardConfigurations": ["os-18-2", "passcode"]}
        });
        assert_eq!(
            validate_declaration(&activation).unwrap().category,
            Category::Activation
        );
    }

    #[test]
    fn errors_name_the_key_path() {
        let base = |payload: Json| json!({"Type": ENFORCEMENT, "Identifier": "os", "Payload": payload});
        assert_eq!(error(base(json!({}))).0, "Payload.TargetOSVersion");
        assert_eq!(error(base(json!({"TargetOSVersion": 18}))).0, "Payload.TargetOSVersion");
        assert_eq!(
            error(base(json!({"TargetOSVersion": "18.2", "Colour": "red"}))).0,
            "Payload.Colour"
        );
        let passcode = json!({
            "Type": "com.apple.configuration.passcode.settings",
            "Identifier": "p",
            "Payload": {"MinimumLength": "six"}
        });
        let (path, reason) = error(passcode);
        assert_eq!(path, "Payload.MinimumLength");
        assert!(reason.contains("<integer>"), "{reason}");
    }

    #[test]
    fn the_envelope_is_checked_too() {
        assert_eq!(error(json!({"Identifier": "x", "Payload": {}})).0, "Type");
        let (path, reason) = error(json!({"Type": "com.apple.configuration.nope", "Identifier": "x"}));
        assert_eq!(path, "Type");
        assert!(reason.contains("unknown declaration type"), "{reason}");
        assert_eq!(error(json!({"Type": ENFORCEMENT, "Payload": {}})).0, "Identifier");
        for bad in ["", "a/b", "tab\there", &"x".repeat(MAX_IDENTIFIER + 1)] {
            assert_eq!(
                error(json!({"Type": ENFORCEMENT, "Identifier": bad})).0,
                "Identifier",
                "{bad:?}"
            );
        }
        assert_eq!(
            error(json!({"Type": ENFORCEMENT, "Identifier": "x", "Payload": []})).0,
            "Payload"
        );
        assert_eq!(
            error(json!({"Type": ENFORCEMENT, "Identifier": "x", "Extra": 1})).0,
            "Extra"
        );
        assert_eq!(error(json!(["not", "an", "object"])).0, "Declaration");
    }
}
