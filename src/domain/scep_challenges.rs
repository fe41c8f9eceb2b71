//! One-time SCEP challenges: whether a challenge's stream allows one more use. Pure: the
//! service's aggregate runner reads the stream, asks, and appends `ScepChallengeConsumed` at
//! the version it read.

use annal_schemas::events::scep::{ScepChallengeConsumed, ScepChallengeIssued};
use annal_schemas::Event;
use chrono::{DateTime, Utc};

/// `scep-challenge-<hex SHA-256 of the challenge>`.
pub fn stream(challenge_sha256: &str) -> String {
    format!("scep-challenge-{challenge_sha256}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    #[error("the challenge is unknown")]
    Unknown,
    #[error("the challenge was already used")]
    AlreadyUsed,
    #[error("the challenge expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the enrollment token that issued the challenge was revoked")]
    TokenRevoked,
}

/// A challenge's stream, folded: its events as they are (an issue and at most one use).
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    pub history: Vec<Event>,
}

/// Use the challenge once, for the request `transaction_id` asking for `subject`.
#[derive(Debug, Clone)]
pub struct Consume {
    pub challenge_sha256: String,
    pub transaction_id: String,
    pub subject: String,
    /// The enrollment token that issued the challenge was revoked since.
    pub token_revoked: bool,
    pub now: DateTime<Utc>,
}

impl Challenge {
    pub fn evolve(&mut self, event: &Event) {
        self.history.push(event.clone());
    }

    pub fn issued(&self, challenge_sha256: &str) -> Option<&ScepChallengeIssued> {
        issued_event(&self.history, challenge_sha256)
    }

    pub fn decide(&self, c: &Consume) -> Result<ScepChallengeConsumed, ChallengeRefusal> {
        decide_consume(
            &self.history,
            &c.challenge_sha256,
            &c.transaction_id,
            &c.subject,
            c.token_revoked,
            c.now,
        )
        .map(|(consumed, _)| consumed)
    }
}

/// How the challenge was issued (token, device), if the history holds it.
pub fn issued_event<'a>(history: &'a [Event], challenge_sha256: &str) -> Option<&'a ScepChallengeIssued> {
    history.iter().find_map(|e| match e {
        Event::ScepChallengeIssued(i) if i.challenge_sha256 == challenge_sha256 => Some(i),
        _ => None,
    })
}

/// Given the stream's events (in order) and whether the enrollment token that issued the
/// challenge has been revoked since, the event that consumes the challenge and the stream
/// version it must be appended at.
pub fn decide_consume(
    history: &[Event],
    challenge_sha256: &str,
    transaction_id: &str,
    subject: &str,
    token_revoked: bool,
    now: DateTime<Utc>,
) -> Result<(ScepChallengeConsumed, u64), ChallengeRefusal> {
    let mut issued = None;
    for event in history {
        match event {
            Event::ScepChallengeIssued(i) if i.challenge_sha256 == challenge_sha256 => issued = Some(i),
            Event::ScepChallengeConsumed(_) => return Err(ChallengeRefusal::AlreadyUsed),
            _ => {}
        }
    }
    let issued = issued.ok_or(ChallengeRefusal::Unknown)?;
    if token_revoked {
        return Err(ChallengeRefusal::TokenRevoked);
    }
    if let Some(expires_at) = issued.expires_at {
        if now >= expires_at {
            return Err(ChallengeRefusal::Expired(expires_at));
        }
    }
    Ok((
        ScepChallengeConsumed {
            challenge_sha256: challenge_sha256.to_owned(),
            transaction_id: transaction_id.to_owned(),
            subject: subject.to_owned(),
        },
        history.len() as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn issued(expires_at: Option<DateTime<Utc>>) -> Event {
        Event::ScepChallengeIssued(ScepChallengeIssued {
            challenge_sha256: "ab".into(),
            expires_at,
            enrollment_token_id: Some("tok".into()),
            udid: None,
            serial_number: None,
            admin_bound: false,
        })
    }

    #[test]
    fn consumes_once() {
        let now = Utc::now();
        let history = vec![issued(None)];
        let (consumed, version) = decide_consume(&history, "ab", "t1", "CN=x", false, now).expect("consumable");
        assert_eq!(version, 1);
        assert_eq!(consumed.transaction_id, "t1");
        let used = vec![issued(None), Event::ScepChallengeConsumed(consumed)];
        assert_eq!(
            decide_consume(&used, "ab", "t2", "CN=x", false, now),
            Err(ChallengeRefusal::AlreadyUsed)
        );
    }

    #[test]
    fn unknown_and_expired_are_refused() {
        let now = Utc::now();
        assert_eq!(
            decide_consume(&[], "ab", "t", "CN=x", false, now),
            Err(ChallengeRefusal::Unknown)
        );
        let past = now - Duration::seconds(1);
        assert_eq!(
            decide_consume(&[issued(Some(past))], "ab", "t", "CN=x", false, now),
            Err(ChallengeRefusal::Expired(past))
        );
        let future = now + Duration::minutes(5);
        assert!(decide_consume(&[issued(Some(future))], "ab", "t", "CN=x", false, now).is_ok());
    }

    #[test]
    fn a_revoked_token_voids_its_challenges() {
        let now = Utc::now();
        let history = vec![issued(None)];
        assert_eq!(
            issued_event(&history, "ab").and_then(|i| i.enrollment_token_id.as_deref()),
            Some("tok")
        );
        assert_eq!(
            decide_consume(&history, "ab", "t", "CN=x", true, now),
            Err(ChallengeRefusal::TokenRevoked)
        );
    }
}
