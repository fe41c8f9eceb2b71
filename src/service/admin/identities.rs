//! Revoking a device identity and forgetting a device, on an admin's word: who may, what a
//! fingerprint and a reason must look like, then the identity service does it.

use serde::Deserialize;

use super::{authorize, Action, AdminError, Caller};
use crate::service::enrollments::Enrollments;
use crate::service::identities;

pub use crate::service::identities::Revoked;

/// Longest reason kept in the log.
const MAX_REASON: usize = 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

/// The optional `{"reason": …}` body; an empty body gives none.
fn reason(body: &[u8]) -> Result<Option<String>, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: Reason =
        serde_json::from_slice(body).map_err(|e| AdminError::invalid(format!("invalid JSON body: {e}")))?;
    match parsed.reason {
        Some(r) if r.len() > MAX_REASON => Err(AdminError::invalid_at(
            format!("reason is longer than {MAX_REASON} bytes"),
            "reason",
        )),
        other => Ok(other),
    }
}

/// A revoked certificate is refused (403) from then on.
pub async fn revoke(
    enrollments: &Enrollments,
    caller: &Caller,
    fingerprint: &str,
    body: &[u8],
) -> Result<Revoked, AdminError> {
    authorize(caller, Action::ManageIdentities)?;
    if !identities::is_fingerprint(fingerprint) {
        return Err(AdminError::invalid_at(
            "a certificate fingerprint is 64 lowercase hex digits (SHA-256 of the DER)",
            "fingerprint",
        ));
    }
    let reason = reason(body)?;
    let revoked = identities::revoke(enrollments, fingerprint, reason, &caller.actor).await?;
    tracing::info!(actor = %caller.actor, fingerprint = %fingerprint, enrollment = ?revoked.enrollment, "device identity revoked");
    Ok(revoked)
}

/// A forgotten device may enroll again under a new identity.
pub async fn forget(
    enrollments: &Enrollments,
    caller: &Caller,
    enrollment: &str,
    body: &[u8],
) -> Result<(), AdminError> {
    authorize(caller, Action::ManageIdentities)?;
    let reason = reason(body)?;
    identities::forget(enrollments, enrollment, reason, &caller.actor).await?;
    tracing::info!(actor = %caller.actor, enrollment = %enrollment, "device forgotten");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_optional_and_bounded() {
        assert_eq!(reason(b"  \n").expect("empty"), None);
        assert_eq!(reason(br#"{"reason":"lost"}"#).expect("valid"), Some("lost".into()));
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(MAX_REASON + 1));
        assert!(matches!(reason(long.as_bytes()), Err(AdminError::Invalid { path: Some(p), .. }) if p == "reason"));
        assert!(matches!(
            reason(br#"{"why":"x"}"#),
            Err(AdminError::Invalid { path: None, .. })
        ));
    }
}
