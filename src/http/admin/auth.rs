//! Who is calling the admin API: the key the request presents, checked by
//! `service::admin::auth`.
//!
//! `Caller` is an extractor that runs before any body is read, so an unauthenticated client
//! cannot make the server buffer a large body.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::error::ApiError;
use crate::http::AppState;
pub use crate::service::admin::auth::AdminAuth;
use crate::service::admin::auth::AuthError;
use crate::service::admin::{authorize, Action, Caller};

impl AdminAuth {
    /// Accepts `Authorization: Bearer <key>` or HTTP Basic with the key as password (what
    /// NanoMDM's tools send).
    pub async fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        self.caller(presented_key(headers)).await.map_err(|e| match e {
            AuthError::Missing => ApiError::Unauthenticated,
            AuthError::BadKey => ApiError::BadKey,
            AuthError::Unavailable(m) => ApiError::unavailable(m),
        })
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
            // NanoMDM answers a missing and a wrong key alike, 401 with its challenge.
            Err(ApiError::Unauthenticated | ApiError::BadKey) if is_nanomdm_route(parts.uri.path()) => {
                Err(ApiError::NanoMdmUnauthorized)
            }
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

/// The routes NanoMDM's tools call, which answer as NanoMDM does (Annal's own routes keep
/// 401 for a missing key and 403 for a wrong one).
fn is_nanomdm_route(path: &str) -> bool {
    ["/v1/enqueue/", "/v1/push/"].iter().any(|p| path.starts_with(p))
        || ["/v1/pushcert", "/v1/escrowkeyunlock"].contains(&path)
}

/// Refuses a caller whose role does not allow `action`.
pub fn require(caller: &Caller, action: Action<'_>) -> Result<(), ApiError> {
    Ok(authorize(caller, action)?)
}
