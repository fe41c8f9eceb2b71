//! `annal sim`: virtual devices that enroll, check in, poll and answer commands over real
//! HTTP(S), signing every request like a device (Mdm-Signature, detached CMS), and report
//! messages/s and latency percentiles. Identities come from Annal's CA (SCEP comes with the
//! enrollment issue).

pub mod answers;
mod client;
mod device;
mod run;

pub use client::{Client, ClientError};
pub use device::{encode, VirtualDevice};
pub use run::{issue_devices, run, run_devices, SimConfig, SimError, SimReport};
