//! Cancelling a queued command for one enrollment. Refused with "not found" when the
//! enrollment has no such pending command (unknown, or already answered).

use chrono::Utc;

use super::Commands;
use crate::domain::enrollment::{AdminInput, Input};
use crate::domain::rails;
use crate::service::admin::{authorize, Action, AdminError, Caller};

#[derive(Debug, Clone)]
pub struct CancelRequest {
    pub target: String,
    pub command_uuid: String,
    /// Why: recorded with the cancellation, beside who asked.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub enrollment: String,
    pub command_uuid: String,
}

impl Commands<'_> {
    pub async fn cancel(&self, caller: &Caller, req: CancelRequest) -> Result<Cancelled, AdminError> {
        authorize(caller, Action::Cancel)?;
        let note = req.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if note
            .as_ref()
            .is_some_and(|r| r.chars().count() > rails::MAX_REASON_CHARS)
        {
            return Err(AdminError::invalid_at(
                format!("the reason is longer than {} characters", rails::MAX_REASON_CHARS),
                "reason",
            ));
        }
        let input = Input::Admin(AdminInput::Cancel {
            command_uuid: req.command_uuid.clone(),
            note,
        });
        self.enrollments
            .handle(&req.target, input, &caller.actor, Utc::now())
            .await?;
        Ok(Cancelled {
            enrollment: req.target,
            command_uuid: req.command_uuid,
        })
    }
}
