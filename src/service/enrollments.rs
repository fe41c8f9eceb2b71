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

use annal_schemas::events::identity::IdentityClaimed;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, NewEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::enrollment::{
    decide, stream_name, AdminInput, DeviceInput, Enrollment, Input, Outcome, Phase, Refusal,
};
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
}

impl Enrollments {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
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
        if let Input::Device {
            input: message,
            identity,
            ..
        } = &input
        {
            if matches!(**message, DeviceInput::Authenticate(_)) && identity.proof != "insecure" {
                self.claim_identity(key, &identity.certificate.fingerprint_sha256, actor)
                    .await?;
            }
        }
        let mut input = input;
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
            // A user channel's first TokenUpdate binds it if it comes from the identity of its
            // device channel: the domain needs that identity to decide.
            if device_enrolled && matches!(current.state.phase, Phase::Unknown | Phase::CheckedOut) {
                *parent = device_channel.identity;
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let decided = decide(&current.state, input.clone(), now);
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

    /// A certificate belongs to one enrollment: the first Authenticate with it claims it (in
    /// the stream `identity-<fingerprint>`, written only if it does not exist yet, so two
    /// enrollments racing for one certificate on two nodes cannot both win).
    async fn claim_identity(&self, key: &str, fingerprint: &str, actor: &str) -> Result<(), ServiceError> {
        let stream = format!("identity-{fingerprint}");
        for _ in 0..MAX_ATTEMPTS {
            if let Some(claim) = self.store.read_stream(&stream, 1, 1).await?.first() {
                return match claim.decode() {
                    Ok(Event::IdentityClaimed(c)) if c.enrollment == key => Ok(()),
                    Ok(_) => Err(Refusal::IdentityInUse.into()),
                    Err(e) => Err(ServiceError::Unreadable {
                        stream: stream.clone(),
                        event_type: claim.event_type.clone(),
                        version: claim.stream_version,
                        detail: e.to_string(),
                    }),
                };
            }
            let claimed = IdentityClaimed {
                fingerprint_sha256: fingerprint.to_string(),
                enrollment: key.to_string(),
            };
            match self
                .store
                .append(&stream, ExpectedVersion::NoStream, vec![NewEvent::new(actor, &claimed)])
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contention(stream))
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
