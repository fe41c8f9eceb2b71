//! Cancelling a queued command for one enrollment. Refused with "not found" when the
//! enrollment has no such pending command (unknown, or already answered).

use chrono::Utc;

use super::Commands;
use crate::domain::enrollment::{AdminInput, Input};
use crate::service::admin::{authorize, Action, AdminError, Caller};

#[derive(Debug, Clone)]
pub struct CancelRequest {
    pub target: String,
    pub command_uuid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub enrollment: String,
    pub command_uuid: String,
}

impl Commands<'_> {
    pub async fn cancel(&self, caller: &Caller, req: CancelRequest) -> Result<Cancelled, AdminError> {
        authorize(caller, Action::Cancel)?;
        let input = Input::Admin(AdminInput::Cancel {
            command_uuid: req.command_uuid.clone(),
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
