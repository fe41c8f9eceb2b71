//! What tests, benchmarks and demonstrations drive the server with, kept apart from the server
//! code so a reader of `service/`, `http/` and `server/` never meets it: the device simulator
//! behind `annal sim`, the harnesses behind `annal bench …`, a local APNs (Apple's push service
//! cannot be reached here) and synthetic fleets (the projections crate's generator, which its
//! own tests use too).

pub mod apns_mock;
pub mod bench;
pub mod sim;

/// Synthetic fleets of enrolled devices with realistic answers, for scale tests and benchmarks.
pub use annal_projections::synthetic as fleet;
