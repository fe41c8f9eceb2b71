//! Shared fixtures for the PKI tests: RSA key generation is slow, so CAs and identities are
//! created once per test binary.

use std::sync::OnceLock;

use super::{Ca, DeviceIdentity, KeyKind, TrustAnchors};

fn new_ca() -> Ca {
    // The CA lives in memory after loading; its directory is not needed afterwards.
    let dir = tempfile::tempdir().expect("temp dir");
    // One fixed name for both test CAs: a forged issuer must be caught by its signature.
    Ca::init_named(dir.path(), "Annal CA").expect("CA")
}

/// Annal's CA for the tests.
pub(crate) fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(new_ca)
}

/// A second, unrelated CA with the same subject name as [`ca`].
pub(crate) fn other_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(new_ca)
}

pub(crate) fn anchors() -> TrustAnchors {
    TrustAnchors::new(vec![ca().cert_der().to_vec()]).expect("anchors")
}

/// A device identity issued by [`ca`], valid for a year.
pub(crate) fn identity(kind: KeyKind) -> &'static DeviceIdentity {
    static RSA: OnceLock<DeviceIdentity> = OnceLock::new();
    static EC: OnceLock<DeviceIdentity> = OnceLock::new();
    let cell = match kind {
        KeyKind::Rsa2048 => &RSA,
        KeyKind::EcdsaP256 => &EC,
    };
    cell.get_or_init(|| {
        ca().issue_device_identity(&format!("device-{kind:?}"), kind, 365)
            .expect("identity")
    })
}
