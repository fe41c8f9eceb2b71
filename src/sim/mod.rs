//! `annal sim`: virtual devices that enroll, check in, poll and answer commands over real
//! HTTP(S), signing every request like a device (Mdm-Signature, detached CMS), and report
//! messages/s and latency percentiles. Identities come from Annal's CA directly (the cheap
//! path, for benchmarks) or, as real devices get them, from the enrollment profile and SCEP
//! (`Enrollment::Profile`, enroll.rs).

pub mod answers;
mod channel;
mod client;
mod device;
pub mod enroll;
pub mod profile;
mod run;

pub use channel::{Channel, Clients};
pub use client::{split_url, Client, ClientError};
pub use device::{encode, udid_of, VirtualDevice};
pub use run::{issue_devices, run, run_devices, Enrolled, Enrollment, SimConfig, SimError, SimReport};
