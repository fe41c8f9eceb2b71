//! Serving enrollments: load state (from a per-process cache, checked against the stream
//! version by the append itself), `decide`, append with the expected version, answer.
//!
//! Two nodes on one PostgreSQL log may serve the same device: each decides on the state it
//! has, and the append's expected-version check lets only one decision per version land. The
//! other gets a conflict, catches up from the log and decides again, so a device is never
//! handed two different "next" commands.

use std::sync::Arc;

use annal_schemas::events::identity::EnrollmentRefused;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, NewEvent};
use chrono::{DateTime, Utc};

use super::aggregate::{Aggregate, Decision, Hooks, Loaded, Options, Repository, RunError};
use crate::domain::enrollment::{
    decide_with, stream_name, AdminInput, DeviceInput, Enrollment, Input, Outcome, Phase, Reenrollment, Refusal,
    Vouched, MIGRATION_PROOF,
};
use crate::domain::identities::{ClaimRefusal, IdentityRecord};
use crate::store::{EventStore, ExpectedVersion};

const SHARDS: usize = 64;
const MAX_ATTEMPTS: usize = 8;
/// Enrollments cached per shard. The cache saves re-reading a stream on each request from a
/// busy device; a fleet of millions must not keep every one in memory, so past this an
/// arbitrary entry makes room (a miss only costs reading that stream again).
const CACHED_PER_SHARD: usize = 1024;

/// A refusal is the domain's answer; the other variants are failures of the runner.
pub type ServiceError = RunError<Refusal>;

/// One input to decide, with the time and the re-enrollment policy it is decided under.
#[derive(Debug, Clone)]
pub struct EnrollmentCommand {
    pub input: Input,
    pub now: DateTime<Utc>,
    pub reenrollment: Reenrollment,
}

impl Aggregate for Enrollment {
    type Command = EnrollmentCommand;
    type Decision = Outcome;
    type Refusal = Refusal;

    fn decide(&self, command: &EnrollmentCommand) -> Result<Outcome, Refusal> {
        decide_with(self, command.input.clone(), command.now, command.reenrollment)
    }

    fn evolve(&mut self, event: &Event, raw: Option<&[u8]>) {
        Enrollment::evolve(self, event, raw)
    }
}

impl Decision for Outcome {
    fn events(&self) -> &[(Event, Option<bytes::Bytes>)] {
        &self.events
    }
}

/// Around an enrollment decision: the caller's answer is made first, and a certificate the
/// decision binds is claimed before anything is appended.
struct Around<'a, F> {
    enrollments: &'a Enrollments,
    key: &'a str,
    claim: Option<String>,
    actor: &'a str,
    prepare: F,
}

impl<T: Send, F: Fn(&Outcome) -> Result<T, String> + Sync> Hooks<Enrollment> for Around<'_, F> {
    type Prepared = T;

    fn prepare(&self, outcome: &Outcome) -> Result<T, String> {
        (self.prepare)(outcome)
    }

    async fn before_append(&self, outcome: &Outcome) -> Result<(), ServiceError> {
        let Some(fingerprint) = &self.claim else {
            return Ok(());
        };
        let binds = outcome
            .events
            .iter()
            .any(|(e, _)| matches!(e, Event::IdentityBound(_) | Event::IdentityRotated(_)));
        if binds {
            self.enrollments
                .claim_identity(self.key, fingerprint, self.actor)
                .await?;
        }
        Ok(())
    }
}

pub struct Enrollments {
    repository: Repository<Enrollment>,
    identities: Repository<IdentityRecord>,
    reenrollment: Reenrollment,
    migration_claims: bool,
}

impl Enrollments {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        let options = Options {
            cache: Some((SHARDS, CACHED_PER_SHARD)),
            max_attempts: MAX_ATTEMPTS,
            confirm_unappended: true,
            correlate: true,
            ..Options::default()
        };
        Self {
            identities: super::identities::repository(store.clone()),
            repository: Repository::new(store, options),
            reenrollment: Reenrollment::Guarded,
            migration_claims: false,
        }
    }

    /// `--migration`: an enrollment replayed through `/migration` (no certificate) is claimed
    /// by the first certificate from an external CA that speaks for it and belongs to no other
    /// enrollment. Off, such an enrollment refuses every certificate.
    pub fn with_migration_claims(mut self, accept: bool) -> Self {
        self.migration_claims = accept;
        self
    }

    /// Whether `/migration` is on (it is with the claims: one without the other is useless).
    pub fn accepts_migration(&self) -> bool {
        self.migration_claims
    }

    /// `--reenrollment`: whether a device enrolled under one identity may re-enroll under any other.
    pub fn with_reenrollment(mut self, reenrollment: Reenrollment) -> Self {
        self.reenrollment = reenrollment;
        self
    }

    /// Decides `input` for the enrollment `key` and appends the events; returns the outcome
    /// once the events are durable.
    pub async fn handle(
        &self,
        key: &str,
        input: Input,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ServiceError> {
        self.handle_preparing(key, input, actor, now, |_| Ok(()))
            .await
            .map(|(outcome, ())| outcome)
    }

    /// As `handle`, with `prepare` turning the decision into the answer *before* its events are
    /// appended: an answer that cannot be made (a sealed command this node cannot open) must
    /// not be recorded as delivered. A `prepare` error appends nothing.
    pub async fn handle_preparing<T: Send>(
        &self,
        key: &str,
        input: Input,
        actor: &str,
        now: DateTime<Utc>,
        prepare: impl Fn(&Outcome) -> Result<T, String> + Sync,
    ) -> Result<(Outcome, T), ServiceError> {
        let stream = stream_name(key);
        let current = match self.repository.cached(&stream) {
            Some(c) => c,
            None => self.repository.catch_up(&stream, Loaded::default()).await?,
        };
        let mut input = input;
        // A certificate other than the bound one: what the log says about it decides (a
        // renewal of the bound one, a challenge bound to this device), and it must be claimed
        // by this enrollment before anything it asks for is appended.
        let claim = self.vouch(key, &mut input, &current.state).await?;
        if let (
            Input::Device {
                parent,
                device,
                identity,
                ..
            },
            Some((device_key, _)),
        ) = (&mut input, key.split_once(':'))
        {
            // A user channel lives only while its device channel is enrolled.
            let (device_channel, _) = self.state(device_key).await?;
            let device_enrolled = matches!(device_channel.phase, Phase::Authenticated | Phase::Enrolled);
            if !device_enrolled && matches!(current.state.phase, Phase::Authenticated | Phase::Enrolled) {
                // Its device channel ended, and ending this one was missed (the node stopped
                // in between, or the read model had not seen this channel yet): end it now,
                // and refuse the request as the device channel's would be.
                let end = Input::Admin(AdminInput::EndUserChannel {
                    device: device.clone(),
                    identity: IdentityRef {
                        fingerprint_sha256: identity.certificate.fingerprint_sha256.clone(),
                        proof: identity.proof.to_string(),
                        url_params: identity.url_params.clone(),
                    },
                });
                Box::pin(self.handle(key, end, actor, now)).await?;
                return Err(RunError::Refused(Refusal::CheckedOut));
            }
            // A user channel speaks with its device's identity: revoked there, refused here,
            // whatever this node's cached phase of the user channel says (a stale one is
            // decided again on the log's, after this check).
            let same = device_channel.identity.as_ref().map(|i| i.fingerprint_sha256.as_str())
                == Some(identity.certificate.fingerprint_sha256.as_str());
            if same && device_channel.identity_revoked && identity.proof != "insecure" {
                return Err(RunError::Refused(Refusal::IdentityRevoked));
            }
            if matches!(current.state.phase, Phase::Unknown | Phase::CheckedOut) {
                // A user channel's first TokenUpdate binds it if it comes from the identity of
                // its device channel: the domain needs that identity to decide.
                if device_enrolled && !device_channel.identity_revoked {
                    *parent = device_channel.identity;
                }
            }
        }
        let command = EnrollmentCommand {
            input,
            now,
            reenrollment: self.reenrollment,
        };
        let around = Around {
            enrollments: self,
            key,
            claim,
            actor,
            prepare,
        };
        let result = self
            .repository
            .run_from(&stream, current, &command, actor, &around)
            .await;
        if let Err(RunError::Refused(Refusal::Reenrollment { enrolled })) = &result {
            // Confirmed against the log by the runner before it refused.
            self.record_refusal(key, &command.input, enrolled, actor).await;
        }
        result
    }

    /// Ends each of `user_channels` (enrollment keys `<device>:<user>`) after their device
    /// channel checked out or enrolled again, as NanoMDM does: each gets a `CheckOut` marked
    /// `with_device_channel` and its queue cancelled. Already ended ones are left as they are.
    pub async fn end_user_channels(
        &self,
        device: &DeviceRef,
        user_channels: &[String],
        identity: &IdentityRef,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        for key in user_channels {
            let user = key.split_once(':').map(|(_, user)| user.to_string());
            // User Enrollment names its channels by EnrollmentID and EnrollmentUserID.
            let by_enrollment_id = device.udid.is_none() && device.enrollment_id.is_some();
            let input = Input::Admin(AdminInput::EndUserChannel {
                device: DeviceRef {
                    user_id: if by_enrollment_id { None } else { user.clone() },
                    enrollment_user_id: if by_enrollment_id { user } else { None },
                    ..device.clone()
                },
                identity: identity.clone(),
            });
            self.handle(key, input, actor, now).await?;
        }
        Ok(())
    }

    /// Fills in what the log says about a presented certificate the enrollment is not bound to
    /// (every Authenticate, and a possible rotation), refusing a revoked one or one another
    /// enrollment claimed. Returns the fingerprint to claim once the decision binds it.
    async fn vouch(&self, key: &str, input: &mut Input, state: &Enrollment) -> Result<Option<String>, ServiceError> {
        let Input::Device {
            input: message,
            identity,
            ..
        } = input
        else {
            return Ok(None);
        };
        // Nothing to claim: no certificate was presented.
        if identity.proof == "insecure" || identity.proof == MIGRATION_PROOF {
            return Ok(None);
        }
        let fingerprint = identity.certificate.fingerprint_sha256.clone();
        let authenticate = matches!(**message, DeviceInput::Authenticate(_));
        let bound = state.identity.as_ref().map(|b| b.fingerprint_sha256.as_str());
        // A user channel is bound through its device channel (the parent's identity); it
        // claims nothing itself.
        if !authenticate && (key.contains(':') || bound.is_none() || bound == Some(fingerprint.as_str())) {
            return Ok(None);
        }
        let record = self.identity_record(&fingerprint).await?;
        record.decide_claim(key, &fingerprint).map_err(|r| {
            RunError::Refused(match r {
                ClaimRefusal::InUse => Refusal::IdentityInUse,
                ClaimRefusal::Revoked => Refusal::IdentityRevoked,
            })
        })?;
        if let Some(issued) = record.issued {
            identity.vouched = Vouched {
                renewal_of: issued.renewal_of,
                udid: issued.udid,
                serial_number: issued.serial_number,
                admin_bound: issued.admin_bound,
                migration_claim: false,
            };
        }
        // Annal's own certificates are out: anyone with an enrollment token can get one.
        identity.vouched.migration_claim = self.migration_claims && bound == Some("") && !identity.issued_by_annal;
        Ok(Some(fingerprint))
    }

    /// The certificate's stream, folded.
    pub async fn identity_record(&self, fingerprint: &str) -> Result<IdentityRecord, ServiceError> {
        super::identities::read_record(&self.identities, fingerprint).await
    }

    /// Certificates' streams, read fresh every time.
    pub fn identities(&self) -> &Repository<IdentityRecord> {
        &self.identities
    }

    async fn claim_identity(&self, key: &str, fingerprint: &str, actor: &str) -> Result<(), ServiceError> {
        super::identities::claim(&self.identities, key, fingerprint, actor).await
    }

    /// A refused re-enrollment is evidence of an attempt on a device: kept, in its own stream
    /// (`refused-<enrollment>`) so it cannot touch the enrollment, logged and counted. Failing
    /// to record it does not change the answer (403).
    async fn record_refusal(&self, key: &str, input: &Input, enrolled: &str, actor: &str) {
        let Input::Device { device, identity, .. } = input else {
            return;
        };
        let refused = EnrollmentRefused {
            enrollment: key.to_owned(),
            udid: device.udid.clone(),
            fingerprint_sha256: identity.certificate.fingerprint_sha256.clone(),
            bound_fingerprint_sha256: Some(enrolled.to_owned()),
            reason: Refusal::Reenrollment {
                enrolled: enrolled.to_owned(),
            }
            .to_string(),
        };
        tracing::warn!(enrollment = %key, fingerprint = %refused.fingerprint_sha256, bound = %enrolled, %actor, "re-enrollment under another identity refused");
        metrics::counter!("annal_enrollments_refused_total", "reason" => "reenrollment").increment(1);
        let stream = format!("refused-{key}");
        if let Err(e) = self
            .repository
            .store()
            .append(&stream, ExpectedVersion::Any, vec![NewEvent::new(actor, &refused)])
            .await
        {
            tracing::warn!(error = %e, enrollment = %key, "recording a refused enrollment");
        }
    }

    /// The enrollment's current state, read through the cache.
    pub async fn state(&self, key: &str) -> Result<(Enrollment, u64), ServiceError> {
        let loaded = self.repository.load(&stream_name(key)).await?;
        Ok((loaded.state, loaded.version))
    }
}
