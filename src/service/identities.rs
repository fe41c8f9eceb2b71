//! Admin actions on device identities: revoking a certificate (in its own stream, then in the
//! enrollment it is bound to) and forgetting a device's enrollment.

use annal_schemas::events::identity::IdentityRevoked;
use annal_schemas::NewEvent;
use chrono::Utc;

use super::enrollments::{Enrollments, ServiceError};
use crate::domain::enrollment::{AdminInput, Input, Refusal};
use crate::domain::identities::{self, IdentityRecord};
use crate::store::{EventStore, ExpectedVersion, StoreError};

/// A certificate's stream (`identity-<fingerprint>`), folded.
pub async fn read_record(store: &dyn EventStore, fingerprint: &str) -> Result<IdentityRecord, ServiceError> {
    let stream = identities::stream(fingerprint);
    let mut record = IdentityRecord::default();
    loop {
        let page = store.read_stream(&stream, record.version + 1, 100).await?;
        if page.is_empty() {
            return Ok(record);
        }
        for e in &page {
            let event = e.decode().map_err(|err| ServiceError::Unreadable {
                stream: stream.clone(),
                event_type: e.event_type.clone(),
                version: e.stream_version,
                detail: err.to_string(),
            })?;
            record.evolve(&event, e.stream_version);
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Revoked {
    pub fingerprint_sha256: String,
    /// The enrollment that claimed the certificate, if any.
    pub enrollment: Option<String>,
    /// It was revoked before this call (the call still made sure its enrollment knows).
    pub already_revoked: bool,
}

/// Revokes a device identity: recorded in `identity-<fingerprint>` first (so it can neither
/// enroll nor renew), then in the enrollment that claimed it (so its requests are refused).
/// Repeating the call finishes a revocation whose second step failed.
pub async fn revoke(
    enrollments: &Enrollments,
    fingerprint_sha256: &str,
    reason: Option<String>,
    actor: &str,
) -> Result<Revoked, ServiceError> {
    let stream = identities::stream(fingerprint_sha256);
    let mut attempts = 0;
    let (record, already_revoked) = loop {
        let record = enrollments.identity_record(fingerprint_sha256).await?;
        if record.revoked {
            break (record, true);
        }
        let expected = match record.version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        let event = IdentityRevoked {
            fingerprint_sha256: fingerprint_sha256.to_owned(),
            reason: reason.clone(),
        };
        match enrollments
            .store()
            .append(&stream, expected, vec![NewEvent::new(actor, &event)])
            .await
        {
            Ok(_) => break (record, false),
            Err(StoreError::WrongExpectedVersion { .. }) if attempts < 8 => attempts += 1,
            Err(StoreError::WrongExpectedVersion { .. }) => return Err(ServiceError::Contention(stream)),
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(key) = &record.claimed_by {
        let input = Input::Admin(AdminInput::RevokeIdentity {
            fingerprint_sha256: fingerprint_sha256.to_owned(),
            reason,
        });
        match enrollments.handle(key, input, actor, Utc::now()).await {
            // An enrollment that ended no longer accepts the certificate anyway.
            Ok(_) | Err(ServiceError::Refused(Refusal::NotAuthenticated | Refusal::CheckedOut)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Revoked {
        fingerprint_sha256: fingerprint_sha256.to_owned(),
        enrollment: record.claimed_by,
        already_revoked,
    })
}

/// Ends a device's enrollment on an admin's word (`DeviceForgotten`): its identity stops
/// working, its queue is cancelled, and a new identity may enroll for it.
pub async fn forget(
    enrollments: &Enrollments,
    enrollment: &str,
    reason: Option<String>,
    actor: &str,
) -> Result<(), ServiceError> {
    let input = Input::Admin(AdminInput::Forget { reason });
    enrollments.handle(enrollment, input, actor, Utc::now()).await.map(drop)
}

/// A certificate fingerprint as Annal writes it: 64 lowercase hex digits.
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
