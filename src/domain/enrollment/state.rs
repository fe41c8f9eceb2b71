//! The enrollment's state and `evolve`, the fold of its events.

use std::collections::HashMap;
use std::sync::Arc;

use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::{Event, Sealed};
use chrono::{DateTime, Utc};

use annal_schemas::ddm::synced_token;
pub use annal_schemas::ddm::SYNC_COMMAND_PREFIX as DDM_COMMAND_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// No Authenticate yet.
    #[default]
    Unknown,
    /// Authenticate received; waiting for the first TokenUpdate.
    Authenticated,
    /// TokenUpdate received: the device can be pushed and managed.
    Enrolled,
    CheckedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundIdentity {
    pub fingerprint_sha256: String,
    pub subject: String,
    pub issuer: String,
}

impl From<&CertificateInfo> for BoundIdentity {
    fn from(c: &CertificateInfo) -> Self {
        Self {
            fingerprint_sha256: c.fingerprint_sha256.clone(),
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
        }
    }
}

/// A command waiting for the device's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub command_uuid: String,
    pub request_type: String,
    /// The command plist as queued (the sealed JSON when `sealed`).
    pub payload: Arc<[u8]>,
    pub sealed: bool,
    /// For a sealed command: the identity it may be delivered to.
    pub identity: Option<String>,
    pub deliveries: u32,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrollment {
    pub generation: u64,
    pub phase: Phase,
    pub identity: Option<BoundIdentity>,
    pub topic: Option<String>,
    pub token_hex: Option<String>,
    pub push_magic: Option<Sealed>,
    /// APNs declared the token dead (Unregistered, BadDeviceToken); the next TokenUpdate clears it.
    pub token_dead: bool,
    pub unlock_token: Option<Sealed>,
    pub bootstrap_token: Option<Sealed>,
    pub queue: Vec<Pending>,
    /// Commands answered NotNow in the current command-channel session.
    pub skipped: Vec<String>,
    /// Idempotency keys of this generation's enqueues.
    pub idempotency: HashMap<String, String>,
    /// The SerialNumber of the last Authenticate.
    pub serial_number: Option<String>,
    /// The device acknowledged an EraseDevice: this enrollment is over.
    pub erased: bool,
    /// An admin revoked the bound identity.
    pub identity_revoked: bool,
    /// TokenUpdates since the enrollment began (its Authenticate, or for a user channel its
    /// first TokenUpdate after a checkout).
    pub token_updates: u64,
    /// The DeclarationsToken of the last DeclarativeManagement sync queued in this generation.
    pub ddm_token: Option<String>,
}

impl Enrollment {
    /// Folds one event (with its raw bytes, which hold a queued command's plist).
    pub fn evolve(&mut self, event: &Event, raw: Option<&[u8]>) {
        match event {
            Event::Authenticate(e) => {
                *self = Enrollment {
                    generation: e.generation,
                    phase: Phase::Authenticated,
                    topic: Some(e.topic.clone()),
                    identity: self.identity.take(),
                    serial_number: e.serial_number.clone(),
                    identity_revoked: self.identity_revoked,
                    ..Enrollment::default()
                };
            }
            Event::IdentityBound(e) => {
                self.identity = Some(BoundIdentity::from(&e.certificate));
                self.identity_revoked = false;
            }
            Event::IdentityRotated(e) => {
                self.identity = Some(BoundIdentity::from(&e.certificate));
                self.identity_revoked = false;
            }
            Event::IdentityRevoked(e) if self.is_bound(&e.fingerprint_sha256) => self.identity_revoked = true,
            Event::DeviceForgotten(_) => {
                self.phase = Phase::CheckedOut;
                self.ddm_token = None;
                self.token_hex = None;
                self.push_magic = None;
                self.token_updates = 0;
            }
            Event::TokenUpdate(e) => {
                self.phase = Phase::Enrolled;
                // A user channel has no Authenticate: its TokenUpdate names its topic.
                if self.topic.is_none() {
                    self.topic = Some(e.topic.clone());
                }
                self.token_hex = Some(e.token_hex.clone());
                self.push_magic = Some(e.push_magic.clone());
                self.token_dead = false;
                self.token_updates += 1;
                // Devices send UnlockToken in their first TokenUpdate only; later ones keep it.
                if e.unlock_token.is_some() {
                    self.unlock_token = e.unlock_token.clone();
                }
            }
            Event::CheckOut(_) => {
                self.phase = Phase::CheckedOut;
                // A user channel reopens with a TokenUpdate, not an Authenticate: given nothing.
                self.ddm_token = None;
                self.token_hex = None;
                self.push_magic = None;
                self.token_updates = 0;
            }
            Event::PushFailed(e) if e.token_dead => self.token_dead = true,
            Event::SetBootstrapToken(e) => self.bootstrap_token = e.bootstrap_token.clone(),
            Event::Idle(_) => self.skipped.clear(),
            Event::CommandQueued(e) => {
                if let Some(key) = &e.idempotency_key {
                    self.idempotency.insert(key.clone(), e.command_uuid.clone());
                }
                if e.request_type == "DeclarativeManagement" {
                    if let Some(token) = synced_token(&e.command_uuid) {
                        self.ddm_token = Some(token.to_string());
                    }
                }
                self.queue.push(Pending {
                    command_uuid: e.command_uuid.clone(),
                    request_type: e.request_type.clone(),
                    payload: Arc::from(raw.unwrap_or_default()),
                    sealed: e.raw_sealed,
                    identity: e.identity_fingerprint_sha256.clone(),
                    deliveries: 0,
                    expires_at: e.expires_at,
                });
            }
            Event::CommandDelivered(e) => {
                if let Some(p) = self.pending_mut(&e.command_uuid) {
                    p.deliveries = e.attempt;
                }
            }
            Event::CommandNotNow(e) if !self.skipped.contains(&e.command_uuid) => {
                self.skipped.push(e.command_uuid.clone());
            }
            Event::CommandAcknowledged(e) => {
                // The request type as queued: the device's answer does not get to say it erased.
                if self
                    .pending(&e.command_uuid)
                    .is_some_and(|p| p.request_type == "EraseDevice")
                {
                    self.erased = true;
                }
                self.complete(&e.command_uuid)
            }
            Event::CommandErrored(e) => self.complete(&e.command_uuid),
            Event::CommandFormatError(e) => self.complete(&e.command_uuid),
            Event::CommandCancelled(e) => {
                // A sync cancelled (but for a newer one) or expired was not given: the next
                // pass gives it again. One the device answered with an error stays given, so
                // a device that cannot do DDM is not asked again and again.
                if e.reason != annal_schemas::events::command::CancelReason::Superseded {
                    self.forget_sync(&e.command_uuid);
                }
                self.complete(&e.command_uuid)
            }
            Event::CommandExpired(e) => {
                self.forget_sync(&e.command_uuid);
                self.complete(&e.command_uuid)
            }
            _ => {}
        }
    }

    /// Forgets the sync given, if `command_uuid` is it.
    fn forget_sync(&mut self, command_uuid: &str) {
        let given = synced_token(command_uuid);
        if given.is_some() && given == self.ddm_token.as_deref() {
            self.ddm_token = None;
        }
    }

    fn is_bound(&self, fingerprint_sha256: &str) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|i| i.fingerprint_sha256 == fingerprint_sha256)
    }

    pub fn pending(&self, command_uuid: &str) -> Option<&Pending> {
        self.queue.iter().find(|p| p.command_uuid == command_uuid)
    }

    fn pending_mut(&mut self, command_uuid: &str) -> Option<&mut Pending> {
        self.queue.iter_mut().find(|p| p.command_uuid == command_uuid)
    }

    fn complete(&mut self, command_uuid: &str) {
        self.queue.retain(|p| p.command_uuid != command_uuid);
        self.skipped.retain(|u| u != command_uuid);
    }

    /// The command to hand the device now: the oldest pending one not skipped this session.
    pub fn next_command(&self) -> Option<&Pending> {
        self.queue.iter().find(|p| !self.skipped.contains(&p.command_uuid))
    }
}
