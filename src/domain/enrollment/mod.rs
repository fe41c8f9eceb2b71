//! The Enrollment aggregate: one device (or user) channel's enrollment, its identity, push
//! tokens, escrowed secrets and command queue (ARCHITECTURE.md §3).
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

mod decide;
mod input;
mod state;
#[cfg(test)]
mod tests;

pub use decide::{decide, DdmReply, Outcome, Refusal, Reply};
pub use input::{AdminInput, DeviceInput, Identity, Input, PushAnswer, ReportStatus};
pub use state::{BoundIdentity, Enrollment, Pending, Phase};

/// The stream that holds an enrollment's events.
pub fn stream_name(enrollment_key: &str) -> String {
    format!("enrollment-{enrollment_key}")
}
