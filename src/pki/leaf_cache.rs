//! Memo of device certificates that already verified against the trust anchors.
//!
//! A device sends the same certificate with every request. Re-checking the CA's signature on
//! it (~27 µs) and re-parsing its public key (~5–15 µs) were about half of
//! `verify_mdm_signature` (65–85 µs in release), so both are kept per certificate, keyed by
//! the SHA-256 of its DER. Identical DER means identical issuer and signature, and anchors are
//! only ever added, so a cached verdict stays right; validity dates are still checked on every
//! use. Only certificates that verified get in, so untrusted input cannot fill the cache.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use aws_lc_rs::signature::ParsedPublicKey;
use chrono::{DateTime, Utc};

use super::algorithms::{verification_alg, DigestAlg, KeyAlg, SigScheme};
use super::{PkiError, VerifiedIdentity};

/// Bounds memory (a few KB per entry) for fleets far larger than any one server's working set;
/// beyond it an arbitrary entry is evicted per insert.
const CAPACITY: usize = 16_384;

/// Tolerated lead of a certificate's notBefore over our clock (issuer clocks differ a little).
const NOT_BEFORE_SKEW_SECONDS: i64 = 300;

/// A leaf certificate that verified against an anchor, with its key ready for signatures.
pub(crate) struct TrustedLeaf {
    pub(crate) identity: VerifiedIdentity,
    /// `None` for key types Annal cannot verify signatures with (the certificate can still be
    /// a valid TLS client identity).
    key: Option<KeyAlg>,
    key_bytes: Vec<u8>,
    /// The issuing anchor's notAfter: the leaf stops being trusted when its CA expires.
    anchor_not_after: i64,
    /// The public key parsed by aws-lc-rs for each digest, on first use (indexed by `DigestAlg`).
    parsed: [OnceLock<Option<ParsedPublicKey>>; 4],
}

impl TrustedLeaf {
    pub(crate) fn new(
        identity: VerifiedIdentity,
        key: Option<KeyAlg>,
        key_bytes: Vec<u8>,
        anchor_not_after: i64,
    ) -> Self {
        let parsed = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
        Self {
            identity,
            key,
            key_bytes,
            anchor_not_after,
            parsed,
        }
    }

    /// Validity of the leaf (with notBefore skew) and of its anchor at `now`.
    pub(crate) fn check_time(&self, now: DateTime<Utc>) -> Result<(), PkiError> {
        check_validity(self.identity.not_before, self.identity.not_after, now)?;
        if now.timestamp() > self.anchor_not_after {
            let anchor_end = DateTime::from_timestamp(self.anchor_not_after, 0).unwrap_or(now);
            return Err(PkiError::Expired(anchor_end));
        }
        Ok(())
    }

    /// The leaf's key for `scheme` signatures hashed with `digest`; `None` when this key
    /// cannot make such signatures or aws-lc-rs refuses it.
    pub(crate) fn public_key(&self, scheme: SigScheme, digest: DigestAlg) -> Option<&ParsedPublicKey> {
        let key = self.key?;
        let alg = verification_alg(key, scheme, digest)?;
        self.parsed[digest.index()]
            .get_or_init(|| ParsedPublicKey::new(alg, &self.key_bytes).ok())
            .as_ref()
    }
}

/// Validity window check shared by the cached and uncached paths.
pub(crate) fn check_validity(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), PkiError> {
    if now.timestamp() + NOT_BEFORE_SKEW_SECONDS < not_before.timestamp() {
        return Err(PkiError::NotYetValid(not_before));
    }
    if now > not_after {
        return Err(PkiError::Expired(not_after));
    }
    Ok(())
}

/// Fingerprint → verified leaf.
#[derive(Default)]
pub(crate) struct LeafCache {
    map: RwLock<HashMap<[u8; 32], Arc<TrustedLeaf>>>,
}

impl LeafCache {
    pub(crate) fn get(&self, fingerprint: &[u8; 32]) -> Option<Arc<TrustedLeaf>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(fingerprint).cloned()
    }

    pub(crate) fn insert(&self, fingerprint: [u8; 32], leaf: Arc<TrustedLeaf>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY && !map.contains_key(&fingerprint) {
            // HashMap order is effectively random: this evicts an arbitrary entry.
            if let Some(victim) = map.keys().next().copied() {
                map.remove(&victim);
            }
        }
        map.insert(fingerprint, leaf);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }
}
