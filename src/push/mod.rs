//! APNs pushes (design brief §5): the MDM push certificate, a small HTTP/2 APNs client, the
//! push worker that records every attempt and answer as events. (The local mock of APNs for
//! tests and benchmarks is `testkit::apns_mock`.)

pub mod apns;
pub mod certificate;
mod dispatch;
pub mod escrow;
pub mod installed;
mod metrics;
mod reachability;
mod service;
mod suspension;

#[cfg(test)]
mod certificate_tests;

pub use apns::{ApnsAnswer, ApnsClient, ApnsConfig, ApnsError, PRODUCTION_URL, SANDBOX_URL};
pub use certificate::{summarize, CertificateError, Expiry, PushCertificate, Summary, EXPIRY_WARNING_DAYS};
pub use dispatch::Coalescer;
pub use service::{PushError, PushReport, PushService, PushSettings, PushStatus, SuspendedStatus};
