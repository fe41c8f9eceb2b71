//! `decide`: from the enrollment's state and one input, the events to append and the reply.
//! Refusals append nothing.

use annal_schemas::events::checkin::{self, GetBootstrapToken, GetToken, Idle, UserAuthenticate};
use annal_schemas::events::command::{
    CancelReason, CommandAcknowledged, CommandCancelled, CommandDelivered, CommandErrored, CommandExpired,
    CommandFormatError, CommandNotNow, CommandQueued, ErrorReason, UnparseableReport,
};
use annal_schemas::events::identity::{IdentityBound, IdentityRotated};
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, Sealed};
use chrono::{DateTime, Utc};

use super::input::{AdminInput, DeviceInput, Identity, Input, PushAnswer, ReportStatus};
use super::state::{Enrollment, Phase};

/// What to answer the device (or the admin).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 with an empty body: accepted, or (command channel) nothing more to do.
    Empty,
    /// 200 with this command plist (sealed JSON when `sealed`: the edge opens it).
    Command {
        command_uuid: String,
        payload: std::sync::Arc<[u8]>,
        sealed: bool,
    },
    /// GetBootstrapToken: the escrowed token, if any.
    BootstrapToken(Option<Sealed>),
    /// UserAuthenticate declined: 410 Gone (the device then stops asking).
    Gone,
    /// A protocol-correct refusal of a valid request (GetToken with no token service): 403.
    Declined(String),
    Ddm(DdmReply),
    /// Admin enqueue: the command's UUID, and whether an earlier enqueue with the same key did it.
    Queued {
        command_uuid: String,
        duplicate: bool,
    },
}

/// Annal serves an empty declaration set until declarations are built; these are the
/// protocol's shapes for "nothing declared".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdmReply {
    Tokens,
    DeclarationItems,
    /// `status` reports are accepted with an empty 200.
    StatusAccepted,
    /// `declaration/<type>/<id>`: no such declaration (404).
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown enrollment: the device must send Authenticate first")]
    NotAuthenticated,
    #[error("the enrollment has checked out; a new Authenticate is required")]
    CheckedOut,
    #[error("the request's identity certificate is not the one bound to this enrollment")]
    IdentityMismatch,
    #[error("no pending command {0}")]
    UnknownCommand(String),
    #[error("this identity certificate belongs to another enrollment")]
    IdentityInUse,
    #[error("{message_type} names the push topic {sent}, but this server's push certificate is for {installed}")]
    WrongTopic {
        message_type: &'static str,
        sent: String,
        installed: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Events to append, each with its raw bytes.
    pub events: Vec<(Event, Option<Vec<u8>>)>,
    pub reply: Option<Reply>,
}

impl Outcome {
    fn push(&mut self, scratch: &mut Enrollment, event: impl Into<Event>, raw: Option<Vec<u8>>) {
        let event = event.into();
        scratch.evolve(&event, raw.as_deref());
        self.events.push((event, raw));
    }
}

pub fn decide(state: &Enrollment, input: Input, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
    // Decisions evolve a scratch copy as they go, so later steps (the next command) see the
    // effect of earlier ones (a completed command, a new session).
    let mut scratch = state.clone();
    let mut out = Outcome::default();
    match input {
        Input::Admin(admin) => decide_admin(&mut scratch, &mut out, admin)?,
        Input::Device {
            input,
            device,
            identity,
            raw,
            parent,
        } => {
            // Authenticate is how a device channel's identity gets bound, so it is not checked
            // against one. A user channel has no Authenticate (Apple: device channel only): it
            // starts with UserAuthenticate (declined here) or with a TokenUpdate, which binds it
            // if it comes from the identity of its device channel.
            let unknown = state.phase == Phase::Unknown;
            // A user channel that ended with its device channel opens again the same way, once
            // the device channel has enrolled again (the service gives `parent` only then).
            let opens_user_channel = matches!(state.phase, Phase::Unknown | Phase::CheckedOut)
                && matches!(*input, DeviceInput::TokenUpdate(_))
                && parent
                    .as_ref()
                    .is_some_and(|p| p.fingerprint_sha256 == identity.certificate.fingerprint_sha256);
            if opens_user_channel {
                let bound = IdentityBound {
                    certificate: identity.certificate.clone(),
                    generation: state.generation,
                };
                out.push(&mut scratch, bound, None);
            } else if !(matches!(*input, DeviceInput::Authenticate(_))
                || (matches!(*input, DeviceInput::UserAuthenticate(_)) && unknown))
            {
                check_identity(state, &identity, &device, &mut scratch, &mut out)?;
            }
            decide_device(&mut scratch, &mut out, *input, device, identity, raw, now);
        }
    }
    Ok(out)
}

/// Every message but Authenticate must come from the bound identity, or from a renewal Annal's
/// CA issued for the same subject naming this device (recorded as a rotation).
fn check_identity(
    state: &Enrollment,
    identity: &Identity,
    device: &DeviceRef,
    scratch: &mut Enrollment,
    out: &mut Outcome,
) -> Result<(), Refusal> {
    match state.phase {
        Phase::Unknown => return Err(Refusal::NotAuthenticated),
        Phase::CheckedOut => return Err(Refusal::CheckedOut),
        Phase::Authenticated | Phase::Enrolled => {}
    }
    let bound = state.identity.as_ref().ok_or(Refusal::NotAuthenticated)?;
    let presented = &identity.certificate;
    if bound.fingerprint_sha256 == presented.fingerprint_sha256 {
        return Ok(());
    }
    // A renewal must name this device: SCEP profiles often give every device the same subject,
    // so a shared subject alone would let one device take over another's enrollment.
    let names_device = [device.udid.as_deref(), device.enrollment_id.as_deref()]
        .into_iter()
        .flatten()
        .any(|id| !id.is_empty() && presented.subject.contains(id));
    if identity.issued_by_annal
        && names_device
        && bound.subject == presented.subject
        && bound.issuer == presented.issuer
    {
        let rotated = IdentityRotated {
            previous_fingerprint_sha256: bound.fingerprint_sha256.clone(),
            certificate: presented.clone(),
        };
        out.push(scratch, rotated, None);
        return Ok(());
    }
    Err(Refusal::IdentityMismatch)
}

fn decide_device(
    s: &mut Enrollment,
    out: &mut Outcome,
    input: DeviceInput,
    device: DeviceRef,
    verified: Identity,
    raw: Vec<u8>,
    now: DateTime<Utc>,
) {
    let identity = IdentityRef {
        fingerprint_sha256: verified.certificate.fingerprint_sha256.clone(),
        proof: verified.proof.to_string(),
    };
    let raw = Some(raw);
    let reply = match input {
        DeviceInput::Authenticate(mut e) => {
            // A new generation: the previous one's queue is cancelled, as events.
            e.generation = s.generation + 1;
            let generation = e.generation;
            end_queue(s, out, e, raw, CancelReason::Reenrolled);
            out.push(
                s,
                IdentityBound {
                    certificate: verified.certificate,
                    generation,
                },
                None,
            );
            Reply::Empty
        }
        DeviceInput::TokenUpdate(e) => {
            out.push(s, e, raw);
            Reply::Empty
        }
        DeviceInput::CheckOut(e) => {
            end_queue(s, out, e, raw, CancelReason::CheckedOut);
            Reply::Empty
        }
        DeviceInput::UserAuthenticate(e) => {
            out.push(
                s,
                UserAuthenticate {
                    outcome: "declined".into(),
                    ..e
                },
                raw,
            );
            Reply::Gone
        }
        DeviceInput::SetBootstrapToken(e) => {
            out.push(s, e, raw);
            Reply::Empty
        }
        DeviceInput::GetBootstrapToken { awaiting_configuration } => {
            let token = s.bootstrap_token.clone();
            let body = GetBootstrapToken {
                device,
                identity,
                awaiting_configuration,
                returned: token.is_some(),
            };
            out.push(s, body, raw);
            Reply::BootstrapToken(token)
        }
        DeviceInput::GetToken { token_service_type } => {
            let detail = format!("no token service for {token_service_type} is configured");
            let body = GetToken {
                device,
                identity,
                token_service_type,
                outcome: "refused".into(),
                detail: Some(detail.clone()),
            };
            out.push(s, body, raw);
            Reply::Declined(detail)
        }
        DeviceInput::DeclarativeManagement { endpoint } => {
            let (reply, http_status) = match endpoint.as_str() {
                "tokens" => (DdmReply::Tokens, 200),
                "declaration-items" => (DdmReply::DeclarationItems, 200),
                "status" => (DdmReply::StatusAccepted, 200),
                _ => (DdmReply::NotFound, 404),
            };
            out.push(
                s,
                checkin::DeclarativeManagement {
                    device,
                    identity,
                    endpoint,
                    http_status,
                },
                raw,
            );
            Reply::Ddm(reply)
        }
        DeviceInput::Report {
            status,
            command_uuid,
            error_chain,
            unparseable,
        } => {
            let answer = Answer {
                status,
                command_uuid,
                error_chain,
                unparseable,
            };
            report(s, out, answer, device, identity, raw, now)
        }
    };
    out.reply = Some(reply);
}

/// Records `event`, then cancels every command that was pending before it: a new generation
/// or a checkout ends the queue, and the log says why for each command.
fn end_queue(
    s: &mut Enrollment,
    out: &mut Outcome,
    event: impl Into<Event>,
    raw: Option<Vec<u8>>,
    reason: CancelReason,
) {
    let pending: Vec<String> = s.queue.iter().map(|p| p.command_uuid.clone()).collect();
    out.push(s, event, raw);
    for command_uuid in pending {
        out.push(s, CommandCancelled { command_uuid, reason }, None);
    }
}

/// What the device's command-channel report said.
struct Answer {
    status: ReportStatus,
    command_uuid: Option<String>,
    error_chain: Vec<annal_schemas::events::command::ErrorChainItem>,
    unparseable: Option<UnparseableReport>,
}

fn report(
    s: &mut Enrollment,
    out: &mut Outcome,
    answer: Answer,
    device: DeviceRef,
    identity: IdentityRef,
    raw: Option<Vec<u8>>,
    now: DateTime<Utc>,
) -> Reply {
    let Answer {
        status,
        command_uuid,
        error_chain,
        unparseable,
    } = answer;
    // Results for commands Annal no longer holds (a retried answer, a command from before a
    // re-enrollment) are still recorded: the log keeps what the device said.
    let uuid = command_uuid.unwrap_or_default();
    let request_type = s.pending(&uuid).map(|p| p.request_type.clone()).unwrap_or_default();
    let (command_uuid, who) = (uuid, identity.clone());
    match (status, unparseable) {
        (ReportStatus::Idle, _) => out.push(s, Idle { device, identity: who }, raw),
        // The device answered but its answer cannot be read: whatever its Status, the command
        // ends as an error. A refusal would make the device send the same answer again and
        // again; as an error, the command leaves the queue and the session goes on.
        (_, Some(unparseable)) => out.push(
            s,
            CommandErrored {
                command_uuid,
                request_type,
                device,
                identity: who,
                error_chain: Vec::new(),
                reason: Some(ErrorReason::UnparseableReport),
                unparseable: Some(unparseable),
            },
            raw,
        ),
        (ReportStatus::Acknowledged, None) => out.push(
            s,
            CommandAcknowledged {
                command_uuid,
                request_type,
                device,
                identity: who,
            },
            raw,
        ),
        (ReportStatus::Error, None) => out.push(
            s,
            CommandErrored {
                command_uuid,
                request_type,
                device,
                identity: who,
                error_chain,
                reason: None,
                unparseable: None,
            },
            raw,
        ),
        (ReportStatus::CommandFormatError, None) => out.push(
            s,
            CommandFormatError {
                command_uuid,
                request_type,
                device,
                identity: who,
            },
            raw,
        ),
        (ReportStatus::NotNow, None) => out.push(
            s,
            CommandNotNow {
                command_uuid,
                request_type,
                device,
                identity: who,
            },
            raw,
        ),
    }
    let expired: Vec<String> = s
        .queue
        .iter()
        .filter(|p| p.expires_at.is_some_and(|t| t <= now))
        .map(|p| p.command_uuid.clone())
        .collect();
    for command_uuid in expired {
        out.push(
            s,
            CommandExpired {
                command_uuid,
                expired_at: now,
            },
            None,
        );
    }
    let Some(next) = s.next_command().cloned() else {
        return Reply::Empty;
    };
    let delivered = CommandDelivered {
        command_uuid: next.command_uuid.clone(),
        request_type: next.request_type.clone(),
        attempt: next.deliveries + 1,
        identity,
    };
    out.push(s, delivered, None);
    Reply::Command {
        command_uuid: next.command_uuid,
        payload: next.payload,
        sealed: next.sealed,
    }
}

fn decide_admin(s: &mut Enrollment, out: &mut Outcome, input: AdminInput) -> Result<(), Refusal> {
    if let AdminInput::RecordPush {
        attempted,
        answer,
        token_hex,
    } = input
    {
        out.push(s, attempted, None);
        match answer {
            PushAnswer::Accepted(e) => out.push(s, e, None),
            PushAnswer::Failed(mut e) => {
                // A token APNs declared dead may already have been replaced by a TokenUpdate
                // that arrived while the push was out: the new token is not dead.
                e.token_dead &= s.token_hex.as_deref() == Some(token_hex.as_str());
                out.push(s, e, None)
            }
        }
        out.reply = Some(Reply::Empty);
        return Ok(());
    }
    if let AdminInput::EndUserChannel { device, identity } = input {
        // Already ended (or never opened): nothing to record, and no refusal either, since the
        // device channel's request that asked for it succeeded.
        if matches!(s.phase, Phase::Authenticated | Phase::Enrolled) {
            let checkout = checkin::CheckOut {
                device,
                identity,
                topic: s.topic.clone().unwrap_or_default(),
                with_device_channel: true,
            };
            end_queue(s, out, checkout, None, CancelReason::CheckedOut);
        }
        out.reply = Some(Reply::Empty);
        return Ok(());
    }
    match s.phase {
        Phase::Unknown => return Err(Refusal::NotAuthenticated),
        Phase::CheckedOut => return Err(Refusal::CheckedOut),
        Phase::Authenticated | Phase::Enrolled => {}
    }
    match input {
        AdminInput::Enqueue {
            command_uuid,
            request_type,
            payload,
            sealed,
            idempotency_key,
            reason,
            expires_at,
        } => {
            // The same CommandUUID twice in one queue would make one answer complete both.
            if s.pending(&command_uuid).is_some() {
                out.reply = Some(Reply::Queued {
                    command_uuid,
                    duplicate: true,
                });
                return Ok(());
            }
            if let Some(existing) = idempotency_key.as_ref().and_then(|k| s.idempotency.get(k)) {
                out.reply = Some(Reply::Queued {
                    command_uuid: existing.clone(),
                    duplicate: true,
                });
                return Ok(());
            }
            let queued = CommandQueued {
                command_uuid: command_uuid.clone(),
                request_type,
                generation: s.generation,
                idempotency_key,
                reason,
                expires_at,
                raw_sealed: sealed,
            };
            out.push(s, queued, Some(payload));
            out.reply = Some(Reply::Queued {
                command_uuid,
                duplicate: false,
            });
        }
        AdminInput::RecordPush { .. } | AdminInput::EndUserChannel { .. } => {}
        AdminInput::Cancel { command_uuid } => {
            if s.pending(&command_uuid).is_none() {
                return Err(Refusal::UnknownCommand(command_uuid));
            }
            out.push(
                s,
                CommandCancelled {
                    command_uuid,
                    reason: CancelReason::Admin,
                },
                None,
            );
            out.reply = Some(Reply::Empty);
        }
    }
    Ok(())
}
