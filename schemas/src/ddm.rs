//! Declarative Device Management's tokens, as pure functions of content, so every node and every
//! rebuild of the log derives the same ones (the DDM design, docs/design/ddm.md, "Token
//! derivation"). A device compares tokens to tell what changed: a `ServerToken` per declaration
//! (Apple: it must change whenever the declaration's content does), a `DeclarationsToken` per
//! device's whole set.

use serde_json::Value;
use sha2::{Digest, Sha256};

const DECLARATION_DOMAIN: &[u8] = b"annal-ddm-declaration-v1\n";
const SET_DOMAIN: &[u8] = b"annal-ddm-set-v1\n";

/// `value` as JSON with object keys sorted by their UTF-8 bytes and no insignificant
/// whitespace. Sorted here, not left to `serde_json::Map`'s order, which a `preserve_order`
/// feature unified in by any dependency would change silently.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// A string, number, boolean or null as serde_json writes it.
fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a scalar to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing a string to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The first 16 bytes of SHA-256 over `domain` and `content`, as lowercase hex (32 characters;
/// Apple allows tokens up to 64).
fn token(domain: &[u8], content: &[u8]) -> String {
    let digest = Sha256::new().chain_update(domain).chain_update(content).finalize();
    hex::encode(&digest[..16])
}

/// The CommandUUID prefix of the DeclarativeManagement command that gives a device its set's
/// tokens: `DDM-<DeclarationsToken>`. The enrollment and the inventory both fold it.
pub const SYNC_COMMAND_PREFIX: &str = "DDM-";

/// The DeclarationsToken a sync command with this CommandUUID gives, if it is one.
pub fn synced_token(command_uuid: &str) -> Option<&str> {
    command_uuid.strip_prefix(SYNC_COMMAND_PREFIX)
}

/// A short digest naming content that is not a declaration (an assignment's filter).
pub fn content_digest(content: &[u8]) -> String {
    token(b"annal-ddm-content-v1\n", content)
}

/// The ServerToken of a declaration: its whole content (Identifier, Type, Payload), so any
/// change to any of them is a new token and the same content is the same token everywhere.
pub fn server_token(identifier: &str, declaration_type: &str, payload: &Value) -> String {
    let content = serde_json::json!({
        "Identifier": identifier,
        "Payload": payload,
        "Type": declaration_type,
    });
    token(DECLARATION_DOMAIN, &canonical_json(&content))
}

/// One declaration of a device's set, as its DeclarationsToken covers it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SetEntry<'a> {
    /// `activation`, `asset`, `configuration` or `management`.
    pub category: &'a str,
    pub identifier: &'a str,
    pub server_token: &'a str,
}

/// The DeclarationsToken of a device's set: independent of the order the declarations are
/// given in (and so of how each reached the device), changed by any declaration added, removed
/// or changed. Fields are joined with tab and newline, so they must hold neither (identifiers
/// with control characters are to be refused where declarations are defined).
pub fn declarations_token(set: &[SetEntry<'_>]) -> String {
    let mut sorted: Vec<&SetEntry<'_>> = set.iter().collect();
    sorted.sort();
    let mut content = Vec::new();
    for e in sorted {
        for (i, field) in [e.category, e.identifier, e.server_token].into_iter().enumerate() {
            if i > 0 {
                content.push(b'\t');
            }
            content.extend_from_slice(field.as_bytes());
        }
        content.push(b'\n');
    }
    token(SET_DOMAIN, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_keeps_array_order() {
        let value: Value =
            serde_json::from_str(r#"{ "b": [3, {"z": 1, "a": "x\n"}], "a": null, "é": true, "Z": 1.5 }"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&value)).unwrap(),
            r#"{"Z":1.5,"a":null,"b":[3,{"a":"x\n","z":1}],"é":true}"#
        );
    }

    #[test]
    fn a_server_token_follows_the_content_not_its_spelling() {
        let payload = json!({"TargetOSVersion": "18.2", "TargetLocalDateTime": "2026-12-20T18:00:00"});
        let respelled: Value =
            serde_json::from_str(r#"{"TargetLocalDateTime":"2026-12-20T18:00:00",   "TargetOSVersion":"18.2"}"#)
                .unwrap();
        let kind = "com.apple.configuration.softwareupdate.enforcement.specific";
        let t = server_token("os-18-2", kind, &payload);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(t, server_token("os-18-2", kind, &respelled));
        // Any part of the content changes it.
        assert_ne!(t, server_token("os-18-3", kind, &payload));
        assert_ne!(
            t,
            server_token("os-18-2", "com.apple.configuration.passcode.settings", &payload)
        );
        let later = json!({"TargetOSVersion": "18.2", "TargetLocalDateTime": "2026-12-21T18:00:00"});
        assert_ne!(t, server_token("os-18-2", kind, &later));
    }

    #[test]
    fn a_declarations_token_ignores_order_and_sees_every_change() {
        let a = SetEntry {
            category: "configuration",
            identifier: "os",
            server_token: "t1",
        };
        let b = SetEntry {
            category: "activation",
            identifier: "all",
            server_token: "t2",
        };
        let token = declarations_token(&[a.clone(), b.clone()]);
        assert_eq!(token, declarations_token(&[b.clone(), a.clone()]));
        assert_ne!(token, declarations_token(std::slice::from_ref(&a)));
        let changed = SetEntry {
            server_token: "t3",
            ..a.clone()
        };
        assert_ne!(token, declarations_token(&[changed, b.clone()]));
        // Field boundaries count: moving a character from one field to the next is a change.
        let shifted = SetEntry {
            category: "configuratio",
            identifier: "nos",
            server_token: "t1",
        };
        assert_ne!(token, declarations_token(&[shifted, b]));
        // The empty set has a token of its own, the same everywhere.
        assert_eq!(declarations_token(&[]), declarations_token(&[]));
        assert_ne!(declarations_token(&[]), token);
    }
}
