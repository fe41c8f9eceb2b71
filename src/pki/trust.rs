//! Trust anchors: the CA certificates a device identity must be issued by.
//!
//! Only direct issuance is supported (leaf signed by an anchor, no intermediates): Annal's CA
//! signs device identities itself, and an external SCEP CA is configured by the certificate that
//! actually signs the devices. Anchors are parsed once, including their aws-lc-rs public keys,
//! because the server verifies a certificate on every signed request; leaves that verified are
//! memoized (leaf_cache.rs).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;
use chrono::{DateTime, Utc};
use x509_parser::certificate::X509Certificate;

use super::algorithms::{public_key_bytes, verification_alg, DigestAlg, KeyAlg, SigScheme};
use super::codec::{asn1_to_chrono, pem_decode_all};
use super::identity::{fingerprint_bytes, parse_cert, VerifiedIdentity};
use super::leaf_cache::{check_validity, LeafCache, TrustedLeaf};
use super::PkiError;

/// One CA certificate, pre-parsed for the per-request path.
struct Anchor {
    cert_der: Vec<u8>,
    /// DER of the subject Name; a leaf's issuer must equal it byte for byte (RFC 5280 allows
    /// looser matching, but Annal's CA and SCEP CAs copy the issuer name verbatim).
    subject_der: Vec<u8>,
    key: KeyAlg,
    not_after: i64,
    /// The anchor's key parsed for each digest its family supports, indexed by `DigestAlg`.
    verifiers: [Option<ParsedPublicKey>; 4],
}

/// The set of CAs whose leaf certificates Annal accepts as device identities.
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
    /// Leaves that verified against these anchors (see leaf_cache.rs).
    cache: LeafCache,
    /// Device identities: a leaf must allow clientAuth or name no extended key usage.
    client_auth: bool,
    /// SHA-256 of the DER of certificates trusted by themselves, whatever their issuer: the
    /// identities a migration imported (`IdentityImported`). Exact certificates, never their
    /// CA, so nothing else the old CA signed gets in.
    pinned: HashSet<[u8; 32]>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("anchors", &self.anchors.len())
            .finish()
    }
}

impl TrustAnchors {
    /// Anchors from DER certificates (e.g. `vec![ca.cert_der().to_vec()]`). At least one.
    pub fn new(ca_ders: Vec<Vec<u8>>) -> Result<Self, PkiError> {
        if ca_ders.is_empty() {
            return Err(PkiError::NoAnchors);
        }
        let anchors = ca_ders.into_iter().map(Anchor::new).collect::<Result<_, _>>()?;
        Ok(Self {
            anchors,
            cache: LeafCache::default(),
            client_auth: false,
            pinned: HashSet::new(),
        })
    }

    /// These anchors for device identities: a leaf whose extendedKeyUsage lacks clientAuth
    /// (the server's own TLS certificate, any serverAuth-only certificate) is refused. Set
    /// before any leaf is verified, so the cache only ever holds leaves that passed.
    pub fn requiring_client_auth(mut self) -> Self {
        self.client_auth = true;
        self
    }

    /// These anchors plus exactly the certificates whose DER hashes (SHA-256) are `pinned`,
    /// accepted without their issuer (validity and key usage are still checked). Set before any
    /// leaf is verified.
    pub fn pinning(mut self, pinned: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.pinned.extend(pinned);
        self
    }

    /// How many certificates are trusted by their hash alone.
    pub fn pinned(&self) -> usize {
        self.pinned.len()
    }

    /// Anchors from every `CERTIFICATE` block of a PEM file (an external CA bundle).
    pub fn from_pem_file(path: &Path) -> Result<Self, PkiError> {
        let text = std::fs::read_to_string(path).map_err(|source| PkiError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let ders = pem_decode_all(&text)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der);
        Self::new(ders.collect())
    }

    /// These anchors plus those of `other` (Annal's CA + an external CA). Cached verdicts stay
    /// valid: adding anchors never makes a verified leaf untrusted.
    pub fn merged(mut self, other: TrustAnchors) -> Self {
        self.anchors.extend(other.anchors);
        self.pinned.extend(other.pinned);
        self
    }

    /// Number of memoized leaves (tests check what gets cached).
    #[cfg(test)]
    pub(crate) fn cached_leaves(&self) -> usize {
        self.cache.len()
    }

    /// DER of every anchor, in order (for the enrollment profile's CA payloads).
    pub fn cert_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.anchors.iter().map(|a| a.cert_der.as_slice())
    }

    /// Checks that `leaf_der` is valid at `now` and directly signed by one of the anchors, and
    /// describes it.
    pub fn verify_leaf(&self, leaf_der: &[u8], now: DateTime<Utc>) -> Result<VerifiedIdentity, PkiError> {
        let fingerprint = fingerprint_bytes(leaf_der);
        let leaf = match self.cached(&fingerprint, now)? {
            Some(leaf) => leaf,
            None => self.verify_uncached(fingerprint, leaf_der, &parse_cert(leaf_der)?, now)?,
        };
        Ok(leaf.identity.clone())
    }

    /// [`Self::verify_leaf`] for a certificate the caller has already parsed from `der`,
    /// returning the cached entry (identity plus parsed public key).
    pub(crate) fn trusted_leaf(
        &self,
        der: &[u8],
        cert: &X509Certificate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<TrustedLeaf>, PkiError> {
        let fingerprint = fingerprint_bytes(der);
        match self.cached(&fingerprint, now)? {
            Some(leaf) => Ok(leaf),
            None => self.verify_uncached(fingerprint, der, cert, now),
        }
    }

    fn cached(&self, fingerprint: &[u8; 32], now: DateTime<Utc>) -> Result<Option<Arc<TrustedLeaf>>, PkiError> {
        let Some(leaf) = self.cache.get(fingerprint) else {
            return Ok(None);
        };
        leaf.check_time(now)?;
        Ok(Some(leaf))
    }

    fn verify_uncached(
        &self,
        fingerprint: [u8; 32],
        der: &[u8],
        cert: &X509Certificate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<TrustedLeaf>, PkiError> {
        let validity = cert.validity();
        check_validity(
            asn1_to_chrono(validity.not_before)?,
            asn1_to_chrono(validity.not_after)?,
            now,
        )?;
        let trusted_until = match self.issuing_anchor(cert, now) {
            Ok(anchor) => anchor.not_after,
            // This exact certificate was an enrollment's identity on the server the log was
            // migrated from: trusted by its bytes, its issuer still not at all.
            Err(_) if self.pinned.contains(&fingerprint) => asn1_to_chrono(validity.not_after)?.timestamp(),
            Err(e) => return Err(e),
        };
        if self.client_auth {
            check_client_auth(cert)?;
        }
        let identity = VerifiedIdentity::from_parsed(der, cert, &fingerprint)?;
        let spki = cert.public_key();
        let key = KeyAlg::from_spki(spki).ok();
        let key_bytes = key.map(|k| public_key_bytes(spki, k).to_vec()).unwrap_or_default();
        let leaf = Arc::new(TrustedLeaf::new(identity, key, key_bytes, trusted_until));
        self.cache.insert(fingerprint, Arc::clone(&leaf));
        Ok(leaf)
    }

    /// The anchor whose key verifies the certificate's signature.
    fn issuing_anchor(&self, cert: &X509Certificate<'_>, now: DateTime<Utc>) -> Result<&Anchor, PkiError> {
        let sig_oid = &cert.signature_algorithm.algorithm;
        // The signed copy of the algorithm must agree with the unsigned one (RFC 5280 §4.1.1.2).
        if cert.tbs_certificate.signature.algorithm != *sig_oid {
            return Err(PkiError::Certificate("signature algorithm fields disagree".to_owned()));
        }
        let (scheme, digest) = SigScheme::from_oid_bytes(sig_oid.as_bytes())
            .and_then(|s| Some((s, s.digest_or(None)?)))
            .ok_or_else(|| PkiError::UnsupportedAlgorithm(sig_oid.to_id_string()))?;

        let issuer_der = cert.issuer().as_raw();
        let mut issuers = self.anchors.iter().filter(|a| a.subject_der == issuer_der).peekable();
        if issuers.peek().is_none() {
            return Err(PkiError::UnknownIssuer(cert.issuer().to_string()));
        }
        let tbs = cert.tbs_certificate.as_ref();
        let signature = cert.signature_value.data.as_ref();
        let mut last_err = PkiError::BadCertificateSignature;
        // Several anchors may share a subject (a renewed CA); any one verifying is enough.
        for anchor in issuers {
            if now.timestamp() > anchor.not_after {
                last_err = PkiError::Expired(DateTime::from_timestamp(anchor.not_after, 0).unwrap_or(now));
                continue;
            }
            let key = match (anchor.key, scheme) {
                (KeyAlg::Rsa, SigScheme::Rsa(_)) | (KeyAlg::EcP256 | KeyAlg::EcP384, SigScheme::Ecdsa(_)) => {
                    anchor.verifiers[digest.index()].as_ref()
                }
                _ => None,
            };
            match key {
                Some(key) if key.verify_sig(tbs, signature).is_ok() => return Ok(anchor),
                Some(_) => last_err = PkiError::BadCertificateSignature,
                None => last_err = PkiError::UnsupportedAlgorithm(sig_oid.to_id_string()),
            }
        }
        Err(last_err)
    }
}

/// clientAuth, or no extendedKeyUsage at all (a certificate for every purpose). An extension
/// that cannot be parsed is refused, not ignored.
fn check_client_auth(cert: &X509Certificate<'_>) -> Result<(), PkiError> {
    let eku = match cert.extended_key_usage() {
        Ok(None) => return Ok(()),
        Ok(Some(ext)) => ext.value,
        Err(e) => return Err(PkiError::Certificate(format!("extendedKeyUsage: {e}"))),
    };
    if eku.client_auth {
        return Ok(());
    }
    let mut named: Vec<String> = [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name.to_owned())
    .collect();
    named.extend(eku.other.iter().map(|oid| oid.to_id_string()));
    Err(PkiError::NotClientAuth(named.join(", ")))
}

impl Anchor {
    fn new(cert_der: Vec<u8>) -> Result<Self, PkiError> {
        let cert = parse_cert(&cert_der)?;
        let spki = cert.public_key();
        let key = KeyAlg::from_spki(spki).map_err(PkiError::UnsupportedAlgorithm)?;
        let key_bytes = public_key_bytes(spki, key);
        let scheme = match key {
            KeyAlg::Rsa => SigScheme::Rsa(None),
            KeyAlg::EcP256 | KeyAlg::EcP384 => SigScheme::Ecdsa(None),
        };
        let verifiers = DigestAlg::ALL
            .map(|d| verification_alg(key, scheme, d).and_then(|alg| ParsedPublicKey::new(alg, key_bytes).ok()));
        if verifiers.iter().all(Option::is_none) {
            return Err(PkiError::Certificate(
                "the CA public key is unusable (RSA under 2048 bits?)".to_owned(),
            ));
        }
        let not_after = cert.validity().not_after.timestamp();
        let subject_der = cert.subject().as_raw().to_vec();
        Ok(Self {
            cert_der,
            subject_der,
            key,
            not_after,
            verifiers,
        })
    }
}
