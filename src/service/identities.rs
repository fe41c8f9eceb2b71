//! Admin actions on device identities: revoking a certificate (in its own stream, then in the
//! enrollment it is bound to) and forgetting a device's enrollment.

use std::sync::Arc;

use annal_schemas::events::identity::IdentityRevoked;
use annal_schemas::Event;
use bytes::Bytes;
use chrono::Utc;

use super::aggregate::{Aggregate, Decision, NoHooks, Options, Repository, RunError};
use super::enrollments::{Enrollments, ServiceError};
use crate::domain::enrollment::{AdminInput, Input, Refusal};
use crate::domain::identities::{self, ClaimRefusal, IdentityRecord};
use crate::store::EventStore;

/// What can be done to a certificate's record.
#[derive(Debug, Clone)]
pub enum IdentityCommand {
    /// `enrollment` uses the certificate: the first use claims it.
    Claim {
        enrollment: String,
        fingerprint_sha256: String,
    },
    /// An admin revokes it (again: nothing to append).
    Revoke {
        fingerprint_sha256: String,
        reason: Option<String>,
    },
}

/// The events to append, and whom the certificate belonged to when it was decided.
pub struct IdentityDecision {
    events: Vec<(Event, Option<Bytes>)>,
    claimed_by: Option<String>,
}

impl Decision for IdentityDecision {
    fn events(&self) -> &[(Event, Option<Bytes>)] {
        &self.events
    }
}

impl Aggregate for IdentityRecord {
    type Command = IdentityCommand;
    type Decision = IdentityDecision;
    type Refusal = ClaimRefusal;

    fn decide(&self, command: &IdentityCommand) -> Result<IdentityDecision, ClaimRefusal> {
        let event: Option<Event> = match command {
            IdentityCommand::Claim {
                enrollment,
                fingerprint_sha256,
            } => self.decide_claim(enrollment, fingerprint_sha256)?.map(Event::from),
            IdentityCommand::Revoke { .. } if self.revoked => None,
            IdentityCommand::Revoke {
                fingerprint_sha256,
                reason,
            } => Some(Event::from(IdentityRevoked {
                fingerprint_sha256: fingerprint_sha256.clone(),
                reason: reason.clone(),
            })),
        };
        Ok(IdentityDecision {
            events: event.map(|e| (e, None)).into_iter().collect(),
            claimed_by: self.claimed_by.clone(),
        })
    }

    fn evolve(&mut self, event: &Event, _raw: Option<&[u8]>) {
        // A stream's versions are dense: the runner folds them in order from 1.
        IdentityRecord::evolve(self, event, self.version + 1)
    }
}

/// Certificates' streams: read fresh on every use (a claim or a revocation on another node
/// must count at once), so nothing is cached.
pub fn repository(store: Arc<dyn EventStore>) -> Repository<IdentityRecord> {
    Repository::new(store, Options::default())
}

fn service_error(e: RunError<ClaimRefusal>) -> ServiceError {
    match e {
        RunError::Refused(ClaimRefusal::InUse) => RunError::Refused(Refusal::IdentityInUse),
        RunError::Refused(ClaimRefusal::Revoked) => RunError::Refused(Refusal::IdentityRevoked),
        RunError::Store(e) => RunError::Store(e),
        RunError::Unreadable {
            stream,
            event_type,
            version,
            detail,
        } => RunError::Unreadable {
            stream,
            event_type,
            version,
            detail,
        },
        RunError::Prepare(detail) => RunError::Prepare(detail),
        RunError::Contention(stream) => RunError::Contention(stream),
    }
}

/// A certificate's stream (`identity-<fingerprint>`), folded.
pub async fn read_record(
    identities: &Repository<IdentityRecord>,
    fingerprint: &str,
) -> Result<IdentityRecord, ServiceError> {
    let loaded = identities
        .load(&identities::stream(fingerprint))
        .await
        .map_err(service_error)?;
    Ok(loaded.state)
}

/// A certificate belongs to one enrollment, ever: the first Authenticate or rotation with it
/// claims it (in the stream `identity-<fingerprint>`, appended at the version read, so two
/// enrollments racing for one certificate on two nodes cannot both win).
pub async fn claim(
    identities: &Repository<IdentityRecord>,
    enrollment: &str,
    fingerprint: &str,
    actor: &str,
) -> Result<(), ServiceError> {
    let command = IdentityCommand::Claim {
        enrollment: enrollment.to_owned(),
        fingerprint_sha256: fingerprint.to_owned(),
    };
    identities
        .run(&identities::stream(fingerprint), &command, actor, &NoHooks)
        .await
        .map(drop)
        .map_err(service_error)
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
    let command = IdentityCommand::Revoke {
        fingerprint_sha256: fingerprint_sha256.to_owned(),
        reason: reason.clone(),
    };
    let stream = identities::stream(fingerprint_sha256);
    let (decision, ()) = enrollments
        .identities()
        .run(&stream, &command, actor, &NoHooks)
        .await
        .map_err(service_error)?;
    let already_revoked = decision.events.is_empty();
    let claimed_by = decision.claimed_by;
    if let Some(key) = &claimed_by {
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
        enrollment: claimed_by,
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
