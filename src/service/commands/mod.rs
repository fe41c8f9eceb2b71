//! The commands use case: queue one command for many enrollments (fan-out, sealing, the
//! answer policy, push requests), cancel a queued command, push enrollments now. Requests come
//! in already lifted out of HTTP; results go back as [`EnqueueResult`], [`Cancelled`] and
//! [`PushResult`], or an [`AdminError`](crate::service::admin::AdminError).
//!
//! An EraseDevice enqueue: `http/admin/enqueue.rs` (maps the request) → `request.rs` (the
//! command, its checks) → `enqueue.rs` (fan-out, sealing) → `service/enrollments.rs` →
//! `domain/enrollment` (decide) → the store's append.

mod answer;
mod cancel;
mod enqueue;
mod push;
mod request;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::push::PushService;
use crate::secrets::DataKey;
use crate::service::enrollments::Enrollments;
use crate::service::groups::{Groups, Inventory};

pub use answer::{EnqueueResult, Overall, PushRequest, TargetOutcome};
pub use cancel::{CancelRequest, Cancelled};
pub use enqueue::{check_listed, Checked};
pub use push::{PushOutcome, PushOverall, PushResult};
pub use request::{
    check_command_uuid, check_request_type, sealed, targets, CheckedCommand, CommandSource, EnqueueRequest, MAX_FAN_OUT,
};

/// What the use case needs: the enrollments it queues to, the key that seals secret-bearing
/// commands, and the push worker it asks to wake the devices.
pub struct Commands<'a> {
    pub enrollments: &'a Enrollments,
    pub data_key: &'a DataKey,
    pub push: &'a Arc<PushService>,
    /// Groups and the inventory they are resolved against; without them only lists of
    /// enrollments are accepted.
    pub targeting: Option<Targeting<'a>>,
}

/// What resolving a group or filter needs.
pub struct Targeting<'a> {
    pub groups: &'a Groups,
    pub inventory: Box<dyn Inventory + 'a>,
}

impl<'a> Commands<'a> {
    pub fn new(enrollments: &'a Enrollments, data_key: &'a DataKey, push: &'a Arc<PushService>) -> Self {
        Self {
            enrollments,
            data_key,
            push,
            targeting: None,
        }
    }

    pub fn with_targeting(mut self, groups: &'a Groups, inventory: Box<dyn Inventory + 'a>) -> Self {
        self.targeting = Some(Targeting { groups, inventory });
        self
    }
}
