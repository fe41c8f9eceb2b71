//! The Enrollment aggregate: one device (or user) channel's enrollment, its identity, push
//! tokens, escrowed secrets and command queue (design brief §3).
//!
//! Queue rules, enforced by `decide` and tested in `tests.rs`:
//! - FIFO per enrollment; the reply to a command-channel request is the oldest pending command
//!   that the device has not answered NotNow to in this session.
//! - A delivered command stays pending until the device answers it, so a command whose answer
//!   never arrived is sent again on the next request.
//! - `Idle` starts a new session: commands answered NotNow become eligible again.
//! - Acknowledged / Error / CommandFormatError complete a command; expiry and admin
//!   cancellation remove it while it is pending.
//! - Authenticate starts a new generation and cancels the previous generation's queue; CheckOut
//!   ends the enrollment and cancels its queue. Both as events, so the log says why.
//!
//! Identity rules (`decide.rs`, tested in `tests/identity.rs`):
//! - Every message but Authenticate comes from the bound certificate, or from one the log says
//!   Annal's CA issued as the SCEP renewal of it (a rotation). A subject proves nothing.
//! - An Authenticate with another certificate than the bound one is accepted only when the
//!   enrollment ended (CheckOut, an acknowledged EraseDevice, an admin's forget, a revoked
//!   identity) or with a certificate from a challenge an admin bound to this device, unless
//!   the policy is `Reenrollment::Allow`.
//! - A sealed (secret-bearing) command is delivered only to the identity bound when it was
//!   queued; otherwise it is cancelled (`identity_changed`).

mod decide;
mod input;
mod state;
#[cfg(test)]
mod tests;

pub use decide::{decide, decide_with, DdmReply, Outcome, Refusal, Reply};
pub use input::{
    AdminInput, Authenticate, CheckOut, DdmRequest, DeviceInput, Identity, Input, PushAnswer, Reenrollment,
    ReportStatus, SetBootstrapToken, TokenUpdate, UserAuthenticate, Vouched, MIGRATION_PROOF,
};
pub use state::{BoundIdentity, Enrollment, Pending, Phase, DDM_COMMAND_PREFIX};

/// The stream that holds an enrollment's events.
pub fn stream_name(enrollment_key: &str) -> String {
    format!("enrollment-{enrollment_key}")
}
