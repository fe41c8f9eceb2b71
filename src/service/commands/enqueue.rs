//! Queueing one command for many enrollments: check, seal, fan out, judge, push. Each
//! enrollment gets its own outcome (queued, duplicate, or why not), so a fan-out to 10,000
//! devices reports exactly which ones did not take it.

use std::collections::BTreeMap;

use chrono::Utc;
use futures::StreamExt;
use plist::{Dictionary, Value as Plist};

use super::answer::{EnqueueResult, PushRequest, TargetOutcome};
use super::request::{check_command_uuid, check_request_type, sealed, targets, Command, EnqueueRequest};
use super::Commands;
use crate::domain::enrollment::{AdminInput, Input, Reply};
use crate::domain::rails;
use crate::mdm::command_envelope;
use crate::service::admin::{authorize, Action, AdminError, Caller};
use crate::service::groups::{Resolution, Selection};

/// Enrollments queued to at once within one fan-out.
const FAN_OUT_CONCURRENCY: usize = 256;

/// What every enrollment's command shares.
struct Shared<'r> {
    command_uuid: &'r str,
    request_type: &'r str,
    sealed: bool,
    req: &'r EnqueueRequest,
}

/// A request to a list of enrollments as the enqueue will take it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The enrollments, split and trimmed as the enqueue splits them.
    pub targets: Vec<String>,
    pub request_type: String,
}

/// Makes the enqueue's refusals of a request to a list of enrollments (the list, Apple's
/// schema, the role, the RequestType's spelling, the rails), in the enqueue's order, without
/// queueing anything: a confirmation step (the web console's) shows only what the enqueue
/// will accept, and the enqueue makes the same checks again when it is sent.
pub fn check_listed(caller: &Caller, req: &EnqueueRequest) -> Result<Checked, AdminError> {
    if req.selection.is_some() {
        return Err(AdminError::invalid_at(
            "a group is resolved when the command is queued, not before",
            "group",
        ));
    }
    let ids = targets(&req.targets)?;
    let command = req.command.command()?;
    authorize(
        caller,
        Action::Enqueue {
            request_type: &command.request_type,
        },
    )?;
    check_rails(&command.request_type, req, ids.len())?;
    Ok(Checked {
        targets: ids,
        request_type: command.request_type,
    })
}

/// The spelling of the RequestType, then the rails for `targets` devices.
fn check_rails(request_type: &str, req: &EnqueueRequest, targets: usize) -> Result<(), AdminError> {
    check_request_type(request_type)?;
    rails::check(request_type, req.reason.as_deref(), targets, req.confirm_count)
        .map_err(|r| AdminError::invalid_at(r.to_string(), r.field()))
}

impl Commands<'_> {
    /// Queues the command for each target. Refusals of the request as a whole (a bad list, an
    /// invalid command, a role that may not queue it, a group that means nobody, a destructive
    /// command without its reason or confirmed count) come before anything is queued; a group's
    /// resolution is recorded before the first enrollment is.
    pub async fn enqueue(&self, caller: &Caller, req: EnqueueRequest) -> Result<EnqueueResult, AdminError> {
        let listed = match (&req.selection, req.targets.is_empty()) {
            (None, _) => Some(targets(&req.targets)?),
            (Some(_), true) => None,
            (Some(_), false) => {
                return Err(AdminError::invalid_at(
                    "give enrollments or a group (or filter), not both",
                    "group",
                ))
            }
        };
        let command = req.command.command()?;
        authorize(
            caller,
            Action::Enqueue {
                request_type: &command.request_type,
            },
        )?;
        // A group is resolved only for a caller who may send the command: the rails below
        // then count the devices it means now.
        let (ids, resolution) = match listed {
            Some(ids) => (ids, None),
            None => self.resolve(caller, &req).await?,
        };
        check_rails(&command.request_type, &req, ids.len())?;
        let command_uuid = command
            .command_uuid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
        check_command_uuid(&command_uuid)?;
        if let (Some(resolution), Some(t)) = (&resolution, &self.targeting) {
            t.groups
                .record(
                    resolution,
                    &command_uuid,
                    &command.request_type,
                    req.reason.as_deref(),
                    &caller.actor,
                )
                .await?;
        }
        let shared = Shared {
            command_uuid: &command_uuid,
            request_type: &command.request_type,
            sealed: sealed(&command.request_type),
            req: &req,
        };
        // Enrollments are independent streams: queueing to many at once lets their appends share
        // group commits, which is what makes a 10,000-device fan-out take seconds, not minutes.
        let outcomes: BTreeMap<String, TargetOutcome> = futures::stream::iter(ids)
            .map(|id: String| {
                let (shared, command) = (&shared, &command);
                async move {
                    let outcome = match self.queue_one(caller, &id, shared, command).await {
                        Ok((command_uuid, duplicate)) => TargetOutcome::Queued {
                            command_uuid,
                            duplicate,
                        },
                        Err(e) => TargetOutcome::Refused(e),
                    };
                    (id, outcome)
                }
            })
            .buffer_unordered(FAN_OUT_CONCURRENCY)
            .collect()
            .await;
        let mut result = EnqueueResult::new(command_uuid.clone(), command.request_type.clone(), outcomes);
        result.push = match (req.no_push, self.push.topic().is_some()) {
            (true, _) => PushRequest::NotRequested,
            (false, false) => PushRequest::NotConfigured,
            (false, true) => {
                self.push
                    .request(result.queued().map(str::to_string).collect::<Vec<_>>(), "enqueue");
                PushRequest::Requested
            }
        };
        Ok(result)
    }

    /// The enrollments the request's group or filter means now; none is a refusal, since
    /// queueing to nobody is never what was meant.
    async fn resolve(
        &self,
        caller: &Caller,
        req: &EnqueueRequest,
    ) -> Result<(Vec<String>, Option<Resolution>), AdminError> {
        let (Some(selection), Some(t)) = (&req.selection, &self.targeting) else {
            return Err(AdminError::invalid_at("groups are not available here", "group"));
        };
        let resolution = t
            .groups
            .resolve(caller, selection, t.inventory.as_ref(), Utc::now())
            .await?;
        if resolution.enrollments.is_empty() {
            let what = match selection {
                Selection::Group(name) => format!("group {name:?}"),
                Selection::Filter(_) => "the filter".to_string(),
            };
            return Err(AdminError::Conflict(format!(
                "{what} matches no enrolled device now: nothing was queued"
            )));
        }
        Ok((resolution.enrollments.clone(), Some(resolution)))
    }

    /// The command for one enrollment: ClearPasscode differs per device, it carries that
    /// device's escrowed UnlockToken.
    async fn command_for(&self, id: &str, command: &Command) -> Result<Dictionary, AdminError> {
        let mut body = command.body.clone();
        if command.needs_unlock_token {
            body.insert("UnlockToken".into(), Plist::Data(self.escrowed_unlock_token(id).await?));
        }
        Ok(body)
    }

    async fn queue_one(
        &self,
        caller: &Caller,
        id: &str,
        shared: &Shared<'_>,
        command: &Command,
    ) -> Result<(String, bool), AdminError> {
        let body = self.command_for(id, command).await?;
        let envelope = command_envelope(shared.command_uuid, body).map_err(|e| AdminError::invalid(e.to_string()))?;
        let payload = if shared.sealed {
            self.data_key
                .seal_raw(&envelope)
                .map_err(|e| AdminError::Internal(e.to_string()))?
        } else {
            envelope
        };
        let input = Input::Admin(AdminInput::Enqueue {
            command_uuid: shared.command_uuid.to_string(),
            request_type: shared.request_type.to_string(),
            payload,
            sealed: shared.sealed,
            idempotency_key: shared.req.idempotency_key.clone(),
            reason: shared.req.reason.clone(),
            expires_at: shared.req.expires_at,
        });
        let outcome = self.enrollments.handle(id, input, &caller.actor, Utc::now()).await?;
        // A retry with a known idempotency key answers with the command the first request queued,
        // whose CommandUUID may differ from this request's.
        match outcome.reply {
            Some(Reply::Queued {
                command_uuid,
                duplicate,
            }) => Ok((command_uuid, duplicate)),
            _ => Ok((shared.command_uuid.to_string(), false)),
        }
    }

    async fn escrowed_unlock_token(&self, id: &str) -> Result<Vec<u8>, AdminError> {
        let (state, _) = self.enrollments.state(id).await?;
        let sealed = state
            .unlock_token
            .ok_or_else(|| AdminError::Conflict("no UnlockToken is escrowed for this enrollment".into()))?;
        self.data_key
            .open(&sealed)
            .map_err(|e| AdminError::Internal(format!("the escrowed UnlockToken cannot be opened: {e}")))
    }
}
