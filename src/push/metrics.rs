//! The push worker's Prometheus metrics and its certificate warnings (rendered at /metrics).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::certificate::{Expiry, PushCertificate};
use crate::domain::push::Verdict;

pub(super) fn outcome(verdict: Verdict) {
    metrics::counter!("annal_push_total", "outcome" => verdict.label()).increment(1);
}

/// One failed push, by class (`domain::push::failure_class`).
pub(super) fn failure(class: &'static str) {
    metrics::counter!("annal_push_failures_total", "class" => class).increment(1);
}

pub(super) fn skipped(reason: &'static str) {
    metrics::counter!("annal_push_skipped_total", "reason" => reason).increment(1);
}

pub(super) fn latency(elapsed: Duration) {
    metrics::histogram!("annal_push_duration_seconds").record(elapsed.as_secs_f64());
}

/// 1 while APNs refuses the certificate (pushes are suspended), else 0.
pub(super) fn alarm(on: bool) {
    metrics::gauge!("annal_push_certificate_alarm").set(if on { 1.0 } else { 0.0 });
}

pub(super) fn certificate(cert: &PushCertificate, now: DateTime<Utc>) {
    let left = (cert.info.not_after - now).num_seconds() as f64;
    metrics::gauge!("annal_push_certificate_expiry_seconds").set(left);
    let expiring = !matches!(cert.expiry(now), Expiry::Valid { .. });
    metrics::gauge!("annal_push_certificate_expiring").set(if expiring { 1.0 } else { 0.0 });
}

/// Logs a warning from 30 days before the certificate expires, an error once it has.
pub(super) fn warn_expiry(cert: &PushCertificate, now: DateTime<Utc>) {
    match cert.expiry(now) {
        Expiry::ExpiringSoon { days_left } => tracing::warn!(
            topic = %cert.topic,
            not_after = %cert.info.not_after,
            days_left,
            "the push certificate expires soon: renew it in Apple's portal (same topic) and run annal push-cert install"
        ),
        Expiry::Expired => tracing::error!(
            topic = %cert.topic,
            not_after = %cert.info.not_after,
            "the push certificate has expired: devices cannot be pushed until it is renewed"
        ),
        Expiry::NotYetValid | Expiry::Valid { .. } => {}
    }
}
