//! Device identities (certificate + private key) and the description of a verified certificate.

use std::fmt;

use annal_schemas::events::identity::CertificateInfo;
use aws_lc_rs::digest;
use chrono::{DateTime, Utc};
use x509_parser::certificate::X509Certificate;

use super::codec::{asn1_to_chrono, hex_lower, pem_encode, pem_find};
use super::PkiError;

/// Key algorithm of an identity Annal issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA 2048 with PKCS#1 v1.5 signatures: what Apple devices get from SCEP.
    Rsa2048,
    /// ECDSA P-256: smaller and faster, used by simulators and the server's TLS identity.
    EcdsaP256,
}

/// A certificate and its private key, as a device (or the device simulator) holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER; never logged (see the `Debug` impl).
    pub key_pkcs8_der: Vec<u8>,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("cert_der", &format_args!("<{} bytes>", self.cert_der.len()))
            .field("key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

impl DeviceIdentity {
    /// The certificate as a PEM `CERTIFICATE` block.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The private key as a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.key_pkcs8_der)
    }

    /// Certificate block followed by key block: the usual "identity PEM" file layout.
    pub fn to_pem(&self) -> String {
        self.cert_pem() + &self.key_pem()
    }

    /// Reads the first `CERTIFICATE` and the first `PRIVATE KEY` block, in any order. The
    /// certificate must parse; the key is checked when it is first used for signing.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let cert_der = pem_find(pem, "CERTIFICATE")?;
        let key_pkcs8_der = pem_find(pem, "PRIVATE KEY")?;
        parse_cert(&cert_der)?;
        Ok(Self {
            cert_der,
            key_pkcs8_der,
        })
    }

    /// The event-log description of this identity's certificate.
    pub fn certificate_info(&self) -> Result<CertificateInfo, PkiError> {
        certificate_info(&self.cert_der)
    }
}

/// The facts about a certificate that Annal records and binds enrollments to.
///
/// Built by [`super::TrustAnchors::verify_leaf`] (and so by `verify_mdm_signature`) after the
/// certificate has been checked against a trust anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub cert_der: Vec<u8>,
    /// Lowercase hex of SHA-256 over the certificate DER: the identity Annal pins.
    pub fingerprint_sha256: String,
    /// RFC 4514-style string as x509-parser prints it, e.g. `CN=device, O=Annal`.
    pub subject: String,
    pub issuer: String,
    /// Lowercase hex of the serial number's magnitude, without leading zero bytes.
    pub serial_hex: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl VerifiedIdentity {
    /// Describes an already parsed certificate; `der` must be the bytes `cert` was parsed from
    /// and `fingerprint` their SHA-256.
    pub(crate) fn from_parsed(
        der: &[u8],
        cert: &X509Certificate<'_>,
        fingerprint: &[u8; 32],
    ) -> Result<Self, PkiError> {
        let validity = cert.validity();
        Ok(Self {
            cert_der: der.to_vec(),
            fingerprint_sha256: hex_lower(fingerprint),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial_hex: serial_hex(cert.raw_serial()),
            not_before: asn1_to_chrono(validity.not_before)?,
            not_after: asn1_to_chrono(validity.not_after)?,
        })
    }

    pub fn to_certificate_info(&self) -> CertificateInfo {
        CertificateInfo {
            fingerprint_sha256: self.fingerprint_sha256.clone(),
            serial_hex: self.serial_hex.clone(),
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

/// Describes any certificate for the event log (e.g. `CertificateIssued`) without a trust
/// check: use it for certificates Annal itself just issued.
pub fn certificate_info(cert_der: &[u8]) -> Result<CertificateInfo, PkiError> {
    let cert = parse_cert(cert_der)?;
    Ok(VerifiedIdentity::from_parsed(cert_der, &cert, &fingerprint_bytes(cert_der))?.to_certificate_info())
}

/// Whether a certificate (DER) carries an RSA public key: what CMS key transport (an
/// encrypted profile, a SCEP CertRep) can encrypt to.
pub fn has_rsa_key(cert_der: &[u8]) -> bool {
    parse_cert(cert_der)
        .is_ok_and(|c| super::algorithms::KeyAlg::from_spki(c.public_key()) == Ok(super::algorithms::KeyAlg::Rsa))
}

/// Lowercase hex SHA-256 of a certificate's DER.
pub fn fingerprint_sha256(cert_der: &[u8]) -> String {
    hex_lower(&fingerprint_bytes(cert_der))
}

pub(crate) fn fingerprint_bytes(cert_der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, cert_der).as_ref());
    out
}

/// Parses exactly one DER certificate (trailing bytes are an error: they would make the
/// fingerprint cover data that is not part of the certificate).
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((&[], cert)) => Ok(cert),
        Ok(_) => Err(PkiError::Certificate("trailing bytes after the certificate".to_owned())),
        Err(e) => Err(PkiError::Certificate(e.to_string())),
    }
}

fn serial_hex(raw: &[u8]) -> String {
    // DER INTEGERs carry a 0x00 sign byte when the top bit is set; it is not part of the value.
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    hex_lower(&raw[start..])
}

/// The DNS names and IP addresses a certificate's subjectAltName lists, as text: what a TLS
/// client checks a server's name against (the subject CN is not read by modern clients).
pub fn subject_alt_names(cert_der: &[u8]) -> Result<Vec<String>, PkiError> {
    use x509_parser::extensions::GeneralName;
    let cert = parse_cert(cert_der)?;
    let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::Certificate(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => ip_text(bytes),
            _ => None,
        })
        .collect())
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_strips_sign_byte() {
        assert_eq!(serial_hex(&[0x00, 0x80, 0x01]), "8001");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x7f]), "7f");
    }

    #[test]
    fn from_pem_needs_both_blocks_and_a_certificate() {
        assert!(DeviceIdentity::from_pem("").is_err());
        let only_key = pem_encode("PRIVATE KEY", b"x");
        assert!(DeviceIdentity::from_pem(&only_key).is_err());
        let junk_cert = pem_encode("CERTIFICATE", b"not der") + &only_key;
        assert!(matches!(
            DeviceIdentity::from_pem(&junk_cert),
            Err(PkiError::Certificate(_))
        ));
    }

    #[test]
    fn debug_redacts_the_key() {
        let id = DeviceIdentity {
            cert_der: vec![1, 2],
            key_pkcs8_der: vec![0xAB; 8],
        };
        let shown = format!("{id:?}");
        assert!(shown.contains("redacted") && !shown.contains("171"));
    }
}
