//! API keys and enrollment tokens as the admin API sees them. An enrollment token is an API
//! key with the `enrollment` role: the log keeps only its SHA-256, and it opens nothing but
//! the enrollment profile. Other keys are made and revoked with `annal api-key` on the host, or
//! in the web console by an admin ([`create_key`], [`revoke_key`]).

use annal_schemas::events::apikey::Role;

use super::{authorize, Action, AdminError, Caller};
use crate::domain::api_keys::KeyRefusal;
use crate::service::api_keys::{ApiKeyError, ApiKeys};

pub use crate::service::api_keys::KeyInfo;

/// The caller the bootstrap admin key stands for.
pub fn bootstrap_caller() -> Caller {
    Caller {
        actor: format!("api-key:{}", crate::domain::api_keys::RESERVED_NAME),
        role: Role::Admin,
    }
}

/// The keys, never their secrets.
pub async fn list(keys: &ApiKeys, caller: &Caller) -> Result<Vec<KeyInfo>, AdminError> {
    authorize(caller, Action::ManageKeys)?;
    keys.list().await.map_err(|e| AdminError::Unavailable(e.to_string()))
}

/// No `Debug`: it carries the enrollment token in clear.
#[derive(serde::Serialize)]
pub struct CreatedToken {
    pub token_id: String,
    pub name: String,
    /// Shown once.
    pub token: String,
    /// `<base-url>/enroll?token=…`.
    pub enroll_url: String,
}

pub async fn create_token(
    keys: &ApiKeys,
    caller: &Caller,
    name: &str,
    base_url: &str,
) -> Result<CreatedToken, AdminError> {
    authorize(caller, Action::ManageKeys)?;
    let (token, info) = keys
        .create(name, Role::Enrollment, &caller.actor)
        .await
        .map_err(token_error)?;
    let enroll_url = format!("{base_url}/enroll?token={token}");
    Ok(CreatedToken {
        token_id: info.key_id,
        name: info.name,
        token,
        enroll_url,
    })
}

/// Revokes an enrollment token; only those: other keys are revoked on the host.
pub async fn revoke_token(keys: &ApiKeys, caller: &Caller, token_id: &str) -> Result<(), AdminError> {
    authorize(caller, Action::ManageKeys)?;
    let listed = keys.list().await.map_err(token_error)?;
    if !listed
        .iter()
        .any(|k| k.key_id == token_id && k.role == Role::Enrollment)
    {
        return Err(AdminError::NotFound(format!("no enrollment token {token_id:?}")));
    }
    keys.revoke(token_id, None, &caller.actor).await.map_err(token_error)
}

/// No `Debug`: it carries the API key in clear.
#[derive(serde::Serialize)]
pub struct CreatedKey {
    /// Shown once.
    pub key: String,
    pub info: KeyInfo,
}

/// Creates an API key for the admin API (admin, operator or auditor), recorded with the
/// caller as its actor: what `annal api-key create` does on the host, for a caller whose role
/// may manage keys. Enrollment tokens are made with [`create_token`].
pub async fn create_key(keys: &ApiKeys, caller: &Caller, name: &str, role: Role) -> Result<CreatedKey, AdminError> {
    authorize(caller, Action::ManageKeys)?;
    if role == Role::Enrollment {
        return Err(AdminError::invalid_at(
            "an enrollment token is made as an enrollment token (it opens only the enrollment profile)",
            "role",
        ));
    }
    let (key, info) = keys.create(name, role, &caller.actor).await.map_err(key_error)?;
    Ok(CreatedKey { key, info })
}

/// Revokes an API key or enrollment token by its id, recorded with the caller as its actor
/// (`annal api-key revoke`, for a caller whose role may manage keys).
pub async fn revoke_key(
    keys: &ApiKeys,
    caller: &Caller,
    key_id: &str,
    reason: Option<String>,
) -> Result<(), AdminError> {
    authorize(caller, Action::ManageKeys)?;
    keys.revoke(key_id, reason, &caller.actor).await.map_err(key_error)
}

fn key_error(e: ApiKeyError) -> AdminError {
    match e {
        ApiKeyError::Refused(KeyRefusal::UnknownKey(id)) => AdminError::NotFound(format!("no API key {id:?}")),
        ApiKeyError::Refused(KeyRefusal::AlreadyRevoked(id)) => {
            AdminError::Conflict(format!("API key {id:?} is already revoked"))
        }
        ApiKeyError::Refused(refusal) => AdminError::invalid_at(refusal.to_string(), "name"),
        other => AdminError::Unavailable(other.to_string()),
    }
}

fn token_error(e: ApiKeyError) -> AdminError {
    match e {
        ApiKeyError::Refused(KeyRefusal::AlreadyRevoked(id)) => {
            AdminError::Conflict(format!("enrollment token {id:?} is already revoked"))
        }
        ApiKeyError::Refused(refusal) => AdminError::invalid_at(refusal.to_string(), "name"),
        other => AdminError::Unavailable(other.to_string()),
    }
}
