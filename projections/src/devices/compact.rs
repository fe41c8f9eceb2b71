//! The inventory's memory form of a device: what a million of them cost is the server's memory.
//! The enrollment key is the document's key, not a field; a device channel's UDID is its key;
//! model, OS and topic strings are shared between devices; identifiers most devices lack sit
//! behind one pointer; the answers to DeviceInformation and SecurityInfo are kept as JSON text
//! (parsed when a query shows them) rather than as maps of JSON values.

use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use annal_schemas::events::identity::CertificateInfo;

use super::ids::DeviceIds;
use super::{Channel, DdmStatus, Device, DeviceState, IdentityCertificate};

/// An interning table: one allocation per distinct value, bounded in count and in the length
/// of what it keeps (devices report these values, so they can be made up): past `limit`
/// distinct values, or for a value longer than `longest`, a value is simply not shared.
struct Interner {
    table: OnceLock<Mutex<hashbrown::HashSet<Arc<str>>>>,
    limit: usize,
    longest: usize,
}

impl Interner {
    const fn new(limit: usize, longest: usize) -> Self {
        Self {
            table: OnceLock::new(),
            limit,
            longest,
        }
    }

    fn get(&self, value: &str) -> Arc<str> {
        if value.len() > self.longest {
            return Arc::from(value);
        }
        let Ok(mut table) = self.table.get_or_init(Default::default).lock() else {
            return Arc::from(value);
        };
        if let Some(s) = table.get(value) {
            return Arc::clone(s);
        }
        let s: Arc<str> = Arc::from(value);
        if table.len() < self.limit {
            table.insert(Arc::clone(&s));
        }
        s
    }
}

/// Models, OS versions, topics: no real one is longer than 128 bytes.
static SHARED: Interner = Interner::new(50_000, 128);
/// DDM statuses: most devices report the same declarations, all valid and active. At most
/// 2,000 × 16 KiB kept for sharing (devices write these, and the table never forgets).
static STATUSES: Interner = Interner::new(2_000, 16 * 1024);

fn shared(value: &str) -> Arc<str> {
    SHARED.get(value)
}

fn shared_status(value: &str) -> Arc<str> {
    STATUSES.get(value)
}

/// A string most devices share (model, OS version, topic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shared(Option<Arc<str>>);

impl Shared {
    pub fn set(&mut self, value: Option<&str>) {
        if self.as_deref() != value {
            self.0 = value.map(shared);
        }
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A string of this device alone (serial number, name).
pub(crate) type Own = Option<Box<str>>;

pub(crate) fn own(value: Option<&str>) -> Own {
    value.map(Box::from)
}

/// Hex SHA-256 fingerprints as 32 bytes; anything else as it came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Fingerprint {
    #[default]
    None,
    Sha256([u8; 32]),
    Other(Box<str>),
}

impl Fingerprint {
    fn parse(hex_sha256: &str) -> Self {
        let mut bytes = [0u8; 32];
        match hex::decode_to_slice(hex_sha256, &mut bytes) {
            // Only lowercase hex round-trips through the bytes.
            Ok(()) if hex_sha256.bytes().all(|b| !b.is_ascii_uppercase()) => Fingerprint::Sha256(bytes),
            _ => Fingerprint::Other(hex_sha256.into()),
        }
    }
}

/// The bound identity certificate's issuer, serial and expiry, from IdentityBound or
/// IdentityRotated; shown only while it is still the certificate the device uses (its
/// fingerprint is the enrollment's). Issuers are few: shared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Certificate {
    fingerprint: Fingerprint,
    issuer: Shared,
    serial_hex: Own,
    not_after: DateTime<Utc>,
}

/// What only some enrollments have (User Enrollment, cellular devices).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rare {
    enrollment_id: Own,
    user_id: Own,
    imei: Own,
    meid: Own,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeviceDoc {
    /// The UDID and serial number.
    pub ids: DeviceIds,
    rare: Option<Box<Rare>>,
    pub device_name: Own,
    pub model: Shared,
    pub model_name: Shared,
    pub product_name: Shared,
    pub os_version: Shared,
    pub build_version: Shared,
    pub topic: Shared,
    fingerprint: Fingerprint,
    certificate: Option<Box<Certificate>>,
    pub channel: Channel,
    pub state: DeviceState,
    pub token_dead: bool,
    /// A TokenUpdate named another push topic than the enrollment's.
    pub topic_mismatch: bool,
    pub pending_commands: u32,
    pub generation: u64,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub query_responses_at: Option<DateTime<Utc>>,
    pub security_info_at: Option<DateTime<Utc>>,
    pub last_seen_position: Option<u64>,
    /// JSON text of the merged DeviceInformation answers; `None`: none yet.
    query_responses: Own,
    /// JSON text of the latest SecurityInfo dictionary.
    security_info: Own,
    /// JSON text of the DDM status (`DdmStatus`), shared between devices reporting the same.
    ddm_status: Option<Arc<str>>,
    pub ddm_status_at: Option<DateTime<Utc>>,
    /// The DeclarationsToken of the last DeclarativeManagement sync queued in this generation
    /// (shared: a fleet-wide change gives every device the same).
    pub ddm_given: Shared,
}

impl DeviceDoc {
    pub fn new(enrollment: &str) -> Self {
        Self {
            ids: DeviceIds::default(),
            rare: None,
            device_name: None,
            model: Shared::default(),
            model_name: Shared::default(),
            product_name: Shared::default(),
            os_version: Shared::default(),
            build_version: Shared::default(),
            topic: Shared::default(),
            fingerprint: Fingerprint::None,
            certificate: None,
            // Enrollment keys of user channels are `<device>:<user>`; device identifiers never
            // contain `:` (the protocol layer refuses them).
            channel: if enrollment.contains(':') {
                Channel::User
            } else {
                Channel::Device
            },
            state: DeviceState::Authenticated,
            token_dead: false,
            topic_mismatch: false,
            pending_commands: 0,
            generation: 0,
            enrolled_at: None,
            last_seen_at: None,
            query_responses_at: None,
            security_info_at: None,
            last_seen_position: None,
            query_responses: None,
            security_info: None,
            ddm_status: None,
            ddm_status_at: None,
            ddm_given: Shared::default(),
        }
    }

    fn rare(&self) -> Rare {
        self.rare.as_deref().cloned().unwrap_or_default()
    }

    /// Changes the rarely set identifiers, keeping the box only while one is set.
    pub fn change_rare(&mut self, change: impl FnOnce(&mut Own, &mut Own, &mut Own, &mut Own)) {
        let mut rare = self.rare();
        change(
            &mut rare.enrollment_id,
            &mut rare.user_id,
            &mut rare.imei,
            &mut rare.meid,
        );
        self.rare = (rare != Rare::default()).then(|| Box::new(rare));
    }

    pub fn set_fingerprint(&mut self, hex_sha256: &str) {
        self.fingerprint = Fingerprint::parse(hex_sha256);
    }

    /// The certificate bound (or rotated to) becomes the enrollment's identity.
    pub fn set_certificate(&mut self, info: &CertificateInfo) {
        let fingerprint = Fingerprint::parse(&info.fingerprint_sha256);
        let mut issuer = Shared::default();
        issuer.set(Some(&info.issuer));
        self.certificate = Some(Box::new(Certificate {
            fingerprint: fingerprint.clone(),
            issuer,
            serial_hex: own(Some(&info.serial_hex)),
            not_after: info.not_after,
        }));
        self.fingerprint = fingerprint;
    }

    /// The current identity certificate's issuer and expiry, for filters.
    pub fn certificate_facts(&self) -> Option<(&str, DateTime<Utc>)> {
        let c = self.certificate.as_deref()?;
        (c.fingerprint == self.fingerprint).then(|| (c.issuer.as_deref().unwrap_or_default(), c.not_after))
    }

    fn certificate(&self) -> Option<IdentityCertificate> {
        let c = self.certificate.as_deref()?;
        if c.fingerprint != self.fingerprint {
            return None;
        }
        Some(IdentityCertificate {
            issuer: c.issuer.as_deref().unwrap_or_default().to_owned(),
            serial_hex: c.serial_hex.as_deref().unwrap_or_default().to_owned(),
            not_after: c.not_after,
        })
    }

    fn fingerprint(&self) -> Option<String> {
        match &self.fingerprint {
            Fingerprint::None => None,
            Fingerprint::Sha256(b) => Some(hex::encode(b)),
            Fingerprint::Other(s) => Some(s.to_string()),
        }
    }

    pub fn query_responses(&self) -> Map<String, Value> {
        parse_map(self.query_responses.as_deref()).unwrap_or_default()
    }

    pub fn set_query_responses(&mut self, map: &Map<String, Value>) {
        self.query_responses = (!map.is_empty()).then(|| Value::Object(map.clone()).to_string().into());
    }

    pub fn set_security_info(&mut self, map: Option<&Map<String, Value>>) {
        self.security_info = map.map(|m| Value::Object(m.clone()).to_string().into());
    }

    pub fn ddm_status(&self) -> Option<DdmStatus> {
        // The text was written from a DdmStatus by this module: it parses back.
        serde_json::from_str(self.ddm_status.as_deref()?).ok()
    }

    pub fn set_ddm_status(&mut self, status: Option<&DdmStatus>) {
        self.ddm_status = status
            .and_then(|s| serde_json::to_string(s).ok())
            .map(|text| shared_status(&text));
    }

    pub fn facts(&self, key: &str) -> super::Facts {
        super::Facts {
            enrollment: key.to_owned(),
            udid: self.ids.udid(key).map(str::to_owned),
            serial_number: self.ids.serial_number().map(str::to_owned),
            state: self.state,
            generation: self.generation,
            models: [&self.model, &self.model_name, &self.product_name]
                .into_iter()
                .filter_map(|s| s.as_deref().map(str::to_owned))
                .collect(),
            os_version: self.os_version.as_deref().map(str::to_owned),
            given_token: self.ddm_given.as_deref().map(str::to_owned),
        }
    }

    /// The public, served form.
    pub fn to_device(&self, key: &str) -> Device {
        let rare = self.rare();
        let text = |s: &Own| s.as_deref().map(str::to_owned);
        let shared = |s: &Shared| s.as_deref().map(str::to_owned);
        Device {
            enrollment: key.to_owned(),
            udid: self.ids.udid(key).map(str::to_owned),
            enrollment_id: text(&rare.enrollment_id),
            user_id: text(&rare.user_id),
            channel: self.channel,
            serial_number: self.ids.serial_number().map(str::to_owned),
            imei: text(&rare.imei),
            meid: text(&rare.meid),
            model: shared(&self.model),
            model_name: shared(&self.model_name),
            product_name: shared(&self.product_name),
            device_name: text(&self.device_name),
            os_version: shared(&self.os_version),
            build_version: shared(&self.build_version),
            topic: shared(&self.topic),
            state: self.state,
            generation: self.generation,
            identity_fingerprint: self.fingerprint(),
            identity_certificate: self.certificate(),
            enrolled_at: self.enrolled_at,
            last_seen_at: self.last_seen_at,
            last_seen_position: self.last_seen_position,
            token_dead: self.token_dead,
            topic_mismatch: self.topic_mismatch,
            pending_commands: self.pending_commands as usize,
            query_responses: self.query_responses(),
            query_responses_at: self.query_responses_at,
            security_info: parse_map(self.security_info.as_deref()),
            security_info_at: self.security_info_at,
            declaration_status: self.ddm_status(),
            declaration_status_at: self.ddm_status_at,
            declarations_token_given: self.ddm_given.as_deref().map(str::to_owned),
        }
    }

    pub fn from_device(key: &str, d: &Device) -> Self {
        let mut doc = Self::new(key);
        doc.ids = DeviceIds::restored(key, d.udid.as_deref(), d.serial_number.as_deref());
        doc.change_rare(|enrollment_id, user_id, imei, meid| {
            *enrollment_id = own(d.enrollment_id.as_deref());
            *user_id = own(d.user_id.as_deref());
            *imei = own(d.imei.as_deref());
            *meid = own(d.meid.as_deref());
        });
        doc.device_name = own(d.device_name.as_deref());
        doc.model.set(d.model.as_deref());
        doc.model_name.set(d.model_name.as_deref());
        doc.product_name.set(d.product_name.as_deref());
        doc.os_version.set(d.os_version.as_deref());
        doc.build_version.set(d.build_version.as_deref());
        doc.topic.set(d.topic.as_deref());
        if let Some(f) = &d.identity_fingerprint {
            doc.set_fingerprint(f);
            if let Some(c) = &d.identity_certificate {
                let mut issuer = Shared::default();
                issuer.set(Some(&c.issuer));
                doc.certificate = Some(Box::new(Certificate {
                    fingerprint: doc.fingerprint.clone(),
                    issuer,
                    serial_hex: own(Some(&c.serial_hex)),
                    not_after: c.not_after,
                }));
            }
        }
        doc.channel = d.channel;
        doc.state = d.state;
        doc.token_dead = d.token_dead;
        doc.topic_mismatch = d.topic_mismatch;
        doc.pending_commands = u32::try_from(d.pending_commands).unwrap_or(u32::MAX);
        doc.generation = d.generation;
        doc.enrolled_at = d.enrolled_at;
        doc.last_seen_at = d.last_seen_at;
        doc.last_seen_position = d.last_seen_position;
        doc.query_responses_at = d.query_responses_at;
        doc.security_info_at = d.security_info_at;
        doc.set_query_responses(&d.query_responses);
        doc.set_security_info(d.security_info.as_ref());
        doc.set_ddm_status(d.declaration_status.as_ref());
        doc.ddm_status_at = d.declaration_status_at;
        doc.ddm_given.set(d.declarations_token_given.as_deref());
        doc
    }
}

impl crate::docs::Document for DeviceDoc {
    fn to_json(&self, key: &str) -> serde_json::Result<Value> {
        serde_json::to_value(self.to_device(key))
    }

    fn from_json(key: &str, value: &Value) -> serde_json::Result<Self> {
        let device = <Device as serde::Deserialize>::deserialize(value)?;
        Ok(Self::from_device(key, &device))
    }
}

fn parse_map(text: Option<&str>) -> Option<Map<String, Value>> {
    // The text was written from a map by this module: it parses back.
    serde_json::from_str(text?).ok()
}
