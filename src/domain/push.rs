//! Push decisions as pure functions: whom a push can reach, what an APNs answer means, how long
//! to wait before trying again, and which topics a push certificate may serve.

use std::time::Duration;

use annal_schemas::Sealed;

use super::enrollment::{DeviceInput, Enrollment, Input, Phase, Refusal};

/// What a push to one enrollment needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub token_hex: String,
    pub push_magic: Sealed,
    /// The topic the device enrolled with (its Authenticate).
    pub topic: Option<String>,
}

/// Why an enrollment cannot be pushed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoPush {
    #[error("not enrolled: no TokenUpdate yet")]
    NotEnrolled,
    #[error("checked out")]
    CheckedOut,
    /// APNs said the token is dead; the next TokenUpdate brings a new one.
    #[error("the push token is dead (APNs: Unregistered or BadDeviceToken) until the next TokenUpdate")]
    TokenDead,
}

pub fn target(state: &Enrollment) -> Result<Target, NoPush> {
    match state.phase {
        Phase::CheckedOut => return Err(NoPush::CheckedOut),
        Phase::Unknown | Phase::Authenticated => return Err(NoPush::NotEnrolled),
        Phase::Enrolled => {}
    }
    if state.token_dead {
        return Err(NoPush::TokenDead);
    }
    match (&state.token_hex, &state.push_magic) {
        (Some(token_hex), Some(push_magic)) => Ok(Target {
            token_hex: token_hex.clone(),
            push_magic: push_magic.clone(),
            topic: state.topic.clone(),
        }),
        _ => Err(NoPush::NotEnrolled),
    }
}

/// What an APNs answer means for this push and for the ones after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// The token will never work again (until the device sends a new one).
    TokenDead,
    /// Transient (429, 5xx, no answer): try again after a backoff.
    Retry,
    /// APNs refused the certificate or its topic: every push would fail the same way, so stop
    /// pushing and raise an alarm rather than hammer APNs.
    CertificateRejected,
    /// This push is wrong and retrying will not help (a malformed request).
    Failed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::TokenDead => "token_dead",
            Verdict::Retry => "retry",
            Verdict::CertificateRejected => "certificate_rejected",
            Verdict::Failed => "failed",
        }
    }
}

/// Classifies an answer by its HTTP status and APNs `reason` (Apple's "Handling notification
/// responses from APNs"). Status 0 is "no answer": `reason` then holds the transport error.
pub fn classify(status: u16, reason: Option<&str>) -> Verdict {
    let reason = reason.unwrap_or_default();
    match (status, reason) {
        (200, _) => Verdict::Accepted,
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Verdict::TokenDead,
        (403, _) | (400, "TopicDisallowed" | "BadTopic" | "MissingTopic" | "BadCertificate") => {
            Verdict::CertificateRejected
        }
        (0, detail) if tls_certificate_refused(detail) => Verdict::CertificateRejected,
        (0, _) | (429, _) | (500..=599, _) => Verdict::Retry,
        _ => Verdict::Failed,
    }
}

/// Why a push failed, for operators (a log line and `annal_push_failures_total{class}` each):
/// `unreachable` (no answer: network, DNS, TLS), `throttled` (429), `apns_error` (5xx),
/// `certificate_refused`, `token_dead`, `rejected` (any other refusal of this push). `None` for
/// an accepted push.
pub fn failure_class(status: u16, verdict: Verdict) -> Option<&'static str> {
    Some(match verdict {
        Verdict::Accepted => return None,
        Verdict::TokenDead => "token_dead",
        Verdict::CertificateRejected => "certificate_refused",
        Verdict::Failed => "rejected",
        Verdict::Retry => match status {
            0 => "unreachable",
            429 => "throttled",
            _ => "apns_error",
        },
    })
}

/// APNs refuses a revoked, expired or unknown client certificate in the TLS handshake, with a
/// fatal alert rustls reports as e.g. "received fatal alert: CertificateExpired" (or
/// UnknownCA, AccessDenied, HandshakeFailure): retrying cannot help, so every received fatal
/// alert counts as a refusal of the certificate.
fn tls_certificate_refused(detail: &str) -> bool {
    detail.contains("received fatal alert")
}

/// Retries wait 1 s, 2 s, 4 s, … up to `max`, or what the answer's Retry-After asked if longer.
pub fn backoff(attempt: u32, retry_after_secs: Option<u64>, max: Duration) -> Duration {
    let exp = crate::backoff::Backoff::new(Duration::from_secs(1), max).step(attempt);
    let wanted = retry_after_secs.map(Duration::from_secs).unwrap_or_default();
    exp.max(wanted.min(max * 4))
}

/// A device can only be woken with a certificate for the topic it enrolls with: once a push
/// certificate is installed, an Authenticate or a TokenUpdate with another topic is refused (it
/// would enroll a device, or a new push token, nobody can push).
/// `installed` is asked only for those two messages: every other device request passes untouched.
pub fn check_topic(input: &Input, installed: impl FnOnce() -> Option<String>) -> Result<(), Refusal> {
    let Input::Device { input, .. } = input else {
        return Ok(());
    };
    let (message_type, sent) = match &**input {
        DeviceInput::Authenticate(a) => ("Authenticate", &a.topic),
        DeviceInput::TokenUpdate(t) => ("TokenUpdate", &t.topic),
        _ => return Ok(()),
    };
    match installed() {
        Some(installed) if *sent != installed => Err(Refusal::WrongTopic {
            message_type,
            sent: sent.clone(),
            installed,
        }),
        _ => Ok(()),
    }
}

/// Devices enrolled under one topic can only be woken with a certificate for that topic: a
/// renewal under another topic would silently orphan them, so it is refused unless forced.
pub fn check_renewal_topic<'a>(
    new_topic: &str,
    enrolled_topics: impl IntoIterator<Item = &'a str>,
) -> Result<(), TopicConflict> {
    let others: Vec<String> = enrolled_topics
        .into_iter()
        .filter(|t| *t != new_topic)
        .map(str::to_owned)
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(TopicConflict {
            new_topic: new_topic.to_owned(),
            enrolled: others,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the new push certificate's topic {new_topic} differs from the topic devices are enrolled with ({}): \
     they could no longer be pushed and would have to re-enroll. Renew the certificate for the same \
     Apple ID in Apple's portal (same topic), or force it",
    enrolled.join(", ")
)]
pub struct TopicConflict {
    pub new_topic: String,
    pub enrolled: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_a_class_an_operator_can_act_on() {
        let class = |status, reason| failure_class(status, classify(status, reason));
        assert_eq!(class(200, None), None);
        assert_eq!(
            class(0, Some("tcp connect error: Connection refused")),
            Some("unreachable")
        );
        assert_eq!(
            class(0, Some("received fatal alert: CertificateExpired")),
            Some("certificate_refused")
        );
        assert_eq!(class(403, Some("BadCertificate")), Some("certificate_refused"));
        assert_eq!(class(429, Some("TooManyRequests")), Some("throttled"));
        assert_eq!(class(503, Some("ServiceUnavailable")), Some("apns_error"));
        assert_eq!(class(410, Some("Unregistered")), Some("token_dead"));
        assert_eq!(class(400, Some("PayloadEmpty")), Some("rejected"));
    }

    #[test]
    fn classifies_apns_answers() {
        assert_eq!(classify(200, None), Verdict::Accepted);
        assert_eq!(classify(410, Some("Unregistered")), Verdict::TokenDead);
        assert_eq!(classify(400, Some("BadDeviceToken")), Verdict::TokenDead);
        assert_eq!(classify(400, Some("DeviceTokenNotForTopic")), Verdict::TokenDead);
        assert_eq!(classify(403, Some("BadCertificate")), Verdict::CertificateRejected);
        assert_eq!(
            classify(403, Some("BadCertificateEnvironment")),
            Verdict::CertificateRejected
        );
        assert_eq!(classify(400, Some("TopicDisallowed")), Verdict::CertificateRejected);
        assert_eq!(classify(429, Some("TooManyRequests")), Verdict::Retry);
        assert_eq!(classify(500, Some("InternalServerError")), Verdict::Retry);
        assert_eq!(classify(503, Some("ServiceUnavailable")), Verdict::Retry);
        assert_eq!(classify(0, Some("connection reset")), Verdict::Retry);
        for alert in [
            "CertificateExpired",
            "BadCertificate",
            "UnknownCA",
            "AccessDenied",
            "HandshakeFailure",
        ] {
            let detail = format!("client error (Connect): received fatal alert: {alert}");
            assert_eq!(classify(0, Some(&detail)), Verdict::CertificateRejected, "{alert}");
        }
        assert_eq!(classify(400, Some("PayloadTooLarge")), Verdict::Failed);
        assert_eq!(classify(413, None), Verdict::Failed);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(1, None, max), Duration::from_secs(1));
        assert_eq!(backoff(2, None, max), Duration::from_secs(2));
        assert_eq!(backoff(4, None, max), Duration::from_secs(8));
        assert_eq!(backoff(30, None, max), max);
        assert_eq!(backoff(1, Some(30), max), Duration::from_secs(30));
    }

    #[test]
    fn renewal_under_another_topic_is_a_conflict() {
        assert!(check_renewal_topic("com.apple.mgmt.A", ["com.apple.mgmt.A"]).is_ok());
        assert!(check_renewal_topic("com.apple.mgmt.A", []).is_ok());
        let err =
            check_renewal_topic("com.apple.mgmt.B", ["com.apple.mgmt.A", "com.apple.mgmt.B"]).expect_err("conflict");
        assert_eq!(err.enrolled, vec!["com.apple.mgmt.A".to_owned()]);
        assert!(err.to_string().contains("com.apple.mgmt.A"));
    }

    #[test]
    fn authenticate_and_token_update_must_name_the_installed_topic() {
        use crate::domain::enrollment::{CheckOut, TokenUpdate};
        use crate::domain::enrollment::{DeviceInput, Identity};
        use annal_schemas::events::identity::CertificateInfo;
        use annal_schemas::events::DeviceRef;
        let input = |message: DeviceInput| Input::Device {
            input: Box::new(message),
            device: DeviceRef::default(),
            identity: Identity {
                certificate: CertificateInfo {
                    fingerprint_sha256: "fp".into(),
                    serial_hex: "01".into(),
                    subject: String::new(),
                    issuer: String::new(),
                    not_before: chrono::Utc::now(),
                    not_after: chrono::Utc::now(),
                },
                proof: "mtls",
                issued_by_annal: true,
                vouched: Default::default(),
                url_params: Default::default(),
            },
            raw: bytes::Bytes::new(),
            parent: None,
        };
        let token_update = |topic: &str| {
            input(DeviceInput::TokenUpdate(TokenUpdate {
                topic: topic.into(),
                token_hex: "aa".into(),
                push_magic: Sealed {
                    alg: "A256GCM".into(),
                    key_id: "k".into(),
                    nonce: String::new(),
                    ciphertext: String::new(),
                },
                unlock_token: None,
                awaiting_configuration: None,
                user_short_name: None,
                user_long_name: None,
            }))
        };
        let installed = || Some("com.apple.mgmt.A".to_string());
        assert!(check_topic(&token_update("com.apple.mgmt.A"), installed).is_ok());
        let refused = check_topic(&token_update("com.apple.mgmt.B"), installed).expect_err("other topic");
        assert!(matches!(
            refused,
            Refusal::WrongTopic {
                message_type: "TokenUpdate",
                ..
            }
        ));
        // Without a push certificate the domain records it (the inventory shows the mismatch).
        assert!(check_topic(&token_update("com.apple.mgmt.B"), || None).is_ok());
        // Other messages are not asked about.
        let checkout = input(DeviceInput::CheckOut(CheckOut {
            topic: "com.apple.mgmt.B".into(),
        }));
        assert!(check_topic(&checkout, || panic!("not asked for a CheckOut")).is_ok());
    }

    #[test]
    fn only_enrolled_live_tokens_are_pushed() {
        let mut state = Enrollment::default();
        assert_eq!(target(&state), Err(NoPush::NotEnrolled));
        state.phase = Phase::Enrolled;
        state.token_hex = Some("aa".into());
        state.push_magic = Some(Sealed {
            alg: "A256GCM".into(),
            key_id: "k".into(),
            nonce: String::new(),
            ciphertext: String::new(),
        });
        assert!(target(&state).is_ok());
        state.token_dead = true;
        assert_eq!(target(&state), Err(NoPush::TokenDead));
        state.phase = Phase::CheckedOut;
        assert_eq!(target(&state), Err(NoPush::CheckedOut));
    }

    #[test]
    fn a_dead_token_answer_for_a_replaced_token_leaves_the_new_one_alive() {
        use crate::domain::enrollment::{decide, AdminInput, PushAnswer};
        use annal_schemas::events::push::{PushAttempted, PushFailed};
        use annal_schemas::Event;
        let mut state = Enrollment {
            phase: Phase::Enrolled,
            token_hex: Some("new".into()),
            ..Enrollment::default()
        };
        let record = |token: &str| {
            let push_id = uuid::Uuid::now_v7();
            Input::Admin(AdminInput::RecordPush {
                attempted: PushAttempted {
                    push_id,
                    topic: "com.apple.mgmt.t".into(),
                    trigger: "enqueue".into(),
                    attempt: 1,
                },
                answer: PushAnswer::Failed(PushFailed {
                    push_id,
                    status: 410,
                    reason: "Unregistered".into(),
                    token_dead: true,
                    retry_after_secs: None,
                }),
                token_hex: token.into(),
            })
        };
        let dead = |out: &crate::domain::enrollment::Outcome| {
            out.events
                .iter()
                .any(|(e, _)| matches!(e, Event::PushFailed(f) if f.token_dead))
        };
        let stale = decide(&state, record("old"), chrono::Utc::now()).expect("recorded");
        assert!(!dead(&stale), "the 410 was for the token the device has since replaced");
        let current = decide(&state, record("new"), chrono::Utc::now()).expect("recorded");
        assert!(dead(&current));
        for (e, raw) in &current.events {
            state.evolve(e, raw.as_deref());
        }
        assert_eq!(target(&state), Err(NoPush::TokenDead));
    }
}
