//! The body signature NanoMDM sends with its webhooks: `X-Hmac-Signature` holds the base64 of
//! HMAC-SHA256 over the exact body bytes, keyed with a secret shared with the receiver.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const SIGNATURE_HEADER: &str = "X-Hmac-Signature";

/// A signing key. Its Debug never shows the key.
#[derive(Clone)]
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(HMAC-SHA256)")
    }
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The header value for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        B64.encode(hmac::sign(&self.key, body).as_ref())
    }

    /// Whether `signature` (a header value) is this key's signature of `body`, compared in
    /// constant time: what a receiver does.
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        match B64.decode(signature.trim()) {
            Ok(tag) => hmac::verify(&self.key, body, &tag).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_and_verifies() {
        // RFC 4231, test case 2.
        let signer = Signer::new(b"Jefe");
        let body = b"what do ya want for nothing?";
        let expected = hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").unwrap();
        assert_eq!(signer.sign(body), B64.encode(expected));
        assert!(signer.verify(body, &signer.sign(body)));
        assert!(!signer.verify(b"what do ya want for something?", &signer.sign(body)));
        assert!(!Signer::new(b"other").verify(body, &signer.sign(body)));
        assert!(!signer.verify(body, "not base64!"));
        assert_eq!(format!("{signer:?}"), "Signer(HMAC-SHA256)");
    }
}
