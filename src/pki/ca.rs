//! Annal's certificate authority: created once in a directory, then loaded on every start.
//!
//! The CA key is RSA 2048 because SCEP clients (Apple devices included) encrypt their request
//! envelope to the CA certificate's public key, which therefore has to be an RSA key.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use chrono::{Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::algorithms::KeyAlg;
use super::codec::{pem_encode, pem_find, set_validity};
use super::identity::{parse_cert, DeviceIdentity, KeyKind};
use super::PkiError;

const CA_VALIDITY_DAYS: i64 = 3650;
/// Under Apple's 398-day limit for TLS server certificates.
const SERVER_TLS_DAYS: i64 = 397;
/// Certificates start an hour in the past so devices with a slightly slow clock accept them.
const BACKDATE_MINUTES: i64 = 60;

/// Annal's CA: its certificate and an rcgen issuer holding the aws-lc-rs signing key.
pub struct Ca {
    cert_der: Vec<u8>,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// PKCS#8; never logged (see the `Debug` impl). SCEP decrypts and signs with it.
    key_pkcs8_der: Vec<u8>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_der", &format_args!("<{} bytes>", self.cert_der.len()))
            .finish()
    }
}

impl Ca {
    /// Loads `dir/ca.key` + `dir/ca.pem`, or creates both (and `dir`) when neither exists.
    pub fn load_or_init(dir: &Path) -> Result<Ca, PkiError> {
        let key_path = dir.join("ca.key");
        let cert_path = dir.join("ca.pem");
        let exists = |p: &Path| p.try_exists().map_err(|source| io_err("checking", p, source));
        match (exists(&key_path)?, exists(&cert_path)?) {
            (true, true) => {
                let key_pem = fs::read_to_string(&key_path).map_err(|e| io_err("reading", &key_path, e))?;
                let cert_pem = fs::read_to_string(&cert_path).map_err(|e| io_err("reading", &cert_path, e))?;
                Self::from_der(pem_find(&cert_pem, "CERTIFICATE")?, &pem_find(&key_pem, "PRIVATE KEY")?)
            }
            (false, false) => Self::init(dir, &key_path, &cert_path, &ca_name()?),
            _ => Err(PkiError::IncompleteCa(dir.to_path_buf())),
        }
    }

    /// A CA named `name` in `dir`: tests that need two CAs with one name (a forged issuer).
    #[cfg(test)]
    pub(crate) fn init_named(dir: &Path, name: &str) -> Result<Ca, PkiError> {
        Self::init(dir, &dir.join("ca.key"), &dir.join("ca.pem"), name)
    }

    fn init(dir: &Path, key_path: &Path, cert_path: &Path, name: &str) -> Result<Ca, PkiError> {
        let key_der = generate_pkcs8(KeyKind::Rsa2048)?;
        let key = rcgen_key(&key_der, KeyKind::Rsa2048)?;
        let mut params = base_params(name, CA_VALIDITY_DAYS)?;
        params.distinguished_name.push(DnType::OrganizationName, "Annal");
        // Path length 0: this CA issues only end-entity certificates.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(issue_err)?;

        crate::store::private::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
        // Key first: a crash in between leaves an incomplete CA that load_or_init refuses,
        // never a certificate whose key is lost.
        write_new(key_path, pem_encode("PRIVATE KEY", &key_der).as_bytes(), 0o600)?;
        write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
        Self::from_der(cert.der().to_vec(), &key_der)
    }

    /// Builds the CA from its certificate and PKCS#8 key, checking that they belong together.
    fn from_der(cert_der: Vec<u8>, key_der: &[u8]) -> Result<Ca, PkiError> {
        let cert = parse_cert(&cert_der)?;
        let kind = match KeyAlg::from_spki(cert.public_key()) {
            Ok(KeyAlg::Rsa) => KeyKind::Rsa2048,
            Ok(KeyAlg::EcP256) => KeyKind::EcdsaP256,
            Ok(KeyAlg::EcP384) => return Err(PkiError::UnsupportedAlgorithm("CA key on P-384".to_owned())),
            Err(oid) => return Err(PkiError::UnsupportedAlgorithm(oid)),
        };
        let key = rcgen_key(key_der, kind)?;
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(PkiError::KeyMismatch);
        }
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(issue_err)?;
        Ok(Ca {
            cert_der,
            cert_pem,
            issuer,
            key_pkcs8_der: key_der.to_vec(),
        })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_pkcs8_der
    }

    /// A SCEP identity for a certificate request: the CSR's subject, subject alternative
    /// names and key; usage digitalSignature + keyEncipherment, EKU clientAuth, valid from an
    /// hour ago for `days` days. Whatever else the CSR asks for (CA:TRUE, other usages) is
    /// ignored. The CSR's own signature is checked here too.
    pub fn issue_from_csr(&self, csr_der: &[u8], days: u32) -> Result<Vec<u8>, PkiError> {
        let mut csr = CertificateSigningRequestParams::from_der(&csr_der.into()).map_err(issue_err)?;
        let requested = std::mem::take(&mut csr.params);
        let mut params = base_params("", i64::from(days))?;
        params.distinguished_name = requested.distinguished_name;
        params.subject_alt_names = requested.subject_alt_names;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        csr.params = params;
        csr.signed_by(&self.issuer).map(|c| c.der().to_vec()).map_err(issue_err)
    }

    /// A new key and a TLS-client certificate for it (clientAuth, digitalSignature, random
    /// serial), valid from an hour ago for `days` days.
    pub fn issue_device_identity(
        &self,
        common_name: &str,
        kind: KeyKind,
        days: u32,
    ) -> Result<DeviceIdentity, PkiError> {
        let key_der = generate_pkcs8(kind)?;
        let key = rcgen_key(&key_der, kind)?;
        let mut params = base_params(common_name, i64::from(days))?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if kind == KeyKind::Rsa2048 {
            // Apple's SCEP payload asks for signing + encryption usage on RSA identities.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(issue_err)?;
        Ok(DeviceIdentity {
            cert_der: cert.der().to_vec(),
            key_pkcs8_der: key_der,
        })
    }

    /// The server's TLS identity (ECDSA P-256, serverAuth). Returns (leaf + CA chain PEM,
    /// PKCS#8 key PEM), the layout rustls loaders expect.
    pub fn issue_server_tls(
        &self,
        dns_names: &[String],
        ip_addresses: &[IpAddr],
    ) -> Result<(String, String), PkiError> {
        let key_der = generate_pkcs8(KeyKind::EcdsaP256)?;
        let key = rcgen_key(&key_der, KeyKind::EcdsaP256)?;
        let cn = dns_names.first().map_or("Annal server", String::as_str);
        let mut params = base_params(cn, SERVER_TLS_DAYS)?;
        for name in dns_names {
            let ia5 = name
                .clone()
                .try_into()
                .map_err(|_| PkiError::Issue(format!("bad DNS name {name:?}")))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params
            .subject_alt_names
            .extend(ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(issue_err)?;
        Ok((cert.pem() + &self.cert_pem, pem_encode("PRIVATE KEY", &key_der)))
    }
}

/// Parameters shared by every certificate: subject CN, random serial, end-entity basic
/// constraints (the CA overrides them), validity window.
fn base_params(common_name: &str, days: i64) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.serial_number = Some(random_serial()?);
    // Explicit CA:FALSE; rcgen also writes a subjectKeyIdentifier only for this setting (or a
    // CA), and CMS signers may name their certificate by it.
    params.is_ca = IsCa::ExplicitNoCa;
    let now = Utc::now();
    set_validity(
        &mut params,
        now - Duration::minutes(BACKDATE_MINUTES),
        now + Duration::days(days),
    );
    Ok(params)
}

/// `Annal CA 2026-12-05 3f9a1c`: the date and a random tag tell a rotated CA from the one it
/// replaced wherever only names are shown (a device's identity issuer, a TLS error, a
/// profile's payload list).
fn ca_name() -> Result<String, PkiError> {
    let mut tag = [0u8; 3];
    aws_lc_rs::rand::fill(&mut tag).map_err(|_| PkiError::Crypto("random CA name"))?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("Annal CA {} {tag}", chrono::Utc::now().format("%Y-%m-%d")))
}

/// 128 random bits with the top bit cleared (a positive INTEGER of at most 16 bytes) and the
/// next one set (always exactly 16 bytes, so serials never collapse to short values).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Crypto("random serial"))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// A fresh private key as PKCS#8 DER, generated by aws-lc-rs.
pub(crate) fn generate_pkcs8(kind: KeyKind) -> Result<Vec<u8>, PkiError> {
    match kind {
        KeyKind::Rsa2048 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| PkiError::Crypto("RSA key generation"))?;
            let der: Pkcs8V1Der<'static> = key.as_der().map_err(|_| PkiError::Crypto("RSA key encoding"))?;
            Ok(der.as_ref().to_vec())
        }
        KeyKind::EcdsaP256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| PkiError::Crypto("ECDSA key generation")),
    }
}

/// Wraps a PKCS#8 key for rcgen (aws-lc-rs backend). The algorithm is explicit because rcgen
/// would otherwise guess one per key type.
pub(crate) fn rcgen_key(pkcs8: &[u8], kind: KeyKind) -> Result<KeyPair, PkiError> {
    let alg = match kind {
        KeyKind::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
        KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8), alg).map_err(|_| PkiError::PrivateKey)
}

/// Creates `path` (failing if it exists) with `mode` on Unix, and flushes it to disk.
/// Writes `path` whole or not at all, never replacing a file that exists: the contents go to
/// a staging file first, which is then linked under the final name (a link, unlike a rename,
/// fails when the name is taken). Another process that sees the name reads it complete.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = std::path::PathBuf::from(staged);
    // A stray staging file from a crash keeps its mode when reopened: start a fresh one.
    let _ = fs::remove_file(&staged);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&staged).map_err(|e| io_err("creating", &staged, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("writing", &staged, e))?;
    let linked = fs::hard_link(&staged, path).map_err(|e| io_err("creating", path, e));
    // The staging name goes either way; a failure to remove it leaves only a stray copy.
    let _ = fs::remove_file(&staged);
    linked
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn issue_err(e: rcgen::Error) -> PkiError {
    PkiError::Issue(e.to_string())
}
