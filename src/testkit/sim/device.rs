//! One virtual device: its identity and the bodies it sends.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use chrono::Utc;
use plist::{Dictionary, Value};

use super::ddm::DdmState;
use crate::pki::{DeviceIdentity, MdmDigest, PkiError};

/// The OS every simulated device runs: one value for Authenticate, DeviceInformation and the
/// DDM status report, so the server sees one consistent device.
pub const OS_VERSION: &str = "18.1";
pub const BUILD_VERSION: &str = "22B83";

pub struct VirtualDevice {
    pub udid: String,
    pub serial: String,
    pub identity: DeviceIdentity,
    /// SHA-256: aws-lc-rs signs RSA only with SHA-2, so the simulator cannot send SHA-1
    /// signatures; the server's SHA-1 support is tested with openssl-made signatures.
    pub digest: MdmDigest,
    /// The Idle body is the same on every poll: its signature (DER) is reused, as the load
    /// generator must stay cheap beside the server on two cores.
    idle: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
    /// The declarations it holds. An async lock: a sync holds it across its requests, so two
    /// sessions of one device never sync at once.
    pub(super) ddm: tokio::sync::Mutex<DdmState>,
}

impl VirtualDevice {
    pub fn new(index: usize, identity: DeviceIdentity) -> Self {
        Self {
            udid: udid_of(index),
            serial: format!("SIM{index:09}"),
            identity,
            digest: MdmDigest::Sha256,
            idle: Mutex::new(None),
            ddm: tokio::sync::Mutex::new(DdmState::default()),
        }
    }

    pub fn sign(&self, body: &[u8]) -> Result<String, PkiError> {
        self.identity.sign_mdm(body, self.digest)
    }

    /// The detached CMS signature over `body` (signed attributes: content-type, message-digest,
    /// signing-time), DER, before base64.
    pub fn sign_der(&self, body: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.identity.sign_mdm_der(body, self.digest, Utc::now())
    }

    fn base(&self, message_type: Option<&str>) -> Dictionary {
        let mut d = Dictionary::new();
        if let Some(t) = message_type {
            d.insert("MessageType".into(), Value::String(t.into()));
        }
        d.insert("UDID".into(), Value::String(self.udid.clone()));
        d
    }

    pub fn authenticate(&self, topic: &str) -> Vec<u8> {
        let mut d = self.base(Some("Authenticate"));
        d.insert("Topic".into(), Value::String(topic.into()));
        d.insert("SerialNumber".into(), Value::String(self.serial.clone()));
        d.insert("OSVersion".into(), Value::String(OS_VERSION.into()));
        d.insert("BuildVersion".into(), Value::String(BUILD_VERSION.into()));
        d.insert("ProductName".into(), Value::String("iPad13,18".into()));
        encode(d)
    }

    pub fn token_update(&self, topic: &str) -> Vec<u8> {
        let mut d = self.base(Some("TokenUpdate"));
        d.insert("Topic".into(), Value::String(topic.into()));
        d.insert("Token".into(), Value::Data(self.push_token()));
        d.insert("PushMagic".into(), Value::String(format!("{}-magic", self.serial)));
        d.insert("UnlockToken".into(), Value::Data(vec![0x5a; 64]));
        encode(d)
    }

    /// The push token it reports in TokenUpdate: what APNs (or the mock) is asked to wake.
    pub fn push_token(&self) -> Vec<u8> {
        self.udid.as_bytes().repeat(2)
    }

    /// A `DeclarativeManagement` check-in: `endpoint` (`tokens`, `declaration-items`,
    /// `declaration/<category>/<identifier>`, `status`) and, for `status`, the report's JSON.
    pub fn declarative_management(&self, endpoint: &str, data: Option<Vec<u8>>) -> Vec<u8> {
        let mut d = self.base(Some("DeclarativeManagement"));
        d.insert("Endpoint".into(), Value::String(endpoint.into()));
        if let Some(data) = data {
            d.insert("Data".into(), Value::Data(data));
        }
        encode(d)
    }

    /// The DeclarationsToken of the set it last synced, if any.
    pub async fn declarations_token(&self) -> Option<String> {
        self.ddm.lock().await.token().map(str::to_owned)
    }

    /// The declarations it holds: identifier → the ServerToken it processed.
    pub async fn declarations_held(&self) -> BTreeMap<String, String> {
        self.ddm.lock().await.held()
    }

    /// The Idle body and its Mdm-Signature header value, made once.
    pub fn idle(&self) -> Result<(Vec<u8>, String), PkiError> {
        let (body, der) = self.idle_der()?;
        Ok((body, base64::engine::general_purpose::STANDARD.encode(der)))
    }

    /// The Idle body and its DER signature, made once.
    pub fn idle_der(&self) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
        let mut cached = self.idle.lock().map_err(|_| PkiError::Crypto("idle cache poisoned"))?;
        if let Some(hit) = cached.as_ref() {
            return Ok(hit.clone());
        }
        let mut d = self.base(None);
        d.insert("Status".into(), Value::String("Idle".into()));
        let body = encode(d);
        let signature = self.sign_der(&body)?;
        *cached = Some((body.clone(), signature.clone()));
        Ok((body, signature))
    }

    /// A command result: `Acknowledged` with the response keys, or `NotNow`.
    pub fn result(&self, command_uuid: &str, status: &str, response: Dictionary) -> Vec<u8> {
        let mut d = self.base(None);
        d.insert("CommandUUID".into(), Value::String(command_uuid.into()));
        d.insert("Status".into(), Value::String(status.into()));
        for (k, v) in response {
            d.insert(k, v);
        }
        encode(d)
    }
}

/// The UDID of the simulator's device number `index` (known before it has an identity: SCEP
/// puts it into the certificate's subject).
pub fn udid_of(index: usize) -> String {
    format!("0000SIM0-{index:016X}")
}

pub fn encode(d: Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a dictionary of plain values to a Vec cannot fail.
    let _ = Value::Dictionary(d).to_writer_xml(&mut out);
    out
}
