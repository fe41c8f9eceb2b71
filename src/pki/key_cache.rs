//! Private keys parsed once per process. Loading an RSA key into aws-lc-rs checks it (a
//! consistency test costing about as much as a signature), and SCEP used to load the CA key for
//! every request twice (to decrypt the request, to sign the answer): with the cache an
//! enrollment pays for the private-key operations only. The simulator signs every request with
//! its device's key and gains the same way.
//!
//! Keyed by the SHA-256 of the PKCS#8 bytes (never the bytes themselves), bounded: past
//! [`MAX_KEYS`] the cache starts over, which costs a reload, never a wrong key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};

use super::keys::SigningKey;
use super::PkiError;

/// A server uses one or two keys; a simulator one per device it drives.
const MAX_KEYS: usize = 4096;

type Fingerprint = [u8; 32];

struct Cache<T>(Mutex<HashMap<Fingerprint, Arc<T>>>);

impl<T> Cache<T> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get_or_load(&self, pkcs8: &[u8], load: impl FnOnce(&[u8]) -> Option<T>) -> Option<Arc<T>> {
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest(&SHA256, pkcs8).as_ref());
        if let Some(found) = self.0.lock().ok().and_then(|c| c.get(&fingerprint).cloned()) {
            return Some(found);
        }
        // Loaded outside the lock: two requests may both load a new key once; neither waits.
        let loaded = Arc::new(load(pkcs8)?);
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= MAX_KEYS {
                cache.clear();
            }
            cache.insert(fingerprint, loaded.clone());
        }
        Some(loaded)
    }
}

/// The signing key of PKCS#8 `der`, parsed at its first use.
pub(crate) fn signing_key(der: &[u8]) -> Result<Arc<SigningKey>, PkiError> {
    static KEYS: OnceLock<Cache<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(Cache::new)
        .get_or_load(der, |der| SigningKey::from_pkcs8(der).ok())
        .ok_or(PkiError::PrivateKey)
}

/// The RSA PKCS#1 v1.5 decryption key of PKCS#8 `der` (None: not an RSA key).
pub(crate) fn pkcs1_decrypting_key(der: &[u8]) -> Option<Arc<Pkcs1PrivateDecryptingKey>> {
    static KEYS: OnceLock<Cache<Pkcs1PrivateDecryptingKey>> = OnceLock::new();
    KEYS.get_or_init(Cache::new).get_or_load(der, |der| {
        PrivateDecryptingKey::from_pkcs8(der)
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::KeyKind;

    #[test]
    fn a_key_is_parsed_once_and_a_different_key_is_not_confused_with_it() {
        let ca = crate::pki::test_support::ca();
        let a = ca.issue_device_identity("a", KeyKind::Rsa2048, 1).expect("issues");
        let b = ca.issue_device_identity("b", KeyKind::EcdsaP256, 1).expect("issues");
        let first = signing_key(&a.key_pkcs8_der).expect("RSA key");
        assert!(Arc::ptr_eq(&first, &signing_key(&a.key_pkcs8_der).expect("again")));
        let other = signing_key(&b.key_pkcs8_der).expect("ECDSA key");
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(first.is_rsa() && !other.is_rsa());
        assert!(pkcs1_decrypting_key(&a.key_pkcs8_der).is_some());
        assert!(
            pkcs1_decrypting_key(&b.key_pkcs8_der).is_none(),
            "an ECDSA key cannot decrypt"
        );
        assert!(signing_key(b"not a key").is_err());
    }
}
