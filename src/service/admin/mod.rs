//! Admin use cases other than queueing commands (those are `service::commands`): enrollment
//! tokens, identities, SCEP challenges, push health, and who the caller is (`auth`). Each takes the authenticated caller and
//! a request already lifted out of HTTP, decides, and answers with a result or an
//! [`AdminError`]; the HTTP edge only maps both back.

pub mod auth;
pub mod challenges;
pub mod error;
pub mod escrow;
pub mod identities;
pub mod keys;
pub mod migration;
pub mod push_cert;
pub mod push_health;

pub use crate::domain::access::{Action, Caller, Denied};
pub use error::AdminError;

/// Refuses a caller whose role does not allow `action` (the rules are `domain::access`).
pub fn authorize(caller: &Caller, action: Action<'_>) -> Result<(), AdminError> {
    crate::domain::access::authorize(caller.role, action).map_err(AdminError::Forbidden)
}
