//! Secrets inside events (PushMagic, UnlockToken, BootstrapToken, PINs) are stored sealed:
//! encrypted with the server's data key, so the event stream, exports and logs never carry them
//! in clear while the server can still open them when an operation needs them (a push, a
//! ClearPasscode, a GetBootstrapToken).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sealed {
    /// The AEAD algorithm, `A256GCM`.
    pub alg: String,
    /// Which data key sealed it, so keys can be rotated.
    pub key_id: String,
    /// Base64 of the 96-bit nonce.
    pub nonce: String,
    /// Base64 of ciphertext ‖ tag.
    pub ciphertext: String,
}

// A sealed value is opaque; its Debug never shows even the ciphertext, so a stray `{:?}` in a
// log line stays short and obviously redacted.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({}, key {})", self.alg, self.key_id)
    }
}

/// Whether an envelope's `raw` is sealed: a sealed raw is the JSON of a [`Sealed`] (it starts
/// with `{`), and a plist, XML or binary, never does. Readers of the log (the API, webhooks,
/// projections) use this one test so they cannot disagree about what is secret.
pub fn is_sealed_raw(raw: &[u8]) -> bool {
    raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}
