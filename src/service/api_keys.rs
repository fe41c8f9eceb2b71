//! API keys at run time: the key ring folded from the `api-keys` stream, refreshed from the log
//! on every check so a key revoked on one node stops working on every node at once (admin calls
//! are few; one indexed read each is cheap).

use std::sync::Arc;

use annal_schemas::events::apikey::Role;
use annal_schemas::Event;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::aggregate::{Aggregate, Decided, NoHooks, Options, Repository, RunError};
use crate::domain::access::Caller;
use crate::domain::api_keys::{KeyEntry, KeyRefusal, KeyRing, STREAM};
use crate::store::{EventStore, StoreError};

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

impl From<RunError<KeyRefusal>> for ApiKeyError {
    fn from(e: RunError<KeyRefusal>) -> Self {
        match e {
            RunError::Refused(r) => ApiKeyError::Refused(r),
            RunError::Store(e) => ApiKeyError::Store(e),
            RunError::Unreadable { version, detail, .. } => ApiKeyError::Unreadable(version, detail),
            RunError::Contention(stream) => {
                ApiKeyError::Store(StoreError::Unavailable(format!("too much contention on {stream}")))
            }
            RunError::Prepare(detail) => ApiKeyError::Store(StoreError::Unavailable(detail)),
        }
    }
}

/// What can be done to the key ring.
pub enum KeyCommand {
    /// `key_id` and `secret` are fresh random values.
    Create {
        name: String,
        role: Role,
        key_id: String,
        secret: String,
    },
    Revoke {
        key_id: String,
        reason: Option<String>,
    },
}

impl Aggregate for KeyRing {
    type Command = KeyCommand;
    type Decision = Decided;
    type Refusal = KeyRefusal;

    fn decide(&self, command: &KeyCommand) -> Result<Decided, KeyRefusal> {
        match command {
            KeyCommand::Create {
                name,
                role,
                key_id,
                secret,
            } => self.decide_create(name, *role, key_id, secret).map(Decided::one),
            KeyCommand::Revoke { key_id, reason } => self.decide_revoke(key_id, reason.clone()).map(Decided::one),
        }
    }

    fn evolve(&mut self, event: &Event, _raw: Option<&[u8]>) {
        KeyRing::evolve(self, event)
    }
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
    /// One stream, cached: each check reads only what it gained since the last one.
    ring: Repository<KeyRing>,
}

impl ApiKeys {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        let options = Options {
            cache: Some((1, 1)),
            page: 500,
            ..Options::default()
        };
        Self {
            ring: Repository::new(store, options),
        }
    }

    /// Folds what the stream gained since the last look; returns the ring and its version.
    async fn refreshed(&self) -> Result<(KeyRing, u64), ApiKeyError> {
        let loaded = self.ring.load(STREAM).await?;
        Ok((loaded.state, loaded.version))
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
        let command = KeyCommand::Create {
            name: name.to_owned(),
            role,
            key_id: key_id.clone(),
            secret: secret.clone(),
        };
        let (decided, ()) = self.ring.run(STREAM, &command, actor, &NoHooks).await?;
        let name = match decided.0.first() {
            Some((Event::ApiKeyCreated(created), _)) => created.name.clone(),
            _ => name.to_owned(),
        };
        let info = KeyInfo {
            key_id: key_id.clone(),
            name,
            role,
            revoked: false,
        };
        Ok((format!("annal_{key_id}_{secret}"), info))
    }

    pub async fn revoke(&self, key_id: &str, reason: Option<String>, actor: &str) -> Result<(), ApiKeyError> {
        let command = KeyCommand::Revoke {
            key_id: key_id.to_owned(),
            reason,
        };
        self.ring.run(STREAM, &command, actor, &NoHooks).await?;
        Ok(())
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
}
