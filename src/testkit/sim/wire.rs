//! How the simulated devices behave on the wire. The default is the cheap load generator
//! (mostly ECDSA identities, DER signatures, keep-alive connections); `WireProfile::real()` is
//! what real Apple devices do: RSA-2048 identities, a signature on every request (never a TLS
//! client certificate), some signatures in BER with indefinite lengths, no Content-Type on the
//! command channel, and a new connection every few requests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Every field can be set alone (`annal sim --ber-every 3`), so a server that does not accept
/// one of them yet can still be driven with the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireProfile {
    /// Every device identity is RSA-2048 (otherwise nine in ten are ECDSA P-256).
    pub rsa_identities: bool,
    /// Every Nth signed request of a device carries its signature in BER with indefinite
    /// lengths; 0: always DER.
    pub ber_every: u64,
    /// Command-channel requests (Idle, results) carry no Content-Type header.
    pub omit_content_type: bool,
    /// Every Nth request of a device asks for the connection to be closed after it
    /// (`Connection: close`), so its next request opens a new one; 0: keep-alive throughout.
    pub reconnect_every: u64,
    /// Never present a TLS client certificate: prove the identity with Mdm-Signature alone,
    /// as a device whose enrollment profile sets SignMessage does.
    pub signature_only: bool,
}

impl WireProfile {
    /// Real Apple devices: RSA-2048, BER on every third signature, a bare command channel, a
    /// new connection about one request in four.
    pub fn real() -> Self {
        Self {
            rsa_identities: true,
            ber_every: 3,
            omit_content_type: true,
            reconnect_every: 4,
            signature_only: true,
        }
    }

    /// Whether the profile forbids TLS client certificates: asked for, or implied by BER
    /// signatures (BER is a property of the Mdm-Signature).
    pub fn signs_every_request(&self) -> bool {
        self.signature_only || self.ber_every > 0
    }
}

/// A device's count of requests, deciding which ones get BER and which close the connection.
#[derive(Debug, Default)]
pub struct WireCounter {
    signed: AtomicU64,
    sent: AtomicU64,
    ber: AtomicU64,
    closes: AtomicU64,
}

impl WireCounter {
    /// Whether the next signature is BER (the Nth, 2Nth, … of this device).
    pub fn next_signature_is_ber(&self, profile: &WireProfile) -> bool {
        let n = self.signed.fetch_add(1, Ordering::Relaxed) + 1;
        let ber = profile.ber_every > 0 && n.is_multiple_of(profile.ber_every);
        self.ber.fetch_add(ber as u64, Ordering::Relaxed);
        ber
    }

    /// Whether the next request closes its connection after the answer.
    pub fn next_request_closes(&self, profile: &WireProfile) -> bool {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let closes = profile.reconnect_every > 0 && n.is_multiple_of(profile.reconnect_every);
        self.closes.fetch_add(closes as u64, Ordering::Relaxed);
        closes
    }

    /// (requests that closed their connection, BER signatures) so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.closes.load(Ordering::Relaxed), self.ber.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_request_gets_ber_and_a_new_connection() {
        let profile = WireProfile::real();
        let counter = WireCounter::default();
        let ber: Vec<bool> = (0..9).map(|_| counter.next_signature_is_ber(&profile)).collect();
        assert_eq!(ber, [false, false, true, false, false, true, false, false, true]);
        let closes = (0..8).filter(|_| counter.next_request_closes(&profile)).count();
        assert_eq!(closes, 2);
        assert_eq!(counter.totals(), (2, 3));
        let plain = WireProfile::default();
        assert!(!(0..10).any(|_| counter.next_signature_is_ber(&plain) || counter.next_request_closes(&plain)));
        assert!(profile.signs_every_request() && !plain.signs_every_request());
    }

    #[test]
    fn the_real_profile_issues_rsa_identities_and_signs_with_attributes() {
        let ca = crate::pki::test_support::ca();
        let real = crate::testkit::sim::issue_devices_for(3, ca, &WireProfile::real()).expect("issue");
        assert!(real.iter().all(|d| crate::pki::has_rsa_key(&d.identity.cert_der)));
        let mixed = crate::testkit::sim::issue_devices_for(3, ca, &WireProfile::default()).expect("issue");
        assert!(mixed.iter().all(|d| !crate::pki::has_rsa_key(&d.identity.cert_der)));
        // Its DER signature verifies, and so does the request's body only.
        let body = real[0].authenticate("com.apple.mgmt.test");
        let der = real[0].sign_der(&body).expect("sign");
        let header = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
        let anchors = crate::pki::TrustAnchors::new(vec![ca.cert_der().to_vec()]).expect("anchors");
        crate::pki::verify_mdm_signature(&header, &body, &anchors, chrono::Utc::now()).expect("verifies");
        assert!(crate::pki::verify_mdm_signature(&header, b"other", &anchors, chrono::Utc::now()).is_err());
    }
}
