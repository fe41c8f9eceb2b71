//! API keys at run time: the key ring folded from the `api-keys` stream, refreshed from the log
//! on every check so a key revoked on one node stops working on every node at once (admin calls
//! are few; one indexed read each is cheap).

use std::sync::Mutex;

use annal_schemas::events::apikey::Role;
use annal_schemas::NewEvent;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::sync::Arc;

use crate::domain::access::Caller;
use crate::domain::api_keys::{KeyEntry, KeyRefusal, KeyRing, STREAM};
use crate::store::{EventStore, ExpectedVersion, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Refused(#[from] KeyRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("api-keys event {0} cannot be read: {1}")]
    Unreadable(u64, String),
    #[error("the system random generator failed")]
    Random,
}

/// A key as listed: never the secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub revoked: bool,
}

impl From<&KeyEntry> for KeyInfo {
    fn from(k: &KeyEntry) -> Self {
        Self {
            key_id: k.key_id.clone(),
            name: k.name.clone(),
            role: k.role,
            revoked: k.revoked,
        }
    }
}

pub struct ApiKeys {
    store: Arc<dyn EventStore>,
    ring: Mutex<(KeyRing, u64)>,
}

impl ApiKeys {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            ring: Mutex::new((KeyRing::default(), 0)),
        }
    }

    /// Folds what the stream gained since the last look; returns the ring and its version.
    async fn refreshed(&self) -> Result<(KeyRing, u64), ApiKeyError> {
        let (mut ring, mut version) = self.ring.lock().map(|g| g.clone()).unwrap_or_default();
        loop {
            let page = self.store.read_stream(STREAM, version + 1, 500).await?;
            let Some(last) = page.last().map(|e| e.stream_version) else {
                break;
            };
            for e in &page {
                let event = e
                    .decode()
                    .map_err(|err| ApiKeyError::Unreadable(e.stream_version, err.to_string()))?;
                ring.evolve(&event);
            }
            version = last;
        }
        if let Ok(mut guard) = self.ring.lock() {
            if guard.1 < version {
                *guard = (ring.clone(), version);
            }
        }
        Ok((ring, version))
    }

    /// The caller a presented key belongs to, or None for an unknown or revoked key.
    pub async fn verify(&self, presented: &str) -> Result<Option<Caller>, ApiKeyError> {
        let (ring, _) = self.refreshed().await?;
        Ok(ring.verify(presented).map(|k| Caller {
            actor: format!("api-key:{}", k.name),
            role: k.role,
        }))
    }

    /// Creates a key and returns it: the only time the full key exists outside its holder.
    pub async fn create(&self, name: &str, role: Role, actor: &str) -> Result<(String, KeyInfo), ApiKeyError> {
        let rng = SystemRandom::new();
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rng.fill(&mut id).map_err(|_| ApiKeyError::Random)?;
        rng.fill(&mut secret).map_err(|_| ApiKeyError::Random)?;
        let (key_id, secret) = (hex::encode(id), hex::encode(secret));
        for _ in 0..8 {
            let (ring, version) = self.refreshed().await?;
            let created = ring.decide_create(name, role, &key_id, &secret)?;
            match self.append(version, NewEvent::new(actor, &created)).await {
                Ok(()) => {
                    let info = KeyInfo {
                        key_id: key_id.clone(),
                        name: created.name,
                        role,
                        revoked: false,
                    };
                    return Ok((format!("annal_{key_id}_{secret}"), info));
                }
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable("too much contention on api-keys".into()).into())
    }

    pub async fn revoke(&self, key_id: &str, reason: Option<String>, actor: &str) -> Result<(), ApiKeyError> {
        for _ in 0..8 {
            let (ring, version) = self.refreshed().await?;
            let revoked = ring.decide_revoke(key_id, reason.clone())?;
            match self.append(version, NewEvent::new(actor, &revoked)).await {
                Ok(()) => return Ok(()),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable("too much contention on api-keys".into()).into())
    }

    /// The id of the key a caller's actor (`api-key:<name>`) names: names are never reused.
    pub async fn key_id_of_actor(&self, actor: &str) -> Result<Option<String>, ApiKeyError> {
        let Some(name) = actor.strip_prefix("api-key:") else {
            return Ok(None);
        };
        let (ring, _) = self.refreshed().await?;
        Ok(ring.keys.values().find(|k| k.name == name).map(|k| k.key_id.clone()))
    }

    /// Whether the key was revoked (an unknown key counts as revoked: it opens nothing).
    pub async fn is_revoked(&self, key_id: &str) -> Result<bool, ApiKeyError> {
        let (ring, _) = self.refreshed().await?;
        Ok(ring.keys.get(key_id).is_none_or(|k| k.revoked))
    }

    pub async fn list(&self) -> Result<Vec<KeyInfo>, ApiKeyError> {
        let (ring, _) = self.refreshed().await?;
        Ok(ring.keys.values().map(KeyInfo::from).collect())
    }

    async fn append(&self, version: u64, event: NewEvent) -> Result<(), StoreError> {
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        self.store.append(STREAM, expected, vec![event]).await.map(|_| ())
    }
}
