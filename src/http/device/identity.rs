//! Who is asking: the device's identity certificate, proven by the TLS client certificate
//! (mTLS) or by the `Mdm-Signature` header (a detached CMS signature over the body), chained
//! to Annal's CA or a configured external CA.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::error::DeviceError;
use crate::domain::enrollment::Identity;
use crate::pki::{trusted_signer, verify_mdm_signature, SignatureError, TrustAnchors, VerifiedIdentity};

/// Bound on the verified-signature cache; it is cleared when full.
const CACHE_LIMIT: usize = 65_536;

pub struct DeviceAuth {
    anchors: TrustAnchors,
    /// The subject of Annal's own CA: certificates it issued may rotate a bound identity.
    annal_issuer: String,
    /// Development only: accept requests with no identity at all.
    insecure: bool,
    /// SHA-256(header ‖ body) → identity: a device that resends a byte-identical signed body
    /// (its Idle poll) costs one hash, not a signature verification.
    verified: Mutex<HashMap<[u8; 32], VerifiedIdentity>>,
}

impl DeviceAuth {
    /// `anchors` are made to require clientAuth: only a device identity identifies a device.
    pub fn new(anchors: TrustAnchors, annal_issuer: String, insecure: bool) -> Self {
        Self {
            anchors: anchors.requiring_client_auth(),
            annal_issuer,
            insecure,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The CAs whose certificates are device identities (Annal's, and an external one).
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// What the headers alone prove, checked before any of the body is read: a client
    /// certificate or an Mdm-Signature signer that is not trusted is refused here, and a request
    /// with no identity at all unless unsigned devices are accepted. The signature over the body
    /// is [`Self::identify`]'s to check, once the body is in.
    pub fn screen(
        &self,
        client_certificates: Option<&[Vec<u8>]>,
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Screened, DeviceError> {
        if let Some(leaf) = client_certificates.and_then(|c| c.first()) {
            self.anchors
                .verify_leaf(leaf, now)
                .map_err(|e| DeviceError::Identity(format!("client certificate refused: {e}")))?;
            return Ok(Screened::Identified);
        }
        if let Some(header) = signature {
            trusted_signer(header, &self.anchors, now).map_err(signature_error)?;
            return Ok(Screened::Identified);
        }
        if self.insecure {
            return Ok(Screened::Unidentified);
        }
        Err(no_identity())
    }

    pub fn identify(
        &self,
        client_certificates: Option<&[Vec<u8>]>,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Identity, DeviceError> {
        if let Some(leaf) = client_certificates.and_then(|c| c.first()) {
            // `verify_leaf` memoizes certificates that verified (validity is still checked on
            // every request), so a keep-alive connection does not re-verify its chain.
            let verified = self
                .anchors
                .verify_leaf(leaf, now)
                .map_err(|e| DeviceError::Identity(format!("client certificate refused: {e}")))?;
            return Ok(self.identity(verified, "mtls"));
        }
        if let Some(header) = signature {
            return self
                .verify_signature(header, body, now)
                .map(|v| self.identity(v, "mdm-signature"));
        }
        if self.insecure {
            return Ok(Identity {
                certificate: annal_schemas::events::identity::CertificateInfo {
                    fingerprint_sha256: "unverified".into(),
                    serial_hex: String::new(),
                    subject: String::new(),
                    issuer: String::new(),
                    not_before: now,
                    not_after: now,
                },
                proof: "insecure",
                issued_by_annal: false,
                vouched: Default::default(),
                url_params: Default::default(),
            });
        }
        Err(no_identity())
    }

    fn verify_signature(&self, header: &str, body: &[u8], now: DateTime<Utc>) -> Result<VerifiedIdentity, DeviceError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(header.as_bytes())
            .chain_update([0])
            .chain_update(body)
            .finalize()
            .into();
        if let Some(hit) = cached(&self.verified, &key, now) {
            return Ok(hit);
        }
        let verified = verify_mdm_signature(header, body, &self.anchors, now).map_err(signature_error)?;
        remember(&self.verified, key, verified.clone());
        Ok(verified)
    }

    fn identity(&self, verified: VerifiedIdentity, proof: &'static str) -> Identity {
        let certificate = verified.to_certificate_info();
        let issued_by_annal = certificate.issuer == self.annal_issuer;
        Identity {
            certificate,
            proof,
            issued_by_annal,
            vouched: Default::default(),
            url_params: Default::default(),
        }
    }
}

/// What [`DeviceAuth::screen`] found in a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened {
    /// A trusted client certificate or Mdm-Signature signer: the body may be as large as
    /// `--max-body-bytes`.
    Identified,
    /// No identity, accepted only with `--insecure-accept-unsigned-devices`: a small body only.
    Unidentified,
}

fn no_identity() -> DeviceError {
    DeviceError::Identity(
        "no device identity: present the enrollment's client certificate or an Mdm-Signature header".into(),
    )
}

/// A cached identity, while its certificate is still valid.
fn cached(
    cache: &Mutex<HashMap<[u8; 32], VerifiedIdentity>>,
    key: &[u8; 32],
    now: DateTime<Utc>,
) -> Option<VerifiedIdentity> {
    cache
        .lock()
        .ok()?
        .get(key)
        .filter(|v| v.not_before <= now && now < v.not_after)
        .cloned()
}

fn remember(cache: &Mutex<HashMap<[u8; 32], VerifiedIdentity>>, key: [u8; 32], identity: VerifiedIdentity) {
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, identity);
    }
}

fn signature_error(e: SignatureError) -> DeviceError {
    // A header that is not even a CMS structure is malformed input (400); a well-formed
    // signature that does not verify is a refusal of identity (403).
    let text = e.to_string();
    if matches!(e, SignatureError::BadBase64 | SignatureError::NotSignedData(_)) {
        DeviceError::MalformedSignature(format!("Mdm-Signature: {text}"))
    } else {
        DeviceError::Identity(format!("Mdm-Signature refused: {text}"))
    }
}
