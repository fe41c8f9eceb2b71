//! Who is calling the admin API. Keys come from the log (`annal api-key create`, roles
//! admin / operator / auditor) or, for a first start, the bootstrap admin key: given in the
//! configuration or generated into `<data-dir>/admin-api-key` (mode 0600).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::keys::bootstrap_caller;
use super::Caller;
use crate::service::api_keys::ApiKeys;
use annal_schemas::events::apikey::Role;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no key was presented")]
    Missing,
    #[error("the API key is not valid")]
    BadKey,
    /// The keys in the log cannot be read now.
    #[error("{0}")]
    Unavailable(String),
}

pub struct AdminAuth {
    bootstrap_sha256: [u8; 32],
    keys: Arc<ApiKeys>,
    /// When the bootstrap key's use was last warned about (Unix seconds).
    warned_at: AtomicI64,
}

/// A bootstrap key in daily use is warned about at most this often.
const WARN_EVERY_SECS: i64 = 3600;

/// Shorter bootstrap keys are refused at start: an empty or short key would be guessable.
pub const MIN_KEY_LEN: usize = 16;

impl AdminAuth {
    pub fn new(bootstrap_key: &str, keys: Arc<ApiKeys>) -> Result<Self, String> {
        if bootstrap_key.len() < MIN_KEY_LEN {
            return Err(format!("the admin API key must be at least {MIN_KEY_LEN} characters"));
        }
        Ok(Self {
            bootstrap_sha256: Sha256::digest(bootstrap_key.as_bytes()).into(),
            keys,
            warned_at: AtomicI64::new(i64::MIN),
        })
    }

    pub fn keys(&self) -> &Arc<ApiKeys> {
        &self.keys
    }

    /// Whether any admin key of a person's own (not the bootstrap key) is active.
    pub async fn named_admin_exists(&self) -> Result<bool, AuthError> {
        let keys = self
            .keys
            .list()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        Ok(keys.iter().any(|k| k.role == Role::Admin && !k.revoked))
    }

    /// Logs a warning while the bootstrap key is the only admin key: everything done with it
    /// is recorded as `api-key:admin`, which names no person.
    pub async fn warn_if_bootstrap_only(&self) {
        if let Ok(false) = self.named_admin_exists().await {
            tracing::warn!(
                "the bootstrap admin key is the only admin key: the log records its actions as api-key:admin, \
                 which names no person. Give each admin a key of their own (`annal api-key create --name \
                 <person> --role admin`) and keep the bootstrap key for bootstrapping"
            );
        }
    }

    /// The caller `presented` (the key the request carried, if any) stands for.
    pub async fn caller(&self, presented: Option<String>) -> Result<Caller, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if digest == self.bootstrap_sha256 {
            let now = chrono::Utc::now().timestamp();
            let last = self.warned_at.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= WARN_EVERY_SECS
                && self
                    .warned_at
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.warn_if_bootstrap_only().await;
            }
            return Ok(bootstrap_caller());
        }
        match self.keys.verify(&presented).await {
            Ok(Some(caller)) => Ok(caller),
            Ok(None) => Err(AuthError::BadKey),
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        }
    }
}
