//! Device inventory: one document per enrollment (device or user channel) with its identifiers,
//! hardware and OS as last reported, enrollment state, when it was last seen, and the latest
//! DeviceInformation and SecurityInfo answers.

mod compact;
pub mod ddm;
mod fold;
pub(crate) mod ids;
mod query;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::docs::DocStore;
use crate::{Change, Page, ProjectionError};
use compact::DeviceDoc;

pub use ddm::{DdmStatus, DeclarationStatus, StatusItems};
pub use query::DeviceFilter;

/// Which channel an enrollment is: the device itself, or a macOS user on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Device,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Authenticate seen, no TokenUpdate yet: the device cannot be pushed.
    Authenticated,
    /// TokenUpdate seen: pushable and managed.
    Enrolled,
    /// The MDM profile was removed.
    CheckedOut,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Authenticated => "authenticated",
            DeviceState::Enrolled => "enrolled",
            DeviceState::CheckedOut => "checked_out",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The enrollment key: UDID, EnrollmentID, or `<device>:<user>` for a user channel.
    pub enrollment: String,
    pub udid: Option<String>,
    pub enrollment_id: Option<String>,
    /// `UserID` (or `EnrollmentUserID`) of a user channel.
    pub user_id: Option<String>,
    pub channel: Channel,
    pub serial_number: Option<String>,
    pub imei: Option<String>,
    pub meid: Option<String>,
    pub model: Option<String>,
    pub model_name: Option<String>,
    pub product_name: Option<String>,
    pub device_name: Option<String>,
    pub os_version: Option<String>,
    pub build_version: Option<String>,
    /// The push topic (the push certificate's UID).
    pub topic: Option<String>,
    pub state: DeviceState,
    pub generation: u64,
    /// Hex SHA-256 of the identity certificate bound to the enrollment.
    pub identity_fingerprint: Option<String>,
    /// That certificate's issuer, serial and expiry (what a CA rotation is checked with);
    /// `None` until an IdentityBound names it.
    #[serde(default)]
    pub identity_certificate: Option<IdentityCertificate>,
    /// When the current generation completed enrollment (its first TokenUpdate).
    pub enrolled_at: Option<DateTime<Utc>>,
    /// The last message from the device, Idle polls included.
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_seen_position: Option<u64>,
    /// APNs said the push token is dead (Unregistered, BadDeviceToken); a TokenUpdate clears it.
    pub token_dead: bool,
    /// The latest TokenUpdate named another push topic than the enrollment's Authenticate (the
    /// device cannot be woken with the certificate it enrolled for; `topic` stays the enrolled one).
    #[serde(default)]
    pub topic_mismatch: bool,
    /// Commands queued and not yet answered, cancelled or expired.
    pub pending_commands: usize,
    /// Every key ever answered to DeviceInformation, each at its latest value.
    pub query_responses: Map<String, Value>,
    pub query_responses_at: Option<DateTime<Utc>>,
    /// The `SecurityInfo` dictionary of the latest SecurityInfo answer.
    pub security_info: Option<Map<String, Value>>,
    pub security_info_at: Option<DateTime<Utc>>,
    /// The Declarative Device Management status the device's reports add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_status: Option<DdmStatus>,
    /// When the device last reported its DDM status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_status_at: Option<DateTime<Utc>>,
    /// The DeclarationsToken of the last DeclarativeManagement sync queued to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declarations_token_given: Option<String>,
}

/// The facts of an enrollment a declaration assignment matches on.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub enrollment: String,
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    pub state: DeviceState,
    pub generation: u64,
    /// Model, model name, product name: those reported.
    pub models: Vec<String>,
    pub os_version: Option<String>,
    /// The DeclarationsToken of the last DeclarativeManagement sync queued to it.
    pub given_token: Option<String>,
}

/// The identity certificate a device uses, as the log recorded it when it was bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityCertificate {
    /// The issuer's distinguished name (`CN=Annal CA 2026-12-05 3f9a1c, O=Annal`).
    pub issuer: String,
    pub serial_hex: String,
    pub not_after: DateTime<Utc>,
}

/// The device inventory projection.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    docs: DocStore<DeviceDoc>,
}

impl Inventory {
    pub const NAME: &'static str = "devices";
    // 2: identity_certificate.
    pub const VERSION: u32 = 2;

    pub fn get(&self, enrollment: &str) -> Option<Device> {
        self.docs.get(enrollment).map(|d| d.to_device(enrollment))
    }

    /// What a declaration assignment matches on, without building the whole `Device`.
    pub fn facts(&self, enrollment: &str) -> Option<Facts> {
        self.docs.get(enrollment).map(|d| d.facts(enrollment))
    }

    /// Enrolled enrollments after `after`, in key order, as `facts`.
    pub fn enrolled_facts(&self, after: Option<&str>, limit: usize) -> Page<Facts> {
        self.docs
            .page(after, limit, |d| d.state == DeviceState::Enrolled, |k, d| d.facts(k))
    }

    /// Enrolled enrollments after `after`, in key order, with their DDM status and when they
    /// last reported it.
    pub fn enrolled_reports(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Page<(Facts, Option<DdmStatus>, Option<DateTime<Utc>>)> {
        self.docs.page(
            after,
            limit,
            |d| d.state == DeviceState::Enrolled,
            |k, d| (d.facts(k), d.ddm_status(), d.ddm_status_at),
        )
    }

    pub fn contains(&self, enrollment: &str) -> bool {
        self.docs.get(enrollment).is_some()
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Enrollment keys starting with `prefix` whose channel has not checked out: a device's
    /// user channels, given `<device>:`.
    pub fn enrolled_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.docs
            .with_prefix(prefix)
            .filter(|(_, d)| d.state != DeviceState::CheckedOut)
            .map(|(key, _)| key.to_owned())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }

    pub(crate) fn set_pending(&mut self, enrollment: &str, count: usize) {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if self.docs.get(enrollment).is_some_and(|d| d.pending_commands != count) {
            if let Some(doc) = self.docs.update(enrollment) {
                doc.pending_commands = count;
            }
        }
    }

    pub(crate) fn drain(&mut self, out: &mut Vec<Change>) {
        self.docs.drain(Self::NAME, Self::VERSION, out);
    }

    pub(crate) fn snapshot(&self, out: &mut Vec<Change>) {
        self.docs.snapshot(Self::NAME, Self::VERSION, out);
    }

    pub(crate) fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        self.docs
            .restore(Self::NAME, &change.key, change.doc.as_ref())
            .map(drop)
    }
}
