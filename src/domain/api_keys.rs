//! The API key ring: folded from the `api-keys` stream. A key is `annal_<key id>_<secret>`;
//! the log holds only the secret's SHA-256 (the secret is 256 random bits, so a fast hash is
//! as strong as a slow one), so neither the log nor an export can be used to call the API.

use std::collections::BTreeMap;

use annal_schemas::events::apikey::{ApiKeyCreated, ApiKeyRevoked, Role};
use annal_schemas::Event;
use sha2::{Digest, Sha256};

pub const STREAM: &str = "api-keys";
/// The bootstrap key's name (`<data-dir>/admin-api-key`), never given to a created key.
pub const RESERVED_NAME: &str = "admin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub secret_sha256: [u8; 32],
    pub revoked: bool,
}

#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    pub keys: BTreeMap<String, KeyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("the API key name {0:?} is taken (names are never reused; `admin` is the bootstrap key)")]
    NameTaken(String),
    #[error("API key names use letters, digits, '.', '-' and '_' (1–64 characters)")]
    BadName,
    #[error("no API key {0:?}")]
    UnknownKey(String),
    #[error("API key {0:?} is already revoked")]
    AlreadyRevoked(String),
}

/// A presented key split into its id and secret; None if it is not in Annal's format.
pub fn parse_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("annal_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && !secret.is_empty()).then_some((id, secret))
}

impl KeyRing {
    pub fn evolve(&mut self, event: &Event) {
        match event {
            Event::ApiKeyCreated(c) => {
                let mut digest = [0u8; 32];
                // A malformed digest (never written by Annal) matches no key.
                if hex::decode_to_slice(&c.secret_sha256, &mut digest).is_ok() {
                    self.keys.insert(
                        c.key_id.clone(),
                        KeyEntry {
                            key_id: c.key_id.clone(),
                            name: c.name.clone(),
                            role: c.role,
                            secret_sha256: digest,
                            revoked: false,
                        },
                    );
                }
            }
            Event::ApiKeyRevoked(r) => {
                if let Some(k) = self.keys.get_mut(&r.key_id) {
                    k.revoked = true;
                }
            }
            _ => {}
        }
    }

    /// The active key `presented` is, if any. Digests are compared whole, so timing reveals
    /// nothing about the secret.
    pub fn verify(&self, presented: &str) -> Option<&KeyEntry> {
        let (id, secret) = parse_key(presented)?;
        let entry = self.keys.get(id).filter(|k| !k.revoked)?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        (digest == entry.secret_sha256).then_some(entry)
    }

    /// Decides a new key; `key_id` and `secret` are fresh random values from the caller.
    pub fn decide_create(
        &self,
        name: &str,
        role: Role,
        key_id: &str,
        secret: &str,
    ) -> Result<ApiKeyCreated, KeyRefusal> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid {
            return Err(KeyRefusal::BadName);
        }
        // `api-key:admin` is the bootstrap key's actor; another key must not act under it.
        if name == RESERVED_NAME {
            return Err(KeyRefusal::NameTaken(name.to_string()));
        }
        // A name once used names that key forever: `api-key:<name>` in the log must not come to
        // mean another key after a revocation.
        if self.keys.values().any(|k| k.name == name) {
            return Err(KeyRefusal::NameTaken(name.to_string()));
        }
        Ok(ApiKeyCreated {
            key_id: key_id.to_string(),
            name: name.to_string(),
            role,
            secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        })
    }

    pub fn decide_revoke(&self, key_id: &str, reason: Option<String>) -> Result<ApiKeyRevoked, KeyRefusal> {
        match self.keys.get(key_id) {
            None => Err(KeyRefusal::UnknownKey(key_id.to_string())),
            Some(k) if k.revoked => Err(KeyRefusal::AlreadyRevoked(key_id.to_string())),
            Some(_) => Ok(ApiKeyRevoked {
                key_id: key_id.to_string(),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef";

    fn ring_with(name: &str, role: Role, secret: &str) -> KeyRing {
        let mut ring = KeyRing::default();
        let created = ring.decide_create(name, role, ID, secret).unwrap();
        ring.evolve(&Event::from(created));
        ring
    }

    #[test]
    fn a_created_key_verifies_until_revoked() {
        let mut ring = ring_with("ops", Role::Operator, "s3cret");
        let key = format!("annal_{ID}_s3cret");
        assert_eq!(ring.verify(&key).map(|k| k.role), Some(Role::Operator));
        assert!(ring.verify(&format!("annal_{ID}_wrong")).is_none());
        assert!(ring.verify("annal_0000000000000000_s3cret").is_none());
        assert!(ring.verify("not-a-key").is_none());
        let revoked = ring.decide_revoke(ID, None).unwrap();
        ring.evolve(&Event::from(revoked));
        assert!(ring.verify(&key).is_none());
        assert_eq!(ring.decide_revoke(ID, None), Err(KeyRefusal::AlreadyRevoked(ID.into())));
    }

    #[test]
    fn names_are_unique_among_active_keys() {
        let ring = ring_with("ops", Role::Operator, "x");
        assert_eq!(
            ring.decide_create("ops", Role::Admin, "fedcba9876543210", "y"),
            Err(KeyRefusal::NameTaken("ops".into()))
        );
        assert_eq!(
            ring.decide_create("a b", Role::Admin, "fedcba9876543210", "y"),
            Err(KeyRefusal::BadName)
        );
        assert_eq!(
            ring.decide_revoke("nope", None),
            Err(KeyRefusal::UnknownKey("nope".into()))
        );
    }

    #[test]
    fn the_log_never_holds_the_secret() {
        let ring = KeyRing::default();
        let created = ring.decide_create("ci", Role::Auditor, ID, "topsecretvalue").unwrap();
        let json = String::from_utf8(Event::from(created).to_data()).unwrap();
        assert!(!json.contains("topsecretvalue"));
    }
}
