//! The MDM push certificate: loaded from a `.p12` (modern AES or the legacy RC2/3DES exports
//! Keychain Access makes) or from PEM (PKCS#1 or PKCS#8 keys), with the APNs topic read from the
//! certificate subject's UID, its validity, and a check that the key belongs to it.

use std::fmt;

use chrono::{DateTime, Utc};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::X509Certificate;

use crate::pki::keys::SigningKey;
use crate::pki::PkiError;

/// The subject attribute Apple puts the topic in (`UID=com.apple.mgmt.External.<uuid>`).
const UID_OID: &str = "0.9.2342.19200300.100.1.1";
/// Apple's MDM topics; a certificate without one is not an MDM push certificate.
const MDM_TOPIC_PREFIX: &str = "com.apple.mgmt.";
/// From this many days before expiry, the certificate is reported as expiring.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the .p12 could not be read (wrong password, or not PKCS#12): {0}")]
    Pkcs12(String),
    #[error("the .p12 holds no private key with a certificate")]
    Pkcs12Empty,
    #[error("no certificate found (expected a PEM CERTIFICATE block)")]
    NoCertificate,
    #[error("no private key found (expected a PEM PRIVATE KEY or RSA PRIVATE KEY block)")]
    NoKey,
    #[error("the private key cannot be read (RSA in PKCS#1 or PKCS#8, or ECDSA P-256 in PKCS#8)")]
    BadKey,
    #[error("the private key does not belong to the push certificate")]
    KeyMismatch,
    #[error("the certificate has no APNs topic: its subject has no UID starting with {MDM_TOPIC_PREFIX}")]
    NoTopic,
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// A loaded push certificate. `Debug` never shows the key.
#[derive(Clone)]
pub struct PushCertificate {
    /// The leaf first, then any intermediates the file held.
    pub chain: Vec<Vec<u8>>,
    key: KeyDer,
    /// The APNs topic (`info.topic`, which a push certificate always has).
    pub topic: String,
    /// The leaf certificate as [`summarize`] describes it.
    pub info: Summary,
}

#[derive(Clone)]
enum KeyDer {
    Pkcs1(Vec<u8>),
    Pkcs8(Vec<u8>),
}

impl fmt::Debug for PushCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushCertificate")
            .field("topic", &self.topic)
            .field("subject", &self.info.subject)
            .field("not_after", &self.info.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Where a certificate stands on its validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    NotYetValid,
    Valid {
        days_left: i64,
    },
    /// Within [`EXPIRY_WARNING_DAYS`] of its end: renew it now (same topic).
    ExpiringSoon {
        days_left: i64,
    },
    Expired,
}

/// What a certificate says about itself, without its key (`annal push-cert inspect`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// None when the subject has no MDM topic: then it is not an MDM push certificate.
    pub topic: Option<String>,
    pub subject: String,
    pub issuer: String,
    pub serial_hex: String,
    pub fingerprint_sha256: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Describes the first certificate of `cert` (PEM text or DER), key or no key.
pub fn summarize(cert: &[u8]) -> Result<Summary, CertificateError> {
    let der = match std::str::from_utf8(cert) {
        Ok(text) if text.contains("-----BEGIN") => crate::pki::pem_blocks(text)?
            .into_iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .ok_or(CertificateError::NoCertificate)?,
        _ => cert.to_vec(),
    };
    let (rest, parsed) = x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::Certificate("trailing bytes after the certificate".into()).into());
    }
    let info = crate::pki::certificate_info(&der)?;
    Ok(Summary {
        topic: topic_of(&parsed),
        subject: info.subject,
        issuer: info.issuer,
        serial_hex: info.serial_hex,
        fingerprint_sha256: info.fingerprint_sha256,
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

impl Expiry {
    pub fn of(not_before: DateTime<Utc>, not_after: DateTime<Utc>, now: DateTime<Utc>) -> Expiry {
        if now < not_before {
            return Expiry::NotYetValid;
        }
        if now >= not_after {
            return Expiry::Expired;
        }
        let days_left = (not_after - now).num_days();
        if days_left < EXPIRY_WARNING_DAYS {
            Expiry::ExpiringSoon { days_left }
        } else {
            Expiry::Valid { days_left }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Expiry::NotYetValid => "not yet valid",
            Expiry::Valid { .. } => "valid",
            Expiry::ExpiringSoon { .. } => "EXPIRING SOON: renew it now, with the same topic",
            Expiry::Expired => "EXPIRED",
        }
    }
}

impl PushCertificate {
    /// Reads a PKCS#12 file (`.p12`/`.pfx`) with its password.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self, CertificateError> {
        let store = p12_keystore::KeyStore::from_pkcs12(bytes, password)
            .map_err(|e| CertificateError::Pkcs12(e.to_string()))?;
        let (_, chain) = store.private_key_chain().ok_or(CertificateError::Pkcs12Empty)?;
        let ders: Vec<Vec<u8>> = chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
        Self::from_parts(ders, KeyDer::Pkcs8(chain.key().to_vec()))
    }

    /// Reads PEM text holding the certificate (and intermediates) and the key, in one text or
    /// two (`key_pem` may be the same file as `cert_pem`).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertificateError> {
        let blocks = crate::pki::pem_blocks(cert_pem)?;
        let chain: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        let key = crate::pki::pem_blocks(key_pem)?
            .into_iter()
            .find_map(|(label, der)| match label.as_str() {
                "RSA PRIVATE KEY" => Some(KeyDer::Pkcs1(der)),
                "PRIVATE KEY" => Some(KeyDer::Pkcs8(der)),
                _ => None,
            })
            .ok_or(CertificateError::NoKey)?;
        Self::from_parts(chain, key)
    }

    /// Reads either form: PKCS#12 when the bytes are not PEM text.
    pub fn load(cert: &[u8], key: Option<&[u8]>, password: &str) -> Result<Self, CertificateError> {
        match std::str::from_utf8(cert) {
            Ok(text) if text.contains("-----BEGIN") => {
                let key_text = match key {
                    Some(k) => std::str::from_utf8(k).map_err(|_| CertificateError::NoKey)?,
                    None => text,
                };
                Self::from_pem(text, key_text)
            }
            _ => Self::from_pkcs12(cert, password),
        }
    }

    fn from_parts(chain: Vec<Vec<u8>>, key: KeyDer) -> Result<Self, CertificateError> {
        let leaf_der = chain.first().ok_or(CertificateError::NoCertificate)?;
        let (rest, leaf) =
            x509_parser::parse_x509_certificate(leaf_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::Certificate("trailing bytes after the certificate".into()).into());
        }
        check_key_matches(&leaf, &key)?;
        let info = summarize(leaf_der)?;
        Ok(Self {
            topic: info.topic.clone().ok_or(CertificateError::NoTopic)?,
            info,
            key,
            chain,
        })
    }

    pub fn expiry(&self, now: DateTime<Utc>) -> Expiry {
        Expiry::of(self.info.not_before, self.info.not_after, now)
    }

    /// The certificate chain and key for a rustls client configuration.
    pub fn client_auth(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let chain = self.chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
        let key = match &self.key {
            KeyDer::Pkcs1(d) => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(d.clone())),
            KeyDer::Pkcs8(d) => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d.clone())),
        };
        (chain, key)
    }

    /// PEM of the chain and the key (the key as found: PKCS#1 or PKCS#8), for sealing into the
    /// log and reading back with [`PushCertificate::from_pem`].
    pub fn to_pem(&self) -> (String, String) {
        let certs: String = self
            .chain
            .iter()
            .map(|c| crate::pki::pem_block("CERTIFICATE", c))
            .collect();
        let key = match &self.key {
            KeyDer::Pkcs1(d) => crate::pki::pem_block("RSA PRIVATE KEY", d),
            KeyDer::Pkcs8(d) => crate::pki::pem_block("PRIVATE KEY", d),
        };
        (certs, key)
    }
}

/// The APNs topic: the subject's UID, when it is an MDM topic.
fn topic_of(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_attributes()
        .filter(|a| a.attr_type().to_id_string() == UID_OID)
        .filter_map(|a| a.as_str().ok())
        .find(|uid| uid.starts_with(MDM_TOPIC_PREFIX))
        .map(str::to_owned)
}

/// A key that is not the certificate's would fail only at the first TLS handshake with Apple;
/// comparing public keys catches it when the certificate is installed.
fn check_key_matches(cert: &X509Certificate<'_>, key: &KeyDer) -> Result<(), CertificateError> {
    let (KeyDer::Pkcs1(der) | KeyDer::Pkcs8(der)) = key;
    let key = SigningKey::from_pem_or_der(der).map_err(|_| CertificateError::BadKey)?;
    if key.matches(cert) {
        Ok(())
    } else {
        Err(CertificateError::KeyMismatch)
    }
}
