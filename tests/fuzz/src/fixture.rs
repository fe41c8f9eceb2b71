//! The fixture CA (`fixtures/ca/`): a throwaway CA made by `examples/seeds.rs` and committed, so
//! the seed signatures and SCEP envelopes chain to the CA the targets trust, and mutated inputs
//! can reach the code that runs after trust and decryption succeed. It protects nothing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use annal::pki::{Ca, TrustAnchors};

pub fn ca_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ca")
}

/// Loaded once per process: RSA key parsing would otherwise dominate every run.
pub fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| match Ca::load_or_init(&ca_dir()) {
        Ok(ca) => ca,
        Err(e) => panic!("fixture CA in {}: {e}", ca_dir().display()),
    })
}

/// Annal's CA alone, as the server's SCEP service and Mdm-Signature check hold it. Shared
/// across runs like the server's (its leaf cache included).
pub fn anchors() -> &'static TrustAnchors {
    static ANCHORS: OnceLock<TrustAnchors> = OnceLock::new();
    ANCHORS.get_or_init(fresh_anchors)
}

/// A new set with an empty leaf cache, to check a verdict against the cached one.
pub fn fresh_anchors() -> TrustAnchors {
    match TrustAnchors::new(vec![ca().cert_der().to_vec()]) {
        Ok(anchors) => anchors,
        Err(e) => panic!("fixture CA as trust anchor: {e}"),
    }
}
