//! Who is calling the admin API. Keys come from the log (`annal api-key create`, roles
//! admin / operator / auditor) or, for a first start, the bootstrap admin key: given in the
//! configuration or generated into `<data-dir>/admin-api-key` (mode 0600).
//!
//! `Caller` is an extractor that runs before any body is read, so an unauthenticated client
//! cannot make the server buffer a large body.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::http::AppState;
use crate::service::admin::{authorize, Action, Caller};
use crate::service::api_keys::ApiKeys;

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

    /// Accepts `Authorization: Bearer <key>` or HTTP Basic with the key as password (what
    /// NanoMDM's tools send).
    pub async fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let presented = presented_key(headers).ok_or(ApiError::Unauthenticated)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if digest == self.bootstrap_sha256 {
            return Ok(crate::service::admin::keys::bootstrap_caller());
        }
        match self.keys.verify(&presented).await {
            Ok(Some(caller)) => Ok(caller),
            Ok(None) => Err(ApiError::BadKey),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        }
    }
}

fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let key = if let Some(token) = value.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else {
        let decoded = B64.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')?.1.to_string()
    };
    (!key.is_empty()).then_some(key)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Every admin route reads at least: this shuts the whole API to enrollment tokens,
        // which are handed to device users, whatever a handler checks after.
        let checked = match state.admin.check(&parts.headers).await {
            Ok(caller) => require(&caller, Action::Read).map(|()| caller),
            Err(e) => Err(e),
        };
        // Every call is attributed, reads included: the log records who changed what, this
        // records who looked.
        match &checked {
            Ok(caller) => {
                tracing::info!(actor = %caller.actor, method = %parts.method, path = %parts.uri.path(), "admin call")
            }
            Err(e) => {
                tracing::warn!(method = %parts.method, path = %parts.uri.path(), refused = %e, "admin call refused")
            }
        }
        checked
    }
}

/// Refuses a caller whose role does not allow `action`.
pub fn require(caller: &Caller, action: Action<'_>) -> Result<(), ApiError> {
    Ok(authorize(caller, action)?)
}
