//! The data key that seals secrets inside events (PushMagic, UnlockToken, BootstrapToken,
//! command PINs) with AES-256-GCM, so the log, its exports and any stream consumer never hold
//! them in clear. Every node serving one log must use the same key file.

use std::io::Write;
use std::path::Path;

use annal_schemas::Sealed;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("data key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("data key file {0} must hold 64 hex characters (a 256-bit key)")]
    BadKey(String),
    #[error("sealed with key {0}, which this server does not have")]
    UnknownKey(String),
    #[error("a sealed value could not be opened: it was altered or is not from this key")]
    Open,
    #[error("the system random generator failed")]
    Random,
}

pub struct DataKey {
    id: String,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

impl DataKey {
    /// Loads the key at `path`, creating a random one (mode 0600) if the file does not exist.
    pub fn load_or_init(path: &Path) -> Result<Self, SecretsError> {
        let io = |source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let mut bytes = [0u8; 32];
            SystemRandom::new().fill(&mut bytes).map_err(|_| SecretsError::Random)?;
            if let Some(dir) = path.parent() {
                crate::store::private::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(hex::encode(bytes).as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            // The directory entry must be durable too, or a crash could lose the key while the
            // events sealed with it survive.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::from_hex(text.trim()).map_err(|_| SecretsError::BadKey(path.display().to_string()))
    }

    pub fn from_hex(hex_key: &str) -> Result<Self, SecretsError> {
        let bytes = hex::decode(hex_key).map_err(|_| SecretsError::BadKey("(inline)".into()))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SecretsError::BadKey("(inline)".into()))?;
        // The id names the key without revealing it, so sealed values say which key opens them.
        let id = hex::encode(&Sha256::digest([b"annal-data-key\0".as_slice(), &bytes].concat())[..8]);
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretsError::Random)?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| SecretsError::Open)?;
        Ok(Sealed {
            alg: "A256GCM".into(),
            key_id: self.id.clone(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(buffer),
        })
    }

    pub fn open(&self, sealed: &Sealed) -> Result<Vec<u8>, SecretsError> {
        if sealed.key_id != self.id {
            return Err(SecretsError::UnknownKey(sealed.key_id.clone()));
        }
        let nonce: [u8; NONCE_LEN] = B64
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SecretsError::Open)?;
        let mut buffer = B64.decode(&sealed.ciphertext).map_err(|_| SecretsError::Open)?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| SecretsError::Open)?;
        Ok(plain.to_vec())
    }

    /// Seals `bytes` and returns the JSON of the sealed value: the form `raw` takes when a
    /// device's message carries secrets (it starts with `{`, a plist never does).
    pub fn seal_raw(&self, bytes: &[u8]) -> Result<Vec<u8>, SecretsError> {
        Ok(serde_json::to_vec(&self.seal(bytes)?).unwrap_or_default())
    }

    pub fn open_raw(&self, raw: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let sealed: Sealed = serde_json::from_slice(raw).map_err(|_| SecretsError::Open)?;
        self.open(&sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = DataKey::load_or_init(&path).unwrap();
        let again = DataKey::load_or_init(&path).unwrap();
        assert_eq!(key.id(), again.id(), "the key persists");
        let sealed = key.seal(b"PushMagic-123").unwrap();
        assert!(!sealed.ciphertext.contains("PushMagic"));
        assert_eq!(again.open(&sealed).unwrap(), b"PushMagic-123");
        let mut altered = sealed.clone();
        altered.ciphertext = B64.encode([0u8; 29]);
        assert!(matches!(key.open(&altered), Err(SecretsError::Open)));
        let other = DataKey::from_hex(&"11".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretsError::UnknownKey(_))));
        assert_eq!(key.open_raw(&key.seal_raw(b"<plist/>").unwrap()).unwrap(), b"<plist/>");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
