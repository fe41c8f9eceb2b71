//! API key check. Until key management exists, one admin key: given in the configuration or
//! generated at first start into `<data-dir>/admin-api-key` (mode 0600). Keys are compared by
//! their SHA-256, so the comparison does not leak the key through timing.

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

pub struct AdminAuth {
    key_sha256: [u8; 32],
}

/// Shorter keys are refused at start: an empty or short key would be guessable.
pub const MIN_KEY_LEN: usize = 16;

impl AdminAuth {
    pub fn new(key: &str) -> Result<Self, String> {
        if key.len() < MIN_KEY_LEN {
            return Err(format!("the admin API key must be at least {MIN_KEY_LEN} characters"));
        }
        Ok(Self {
            key_sha256: Sha256::digest(key.as_bytes()).into(),
        })
    }

    /// Accepts `Authorization: Bearer <key>` or HTTP Basic with the key as password (what
    /// NanoMDM's tools send). Returns the actor name recorded on the events.
    pub fn check(&self, headers: &HeaderMap) -> Result<String, (StatusCode, &'static str)> {
        let refused = (
            StatusCode::UNAUTHORIZED,
            "an API key is required: Authorization: Bearer <key>",
        );
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(refused)?;
        let presented = if let Some(token) = value.strip_prefix("Bearer ") {
            token.trim().to_string()
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            let decoded = B64.decode(basic.trim()).map_err(|_| refused)?;
            let text = String::from_utf8(decoded).map_err(|_| refused)?;
            text.split_once(':').map(|(_, p)| p.to_string()).ok_or(refused)?
        } else {
            return Err(refused);
        };
        if presented.is_empty() {
            return Err(refused);
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if digest == self.key_sha256 {
            Ok("api-key:admin".to_string())
        } else {
            Err((StatusCode::FORBIDDEN, "the API key is not valid"))
        }
    }
}
