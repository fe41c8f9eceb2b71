//! Who is calling the admin API. Keys come from the log (`annal api-key create`, roles
//! admin / operator / auditor) or, for a first start, the bootstrap admin key: given in the
//! configuration or generated into `<data-dir>/admin-api-key` (mode 0600).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::keys::bootstrap_caller;
use super::Caller;
use crate::service::api_keys::ApiKeys;

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
}

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
        })
    }

    pub fn keys(&self) -> &Arc<ApiKeys> {
        &self.keys
    }

    /// The caller `presented` (the key the request carried, if any) stands for.
    pub async fn caller(&self, presented: Option<String>) -> Result<Caller, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if digest == self.bootstrap_sha256 {
            return Ok(bootstrap_caller());
        }
        match self.keys.verify(&presented).await {
            Ok(Some(caller)) => Ok(caller),
            Ok(None) => Err(AuthError::BadKey),
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        }
    }
}
