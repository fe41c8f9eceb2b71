//! The device's original plist, made safe to leave Annal: sealed raws are opened with the data
//! key, and every secret value (UnlockToken, BootstrapToken, PushMagic, …) is removed, wherever
//! it sits in the plist, before the payload goes to a webhook receiver.

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

#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("the sealed raw could not be opened: {0}")]
    Open(#[from] SecretsError),
    #[error("the raw is not a property list: {0}")]
    Plist(#[from] plist::Error),
}

/// The raw as a receiver may see it: opened if sealed, without any [`SECRET_KEYS`]. A plist
/// with nothing to remove keeps its original bytes; one with secrets is re-serialised as XML.
pub fn clear_raw(raw: &[u8], key: &DataKey) -> Result<Vec<u8>, RedactError> {
    let opened;
    let plain = if annal_schemas::is_sealed_raw(raw) {
        opened = key.open_raw(raw)?;
        opened.as_slice()
    } else {
        raw
    };
    let mut value = Value::from_reader(Cursor::new(plain))?;
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
            dict.retain(|k, _| !SECRET_KEYS.contains(&k.as_str()));
            let removed = before - dict.len();
            removed + dict.values_mut().map(remove_secrets).sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(remove_secrets).sum(),
        _ => 0,
    }
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
}
