//! `annal sim`: virtual devices that enroll, check in, poll and answer commands over real
//! HTTP(S), signing every request like a device (Mdm-Signature, detached CMS), and report
//! messages/s and latency percentiles. Identities come from Annal's CA directly (the cheap
//! path, for benchmarks) or, as real devices get them, from the enrollment profile and SCEP
//! (`Enrollment::Profile`, enroll.rs). `WireProfile::real()` (wire.rs) makes the devices look
//! like real Apple devices on the wire: RSA-2048, BER signatures, a bare command channel, new
//! connections. Devices speak Declarative Device Management as an iPad does (ddm.rs): a
//! `DeclarativeManagement` command makes them sync their declarations, check them and report
//! their status.

pub mod answers;
pub mod ber;
mod channel;
mod client;
mod ddm;
mod device;
pub mod enroll;
mod fleet;
pub mod profile;
mod run;
pub mod wire;

pub use channel::{Channel, Clients};
pub use client::{split_url, Client, ClientError};
pub use ddm::DdmError;
pub use device::{encode, udid_of, VirtualDevice, BUILD_VERSION, OS_VERSION};
pub use fleet::{Fleet, Wakers};
pub use run::{
    issue_devices, issue_devices_for, run, run_devices, Enrolled, Enrollment, SimConfig, SimError, SimReport,
};
pub use wire::WireProfile;
