//! What leaves Annal for a webhook receiver or a message broker, made safe: the device's
//! original plist (sealed raws are opened with the data key, and every secret value —
//! UnlockToken, BootstrapToken, PushMagic, … — is removed wherever it sits), an event's JSON data
//! (every sealed value and anything under a secret key is replaced by [`REDACTED`]) and the URL
//! of a receiver as logs and errors show it (no credentials, path or query).

use std::io::Cursor;

use plist::Value;

use crate::secrets::{DataKey, SecretsError};

/// Keys whose values are secrets in check-in messages and command results. Removed at any depth:
/// a receiver that needs one of them must get it from Annal's API, which audits the access.
pub const SECRET_KEYS: &[&str] = &[
    // TokenUpdate: with the push certificate, PushMagic lets anyone wake the device.
    "PushMagic",
    // TokenUpdate (device channel) and RequestUnlockToken results: clears the passcode.
    "UnlockToken",
    // SetBootstrapToken and GetBootstrapToken results.
    "BootstrapToken",
    // GetToken responses.
    "TokenData",
    // UserAuthenticate's second step: the user's credential proof.
    "DigestResponse",
    // Command results that return a credential.
    "ActivationLockBypassCode",
    "RecoveryLockPassword",
    "RotateResult",
    "PersonalRecoveryKey",
];

/// What a secret in an event's JSON data becomes.
pub const REDACTED: &str = "<redacted>";

/// Whether a key names a secret: one of [`SECRET_KEYS`] as Apple spells it (`PushMagic`) or as
/// event data spells it (`push_magic`).
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|secret| {
        let mut wanted = secret.chars().map(|c| c.to_ascii_lowercase());
        let mut given = key.chars().filter(|c| *c != '_').map(|c| c.to_ascii_lowercase());
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("the sealed raw could not be opened: {0}")]
    Open(#[from] SecretsError),
    #[error("the raw is not a property list: {0}")]
    Plist(#[from] plist::Error),
}

/// The raw as a receiver may see it: opened if sealed, without any [`SECRET_KEYS`]. A plist
/// with nothing to remove keeps its original bytes; one with secrets is re-serialised as XML.
/// The device's plist as it sent it, secrets included: opened when sealed. Only for a receiver
/// the admin opted in (`--webhook-include-secrets`).
pub fn open_raw(raw: &[u8], key: &DataKey) -> Result<Vec<u8>, RedactError> {
    if annal_schemas::is_sealed_raw(raw) {
        return Ok(key.open_raw(raw)?);
    }
    Ok(raw.to_vec())
}

pub fn clear_raw(raw: &[u8], key: &DataKey) -> Result<Vec<u8>, RedactError> {
    let opened;
    let plain = if annal_schemas::is_sealed_raw(raw) {
        opened = key.open_raw(raw)?;
        opened.as_slice()
    } else {
        raw
    };
    // As the HTTP edge read it: `<data>` that Apple's and Python's readers accept parses here too.
    let mut value = Value::from_reader(Cursor::new(&*annal_schemas::canonical_data(plain)))?;
    if remove_secrets(&mut value) == 0 {
        return Ok(plain.to_vec());
    }
    let mut out = Vec::with_capacity(plain.len());
    value.to_writer_xml(&mut out)?;
    Ok(out)
}

/// Removes every secret key from `value` and the dictionaries and arrays inside it; returns how
/// many values were removed.
pub fn remove_secrets(value: &mut Value) -> usize {
    match value {
        Value::Dictionary(dict) => {
            let before = dict.len();
            dict.retain(|k, _| !is_secret_key(k));
            let removed = before - dict.len();
            removed + dict.values_mut().map(remove_secrets).sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(remove_secrets).sum(),
        _ => 0,
    }
}

/// Replaces the value of every secret key in `value` and the dictionaries and arrays inside it
/// with the string [`REDACTED`], keeping the key (a reader sees that there was one); returns how
/// many values were replaced.
pub fn mask_secrets(value: &mut Value) -> usize {
    match value {
        Value::Dictionary(dict) => {
            let mut masked = 0;
            for (k, v) in dict.iter_mut() {
                if is_secret_key(k) {
                    if v.as_string() != Some(REDACTED) {
                        *v = Value::String(REDACTED.into());
                        masked += 1;
                    }
                } else {
                    masked += mask_secrets(v);
                }
            }
            masked
        }
        Value::Array(items) => items.iter_mut().map(mask_secrets).sum(),
        _ => 0,
    }
}

/// An unsealed raw plist as a reader without the admin role may see it: every [`SECRET_KEYS`]
/// value replaced with [`REDACTED`]. A plist with nothing to mask keeps its original bytes; one
/// with secrets is re-serialised as XML. A raw that is not a plist is refused: it cannot be
/// shown safely.
pub fn masked_raw(raw: &[u8]) -> Result<Vec<u8>, plist::Error> {
    let mut value = Value::from_reader(Cursor::new(raw))?;
    if mask_secrets(&mut value) == 0 {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len());
    value.to_writer_xml(&mut out)?;
    Ok(out)
}

/// Replaces, in an event's JSON data, every sealed value (an `annal_schemas::Sealed`, wherever
/// it sits) and every non-null value under a secret key with [`REDACTED`]; returns how many.
/// A null stays null, so a receiver still sees that there was no secret (no UnlockToken).
pub fn redact_data(value: &mut serde_json::Value) -> usize {
    use serde_json::Value as Json;
    if is_sealed_value(value) {
        *value = Json::String(REDACTED.into());
        return 1;
    }
    match value {
        Json::Object(map) => map
            .iter_mut()
            .map(|(k, v)| match v {
                Json::Null => 0,
                Json::String(s) if s == REDACTED => 0,
                _ if is_secret_key(k) => {
                    *v = Json::String(REDACTED.into());
                    1
                }
                _ => redact_data(v),
            })
            .sum(),
        Json::Array(items) => items.iter_mut().map(redact_data).sum(),
        _ => 0,
    }
}

/// The JSON shape of `annal_schemas::Sealed`: an object with exactly its four fields.
fn is_sealed_value(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|map| {
        map.len() == 4
            && ["alg", "key_id", "nonce", "ciphertext"]
                .iter()
                .all(|k| map.contains_key(*k))
    })
}

/// A URL as errors and logs may show it: the scheme and host, without credentials, path or
/// query (any of them may carry a token). A password with an unescaped `/` must not leak either,
/// so the host is taken after the last `@` before any query: a URL with an `@` in its path then
/// shows a wrong host, never a secret.
pub fn redacted_url(url: &str) -> String {
    let cut = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[cut..];
    let before_query = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let host_on = before_query.rfind('@').map_or(0, |i| i + 1);
    let host = &rest[host_on..];
    let host = &host[..host.find(['/', '?', '#']).unwrap_or(host.len())];
    format!("{}{host}…", &url[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN_UPDATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>MessageType</key><string>TokenUpdate</string>
<key>PushMagic</key><string>MAGIC-5f1e</string>
<key>Token</key><data>q83vEjRWeJA=</data>
<key>Topic</key><string>com.apple.mgmt.External.test</string>
<key>UDID</key><string>UDID-1</string>
<key>UnlockToken</key><data>c2VjcmV0LXVubG9jaw==</data>
</dict></plist>"#;

    fn key() -> DataKey {
        DataKey::from_hex(&"42".repeat(32)).unwrap()
    }

    fn dict(bytes: &[u8]) -> plist::Dictionary {
        Value::from_reader(Cursor::new(bytes))
            .unwrap()
            .into_dictionary()
            .unwrap()
    }

    #[test]
    fn a_sealed_raw_is_opened_and_loses_its_secrets() {
        let key = key();
        let sealed = key.seal_raw(TOKEN_UPDATE.as_bytes()).unwrap();
        assert!(annal_schemas::is_sealed_raw(&sealed));
        let clear = clear_raw(&sealed, &key).unwrap();
        let d = dict(&clear);
        assert!(d.get("PushMagic").is_none() && d.get("UnlockToken").is_none());
        assert_eq!(d.get("UDID").and_then(Value::as_string), Some("UDID-1"));
        assert_eq!(
            d.get("Token").and_then(Value::as_data),
            Some(&[0xab, 0xcd, 0xef, 0x12, 0x34, 0x56, 0x78, 0x90][..])
        );
        let text = String::from_utf8(clear).unwrap();
        assert!(!text.contains("MAGIC-5f1e") && !text.contains("c2VjcmV0LXVubG9jaw"));
    }

    #[test]
    fn nested_secrets_in_a_plain_raw_are_removed_too() {
        let mut value = Value::Dictionary(dict(TOKEN_UPDATE.as_bytes()));
        let mut outer = plist::Dictionary::new();
        outer.insert("Status".into(), "Acknowledged".into());
        outer.insert("Items".into(), Value::Array(vec![value.clone()]));
        outer.insert("BootstrapToken".into(), Value::Data(b"bt".to_vec()));
        let mut raw = Vec::new();
        Value::Dictionary(outer).to_writer_binary(&mut raw).unwrap();
        let d = dict(&clear_raw(&raw, &key()).unwrap());
        assert!(d.get("BootstrapToken").is_none());
        let item = d["Items"].as_array().unwrap()[0].as_dictionary().unwrap();
        assert!(item.get("PushMagic").is_none() && item.get("UDID").is_some());
        assert_eq!(remove_secrets(&mut value), 2);
    }

    #[test]
    fn a_raw_without_secrets_keeps_its_bytes_and_garbage_is_refused() {
        let idle = b"<plist version=\"1.0\"><dict><key>Status</key><string>Idle</string></dict></plist>";
        assert_eq!(clear_raw(idle, &key()).unwrap(), idle);
        assert!(matches!(clear_raw(b"not a plist", &key()), Err(RedactError::Plist(_))));
        let other = DataKey::from_hex(&"11".repeat(32)).unwrap();
        let sealed = other.seal_raw(idle).unwrap();
        assert!(matches!(clear_raw(&sealed, &key()), Err(RedactError::Open(_))));
    }

    #[test]
    fn sealed_values_and_secret_keys_in_event_data_are_redacted() {
        let sealed = annal_schemas::Sealed {
            alg: "A256GCM".into(),
            key_id: "k1".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "Y2lwaGVydGV4dA==".into(),
        };
        let mut data = serde_json::json!({
            "device": {"udid": "UDID-1"},
            "token_hex": "0a0b",
            "push_magic": sealed,
            "unlock_token": null,
            "nested": [{"key": sealed}],
            "BootstrapToken": "plain-but-secret",
            "activation_lock_bypass_code": {"code": "ABCD"},
        });
        assert_eq!(redact_data(&mut data), 4);
        assert_eq!(data["push_magic"], REDACTED);
        assert_eq!(data["nested"][0]["key"], REDACTED);
        assert_eq!(data["BootstrapToken"], REDACTED);
        assert_eq!(data["activation_lock_bypass_code"], REDACTED);
        assert!(
            data["unlock_token"].is_null(),
            "an absent secret stays visible as absent"
        );
        assert_eq!(data["token_hex"], "0a0b");
        let text = data.to_string();
        assert!(!text.contains("Y2lwaGVydGV4dA") && !text.contains("plain-but-secret") && !text.contains("ABCD"));
        assert_eq!(redact_data(&mut data), 0, "idempotent");
    }

    #[test]
    fn masking_keeps_the_keys_and_replaces_the_values() {
        let answer = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Status</key><string>Acknowledged</string>
<key>RotateResult</key><dict><key>EncryptedNewRecoveryKey</key><data>c2VjcmV0</data></dict>
<key>Items</key><array><dict><key>PersonalRecoveryKey</key><string>ABCD-EFGH-1234</string></dict></array>
<key>UDID</key><string>UDID-1</string>
</dict></plist>"#;
        let masked = masked_raw(answer).unwrap();
        let text = String::from_utf8(masked.clone()).unwrap();
        assert!(!text.contains("ABCD-EFGH-1234") && !text.contains("c2VjcmV0"), "{text}");
        let d = dict(&masked);
        assert_eq!(d["RotateResult"].as_string(), Some(REDACTED));
        let item = d["Items"].as_array().unwrap()[0].as_dictionary().unwrap();
        assert_eq!(item["PersonalRecoveryKey"].as_string(), Some(REDACTED));
        assert_eq!(d["UDID"].as_string(), Some("UDID-1"));
        let idle = b"<plist version=\"1.0\"><dict><key>Status</key><string>Idle</string></dict></plist>";
        assert_eq!(masked_raw(idle).unwrap(), idle, "nothing to mask: the original bytes");
        assert!(masked_raw(b"not a plist").is_err());
    }

    #[test]
    fn secret_keys_match_in_either_spelling_only() {
        for key in [
            "PushMagic",
            "push_magic",
            "UnlockToken",
            "unlock_token",
            "rotate_result",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["Token", "token_hex", "push_magic_hash", "Push", "unlock"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn urls_lose_credentials_path_and_query() {
        assert_eq!(redacted_url("ftp://example.com/secret?t=1"), "ftp://example.com…");
        assert_eq!(
            redacted_url("nats://user:p4ss@nats.example.com:4222"),
            "nats://nats.example.com:4222…"
        );
        assert_eq!(redacted_url("https://u:p@h/x?q=@y"), "https://h…");
        assert_eq!(redacted_url("nats://u:pa/ss@h:4222"), "nats://h:4222…");
        assert_eq!(redacted_url("https://h/a@b"), "https://b…", "wrong, but no secret");
    }
}
