//! A certificate's life as the log tells it, in its own stream `identity-<fingerprint>`: how
//! Annal's CA issued it (and for whom), which enrollment claimed it, whether an admin revoked
//! it. Pure: the service reads the stream, folds it here, and asks.

use annal_schemas::events::identity::{CertificateIssued, IdentityClaimed};
use annal_schemas::Event;

/// `identity-<hex SHA-256 of the certificate>`.
pub fn stream(fingerprint_sha256: &str) -> String {
    format!("identity-{fingerprint_sha256}")
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityRecord {
    /// How Annal's CA issued it; None for a certificate from an external CA (or issued before
    /// issuance was recorded here).
    pub issued: Option<CertificateIssued>,
    /// The one enrollment the certificate belongs to.
    pub claimed_by: Option<String>,
    pub revoked: bool,
    /// The stream version the record was folded to (0: no stream).
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefusal {
    #[error("this identity certificate belongs to another enrollment")]
    InUse,
    #[error("this identity certificate was revoked")]
    Revoked,
}

impl IdentityRecord {
    pub fn evolve(&mut self, event: &Event, version: u64) {
        match event {
            Event::CertificateIssued(e) => self.issued = Some(e.clone()),
            // The first claim wins: a later one is never appended, but a log is read as written.
            Event::IdentityClaimed(c) if self.claimed_by.is_none() => self.claimed_by = Some(c.enrollment.clone()),
            Event::IdentityRevoked(_) => self.revoked = true,
            _ => {}
        }
        self.version = version;
    }

    /// Whether `enrollment` may use the certificate, and the claim to append if it is the first
    /// (None: already its own).
    pub fn decide_claim(
        &self,
        enrollment: &str,
        fingerprint_sha256: &str,
    ) -> Result<Option<IdentityClaimed>, ClaimRefusal> {
        if self.revoked {
            return Err(ClaimRefusal::Revoked);
        }
        match &self.claimed_by {
            Some(owner) if owner == enrollment => Ok(None),
            Some(_) => Err(ClaimRefusal::InUse),
            None => Ok(Some(IdentityClaimed {
                fingerprint_sha256: fingerprint_sha256.to_owned(),
                enrollment: enrollment.to_owned(),
            })),
        }
    }

    /// The fingerprint this certificate renews, if Annal issued it as a renewal.
    pub fn renewal_of(&self) -> Option<&str> {
        self.issued.as_ref().and_then(|i| i.renewal_of.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::events::identity::{CertificateInfo, IdentityRevoked};
    use chrono::Utc;

    fn issued(renewal_of: Option<&str>) -> Event {
        Event::CertificateIssued(CertificateIssued {
            certificate: CertificateInfo {
                fingerprint_sha256: "N".into(),
                serial_hex: "01".into(),
                subject: "CN=x".into(),
                issuer: "CN=ca".into(),
                not_before: Utc::now(),
                not_after: Utc::now(),
            },
            profile: "scep-renewal".into(),
            renewal_of: renewal_of.map(str::to_owned),
            challenge_sha256: None,
            static_challenge: false,
            enrollment_token_id: None,
            udid: None,
            serial_number: None,
            admin_bound: false,
        })
    }

    fn claimed(by: &str) -> Event {
        Event::IdentityClaimed(IdentityClaimed {
            fingerprint_sha256: "N".into(),
            enrollment: by.into(),
        })
    }

    fn fold(events: &[Event]) -> IdentityRecord {
        let mut r = IdentityRecord::default();
        for (i, e) in events.iter().enumerate() {
            r.evolve(e, i as u64 + 1);
        }
        r
    }

    #[test]
    fn a_certificate_is_claimed_by_one_enrollment_ever() {
        let fresh = fold(&[issued(Some("OLD"))]);
        assert_eq!(fresh.renewal_of(), Some("OLD"));
        let claim = fresh.decide_claim("UDID-1", "N").unwrap().expect("first claim");
        assert_eq!(claim.enrollment, "UDID-1");
        let owned = fold(&[issued(Some("OLD")), claimed("UDID-1")]);
        assert_eq!(owned.version, 2);
        assert_eq!(owned.decide_claim("UDID-1", "N"), Ok(None));
        assert_eq!(owned.decide_claim("UDID-2", "N"), Err(ClaimRefusal::InUse));
        // A log with two claims (never written by Annal) still belongs to the first.
        let twice = fold(&[claimed("UDID-1"), claimed("UDID-2")]);
        assert_eq!(twice.decide_claim("UDID-2", "N"), Err(ClaimRefusal::InUse));
    }

    #[test]
    fn a_revoked_certificate_is_claimed_by_nobody() {
        let revoked = Event::IdentityRevoked(IdentityRevoked {
            fingerprint_sha256: "N".into(),
            reason: None,
        });
        let r = fold(&[issued(None), claimed("UDID-1"), revoked]);
        assert!(r.revoked);
        assert_eq!(r.decide_claim("UDID-1", "N"), Err(ClaimRefusal::Revoked));
        assert_eq!(r.renewal_of(), None);
    }
}
