//! Serving enrollments: load state (from a per-process cache, checked against the stream
//! version by the append itself), `decide`, append with the expected version, answer.
//!
//! Two nodes on one PostgreSQL log may serve the same device: each decides on the state it
//! has, and the append's expected-version check lets only one decision per version land. The
//! other gets a conflict, catches up from the log and decides again, so a device is never
//! handed two different "next" commands.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use annal_schemas::events::identity::EnrollmentRefused;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, NewEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::enrollment::{
    decide_with, stream_name, AdminInput, DeviceInput, Enrollment, Input, Outcome, Phase, Reenrollment, Refusal,
    Vouched,
};
use crate::domain::identities::{self, ClaimRefusal, IdentityRecord};
use crate::store::{EventStore, ExpectedVersion, StoreError};

const SHARDS: usize = 64;
const MAX_ATTEMPTS: usize = 8;
/// Enrollments cached per shard. The cache saves re-reading a stream on each request from a
/// busy device; a fleet of millions must not keep every one in memory, so past this an
/// arbitrary entry makes room (a miss only costs reading that stream again).
const CACHED_PER_SHARD: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {event_type} v{version} in {stream} cannot be read: {detail}")]
    Unreadable {
        stream: String,
        event_type: String,
        version: u64,
        detail: String,
    },
    #[error("the answer could not be made: {0}")]
    Reply(String),
    #[error("too much contention on {0}; try again")]
    Contention(String),
}

#[derive(Clone)]
struct Cached {
    state: Enrollment,
    version: u64,
}

pub struct Enrollments {
    store: Arc<dyn EventStore>,
    shards: Vec<Mutex<HashMap<String, Cached>>>,
    hasher: std::collections::hash_map::RandomState,
    reenrollment: Reenrollment,
}

impl Enrollments {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
            reenrollment: Reenrollment::Guarded,
        }
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
        self.handle_prepared(key, input, actor, now, |_| Ok(()))
            .await
            .map(|(outcome, ())| outcome)
    }

    /// As `handle`, with `prepare` turning the decision into the answer *before* its events are
    /// appended: an answer that cannot be made (a sealed command this node cannot open) must
    /// not be recorded as delivered. A `prepare` error appends nothing.
    pub async fn handle_prepared<T>(
        &self,
        key: &str,
        input: Input,
        actor: &str,
        now: DateTime<Utc>,
        prepare: impl Fn(&Outcome) -> Result<T, String>,
    ) -> Result<(Outcome, T), ServiceError> {
        let stream = stream_name(key);
        let correlation = Uuid::now_v7();
        let mut current = match self.cached(&stream) {
            Some(c) => c,
            None => {
                self.catch_up(
                    &stream,
                    Cached {
                        state: Enrollment::default(),
                        version: 0,
                    },
                )
                .await?
            }
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
                    },
                });
                Box::pin(self.handle(key, end, actor, now)).await?;
                return Err(Refusal::CheckedOut.into());
            }
            if matches!(current.state.phase, Phase::Unknown | Phase::CheckedOut) {
                // A user channel's first TokenUpdate binds it if it comes from the identity of
                // its device channel: the domain needs that identity to decide.
                if device_enrolled && !device_channel.identity_revoked {
                    *parent = device_channel.identity;
                }
            } else if identity.proof != "insecure" {
                // A user channel speaks with its device's identity: revoked there, refused here.
                let same = device_channel.identity.as_ref().map(|i| i.fingerprint_sha256.as_str())
                    == Some(identity.certificate.fingerprint_sha256.as_str());
                if same && device_channel.identity_revoked {
                    return Err(Refusal::IdentityRevoked.into());
                }
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let decided = decide_with(&current.state, input.clone(), now, self.reenrollment);
            if let Err(Refusal::Reenrollment { enrolled }) = &decided {
                let fresh = self.catch_up(&stream, current.clone()).await?;
                if fresh.version != current.version {
                    current = fresh;
                    continue;
                }
                self.record_refusal(key, &input, enrolled, actor).await;
            }
            // A refusal, or an answer that appends nothing, is not checked by an append: on a
            // shared log another node may have moved the enrollment on (an Authenticate, a new
            // identity). Trust it only once the cache has caught up with the log.
            let appends_nothing = decided.as_ref().map_or(true, |o| o.events.is_empty());
            if appends_nothing {
                let fresh = self.catch_up(&stream, current.clone()).await?;
                if fresh.version != current.version {
                    current = fresh;
                    continue;
                }
                let outcome = decided?;
                let prepared = prepare(&outcome).map_err(ServiceError::Reply)?;
                return Ok((outcome, prepared));
            }
            let outcome = decided?;
            let prepared = prepare(&outcome).map_err(ServiceError::Reply)?;
            if let Some(fingerprint) = &claim {
                let binds = outcome
                    .events
                    .iter()
                    .any(|(e, _)| matches!(e, Event::IdentityBound(_) | Event::IdentityRotated(_)));
                if binds {
                    self.claim_identity(key, fingerprint, actor).await?;
                }
            }
            let events: Vec<NewEvent> = outcome
                .events
                .iter()
                .map(|(event, raw)| NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: event.event_type().to_string(),
                    schema_version: event.schema_version(),
                    actor: actor.to_string(),
                    correlation_id: Some(correlation),
                    causation_id: None,
                    data: event.to_data(),
                    raw: raw.clone(),
                })
                .collect();
            let expected = if current.version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(current.version)
            };
            match self.store.append(&stream, expected, events).await {
                Ok(result) => {
                    for (event, raw) in &outcome.events {
                        current.state.evolve(event, raw.as_deref());
                    }
                    current.version = result.stream_version;
                    self.remember(&stream, current);
                    return Ok((outcome, prepared));
                }
                // Another request (here or on another node) appended first: catch up, decide again.
                Err(StoreError::WrongExpectedVersion { .. }) => current = self.catch_up(&stream, current).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contention(stream))
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
        if identity.proof == "insecure" {
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
        record.decide_claim(key, &fingerprint).map_err(|r| match r {
            ClaimRefusal::InUse => Refusal::IdentityInUse,
            ClaimRefusal::Revoked => Refusal::IdentityRevoked,
        })?;
        if let Some(issued) = record.issued {
            identity.vouched = Vouched {
                renewal_of: issued.renewal_of,
                udid: issued.udid,
                serial_number: issued.serial_number,
                admin_bound: issued.admin_bound,
            };
        }
        Ok(Some(fingerprint))
    }

    /// The certificate's stream, folded.
    pub async fn identity_record(&self, fingerprint: &str) -> Result<IdentityRecord, ServiceError> {
        super::identities::read_record(self.store.as_ref(), fingerprint).await
    }

    /// A certificate belongs to one enrollment, ever: the first Authenticate or rotation with it
    /// claims it (in the stream `identity-<fingerprint>`, appended at the version read, so two
    /// enrollments racing for one certificate on two nodes cannot both win).
    async fn claim_identity(&self, key: &str, fingerprint: &str, actor: &str) -> Result<(), ServiceError> {
        let stream = identities::stream(fingerprint);
        for _ in 0..MAX_ATTEMPTS {
            let record = self.identity_record(fingerprint).await?;
            let claimed = match record.decide_claim(key, fingerprint) {
                Ok(Some(claimed)) => claimed,
                Ok(None) => return Ok(()),
                Err(ClaimRefusal::InUse) => return Err(Refusal::IdentityInUse.into()),
                Err(ClaimRefusal::Revoked) => return Err(Refusal::IdentityRevoked.into()),
            };
            let expected = match record.version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            match self
                .store
                .append(&stream, expected, vec![NewEvent::new(actor, &claimed)])
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contention(stream))
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
            .store
            .append(&stream, ExpectedVersion::Any, vec![NewEvent::new(actor, &refused)])
            .await
        {
            tracing::warn!(error = %e, enrollment = %key, "recording a refused enrollment");
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The enrollment's current state, read through the cache.
    pub async fn state(&self, key: &str) -> Result<(Enrollment, u64), ServiceError> {
        let stream = stream_name(key);
        let cached = match self.cached(&stream) {
            Some(c) => c,
            None => Cached {
                state: Enrollment::default(),
                version: 0,
            },
        };
        let fresh = self.catch_up(&stream, cached).await?;
        Ok((fresh.state, fresh.version))
    }

    async fn catch_up(&self, stream: &str, mut cached: Cached) -> Result<Cached, ServiceError> {
        loop {
            let page = self.store.read_stream(stream, cached.version + 1, 1000).await?;
            let Some(last) = page.last().map(|e| e.stream_version) else {
                break;
            };
            for e in &page {
                apply(&mut cached.state, e)?;
            }
            cached.version = last;
        }
        self.remember(stream, cached.clone());
        Ok(cached)
    }

    fn shard(&self, stream: &str) -> &Mutex<HashMap<String, Cached>> {
        &self.shards[(self.hasher.hash_one(stream) as usize) % SHARDS]
    }

    fn cached(&self, stream: &str) -> Option<Cached> {
        self.shard(stream).lock().ok()?.get(stream).cloned()
    }

    fn remember(&self, stream: &str, cached: Cached) {
        // An enrollment with no events is not worth keeping: caching every stream a request
        // names would let any certificate holder grow this map with made-up UDIDs.
        if cached.version == 0 {
            return;
        }
        if let Ok(mut shard) = self.shard(stream).lock() {
            // A concurrent request may have stored a newer version already: keep the newest.
            match shard.get(stream) {
                Some(existing) if existing.version >= cached.version => {}
                Some(_) => {
                    shard.insert(stream.to_string(), cached);
                }
                None => {
                    if shard.len() >= CACHED_PER_SHARD {
                        let victim = shard.keys().next().cloned();
                        if let Some(victim) = victim {
                            shard.remove(&victim);
                        }
                    }
                    shard.insert(stream.to_string(), cached);
                }
            }
        }
    }
}

fn apply(state: &mut Enrollment, e: &RecordedEvent) -> Result<(), ServiceError> {
    let event = e.decode().map_err(|err| ServiceError::Unreadable {
        stream: e.stream.clone(),
        event_type: e.event_type.clone(),
        version: e.stream_version,
        detail: err.to_string(),
    })?;
    state.evolve(&event, e.raw.as_deref());
    Ok(())
}
