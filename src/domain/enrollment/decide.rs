//! `decide`: from the enrollment's state and one input, the events to append and the reply.
//! Refusals append nothing.

use annal_schemas::events::checkin::{self, GetBootstrapToken, GetToken, Idle};
use annal_schemas::events::command::{
    CancelReason, CommandAcknowledged, CommandCancelled, CommandDelivered, CommandErrored, CommandExpired,
    CommandFormatError, CommandNotNow, CommandQueued, ErrorReason, UnparseableReport,
};
use annal_schemas::events::declaration::DeclarationStatusReported;
use annal_schemas::events::identity::{DeviceForgotten, IdentityBound, IdentityRevoked, IdentityRotated};
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, Sealed};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::input::{AdminInput, DdmRequest, DeviceInput, Identity, Input, PushAnswer, Reenrollment, ReportStatus};
use super::state::{Enrollment, Phase, DDM_COMMAND_PREFIX};
use crate::domain::declarations::DeclSet;

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

/// The answer to a DDM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdmReply {
    /// 200 with this JSON: tokens, declaration items or one declaration.
    Json(String),
    /// `status` reports are accepted with an empty 200.
    StatusAccepted,
    /// `declaration/<category>/<id>` not in the device's set, or an unknown endpoint (404).
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
    #[error("this identity certificate was revoked")]
    IdentityRevoked,
    #[error("this identity certificate was issued for another device ({0})")]
    IssuedForAnotherDevice(String),
    /// `enrolled` (the bound fingerprint) is for the log and the `EnrollmentRefused` event,
    /// not for the asker.
    #[error("this device is enrolled under another identity; a new identity is accepted after CheckOut, an acknowledged EraseDevice or `annal devices forget`, or from a SCEP challenge an admin bound to this device")]
    Reenrollment { enrolled: String },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Events to append, each with its raw bytes.
    pub events: Vec<(Event, Option<Bytes>)>,
    pub reply: Option<Reply>,
}

impl Outcome {
    fn push(&mut self, scratch: &mut Enrollment, event: impl Into<Event>, raw: Option<Bytes>) {
        let event = event.into();
        scratch.evolve(&event, raw.as_deref());
        self.events.push((event, raw));
    }
}

/// `decide_with` under the default (guarded) re-enrollment policy.
pub fn decide(state: &Enrollment, input: Input, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
    decide_with(state, input, now, Reenrollment::Guarded)
}

pub fn decide_with(
    state: &Enrollment,
    input: Input,
    now: DateTime<Utc>,
    reenrollment: Reenrollment,
) -> Result<Outcome, Refusal> {
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
            if let DeviceInput::Authenticate(auth) = input.as_ref() {
                check_reenrollment(state, &identity, &device, auth.serial_number.as_deref(), reenrollment)?;
            }
            if opens_user_channel {
                let bound = IdentityBound {
                    certificate: identity.certificate.clone(),
                    generation: state.generation,
                    migration_claim: false,
                };
                out.push(&mut scratch, bound, None);
            } else if !(matches!(*input, DeviceInput::Authenticate(_))
                || (matches!(*input, DeviceInput::UserAuthenticate(_)) && unknown))
            {
                check_identity(state, &identity, &mut scratch, &mut out)?;
            }
            decide_device(&mut scratch, &mut out, *input, device, identity, raw, now);
        }
    }
    Ok(out)
}

/// Every message but Authenticate must come from the bound identity, or from a certificate the
/// log says Annal's CA issued as the SCEP renewal of it (recorded as a rotation). What the
/// certificate's subject says proves nothing: anyone with a challenge can ask for any subject.
fn check_identity(
    state: &Enrollment,
    identity: &Identity,
    scratch: &mut Enrollment,
    out: &mut Outcome,
) -> Result<(), Refusal> {
    match state.phase {
        Phase::Unknown => return Err(Refusal::NotAuthenticated),
        Phase::CheckedOut => return Err(Refusal::CheckedOut),
        Phase::Authenticated | Phase::Enrolled => {}
    }
    let bound = state.identity.as_ref().ok_or(Refusal::NotAuthenticated)?;
    if state.identity_revoked {
        return Err(Refusal::IdentityRevoked);
    }
    let presented = &identity.certificate;
    if bound.fingerprint_sha256 == presented.fingerprint_sha256 {
        return Ok(());
    }
    // Migrated without a certificate: the first one the service vouched may claim it.
    if bound.fingerprint_sha256.is_empty() && identity.vouched.migration_claim {
        let claimed = IdentityBound {
            certificate: presented.clone(),
            generation: state.generation,
            migration_claim: true,
        };
        out.push(scratch, claimed, None);
        return Ok(());
    }
    if identity.vouched.renewal_of.as_deref() == Some(bound.fingerprint_sha256.as_str()) {
        let rotated = IdentityRotated {
            previous_fingerprint_sha256: bound.fingerprint_sha256.clone(),
            certificate: presented.clone(),
        };
        out.push(scratch, rotated, None);
        return Ok(());
    }
    Err(Refusal::IdentityMismatch)
}

/// Authenticate with a certificate other than the bound one replaces the enrollment: allowed
/// when the enrollment is over, for a renewal of the bound certificate, or for a certificate
/// from a challenge an admin bound to this device. And a certificate issued for one device
/// never enrolls another.
fn check_reenrollment(
    state: &Enrollment,
    identity: &Identity,
    device: &DeviceRef,
    serial_number: Option<&str>,
    policy: Reenrollment,
) -> Result<(), Refusal> {
    let vouched = &identity.vouched;
    if let (Some(for_udid), Some(udid)) = (vouched.udid.as_deref(), device.udid.as_deref()) {
        if for_udid != udid {
            return Err(Refusal::IssuedForAnotherDevice(for_udid.to_owned()));
        }
    }
    if let (Some(for_serial), Some(serial)) = (vouched.serial_number.as_deref(), serial_number) {
        if for_serial != serial {
            return Err(Refusal::IssuedForAnotherDevice(for_serial.to_owned()));
        }
    }
    if !matches!(state.phase, Phase::Authenticated | Phase::Enrolled) || policy == Reenrollment::Allow {
        return Ok(());
    }
    let Some(bound) = &state.identity else {
        return Ok(());
    };
    let presented = identity.certificate.fingerprint_sha256.as_str();
    let renews_bound = vouched.renewal_of.as_deref() == Some(bound.fingerprint_sha256.as_str());
    // The serial the enrolled device reported, not only what this request claims.
    let known_serial = state.serial_number.as_deref().or(serial_number);
    let bound_here = vouched.admin_bound
        && ((vouched.udid.is_some() && vouched.udid.as_deref() == device.udid.as_deref())
            || (vouched.serial_number.is_some() && vouched.serial_number.as_deref() == known_serial));
    // An enrollment migrated without a certificate, re-enrolled by a certificate that may claim it.
    let claims_migrated = bound.fingerprint_sha256.is_empty() && vouched.migration_claim;
    if bound.fingerprint_sha256 == presented
        || state.erased
        || state.identity_revoked
        || renews_bound
        || bound_here
        || claims_migrated
    {
        return Ok(());
    }
    Err(Refusal::Reenrollment {
        enrolled: bound.fingerprint_sha256.clone(),
    })
}

fn decide_device(
    s: &mut Enrollment,
    out: &mut Outcome,
    input: DeviceInput,
    device: DeviceRef,
    verified: Identity,
    raw: Bytes,
    now: DateTime<Utc>,
) {
    let identity = IdentityRef {
        fingerprint_sha256: verified.certificate.fingerprint_sha256.clone(),
        proof: verified.proof.to_string(),
        url_params: verified.url_params,
    };
    let raw = Some(raw);
    let reply = match input {
        DeviceInput::Authenticate(m) => {
            // A new generation: the previous one's queue is cancelled, as events.
            let generation = s.generation + 1;
            let e = checkin::Authenticate {
                device,
                identity,
                topic: m.topic,
                generation,
                serial_number: m.serial_number,
                imei: m.imei,
                meid: m.meid,
                os_version: m.os_version,
                build_version: m.build_version,
                product_name: m.product_name,
                device_name: m.device_name,
                model: m.model,
                model_name: m.model_name,
            };
            end_queue(s, out, e, raw, CancelReason::Reenrolled);
            out.push(
                s,
                IdentityBound {
                    certificate: verified.certificate,
                    generation,
                    migration_claim: false,
                },
                None,
            );
            Reply::Empty
        }
        DeviceInput::TokenUpdate(m) => {
            let e = checkin::TokenUpdate {
                device,
                identity,
                topic: m.topic,
                token_hex: m.token_hex,
                push_magic: m.push_magic,
                unlock_token: m.unlock_token,
                awaiting_configuration: m.awaiting_configuration,
                user_short_name: m.user_short_name,
                user_long_name: m.user_long_name,
                token_update_tally: Some(s.token_updates + 1),
            };
            out.push(s, e, raw);
            Reply::Empty
        }
        DeviceInput::CheckOut(m) => {
            let e = checkin::CheckOut {
                device,
                identity,
                topic: m.topic,
                with_device_channel: false,
            };
            end_queue(s, out, e, raw, CancelReason::CheckedOut);
            Reply::Empty
        }
        DeviceInput::UserAuthenticate(m) => {
            let e = checkin::UserAuthenticate {
                device,
                identity,
                user_short_name: m.user_short_name,
                user_long_name: m.user_long_name,
                digest_response_present: m.digest_response_present,
                outcome: "declined".into(),
            };
            out.push(s, e, raw);
            Reply::Gone
        }
        DeviceInput::SetBootstrapToken(m) => {
            let e = checkin::SetBootstrapToken {
                device,
                identity,
                bootstrap_token: m.bootstrap_token,
                awaiting_configuration: m.awaiting_configuration,
            };
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
        DeviceInput::DeclarativeManagement { endpoint, request, set } => {
            let set = set.unwrap_or_else(|| std::sync::Arc::new(DeclSet::empty()));
            let mut served = checkin::DeclarativeManagement {
                device,
                identity,
                endpoint,
                http_status: 200,
                declarations_token: None,
                server_token: None,
            };
            let reply = match request {
                DdmRequest::Tokens => {
                    served.declarations_token = Some(set.declarations_token.clone());
                    DdmReply::Json(set.tokens_json())
                }
                DdmRequest::DeclarationItems => {
                    served.declarations_token = Some(set.declarations_token.clone());
                    DdmReply::Json(set.items_json())
                }
                DdmRequest::Declaration { category, identifier } => match set.find(category, &identifier) {
                    Some(item) => {
                        served.server_token = Some(item.server_token.clone());
                        DdmReply::Json(item.served.to_string())
                    }
                    None => DdmReply::NotFound,
                },
                DdmRequest::Status { full_report, report } => {
                    let reported = DeclarationStatusReported {
                        device: served.device,
                        identity: served.identity,
                        full_report,
                        report,
                    };
                    out.push(s, reported, raw);
                    out.reply = Some(Reply::Ddm(DdmReply::StatusAccepted));
                    return;
                }
                DdmRequest::Unknown | DdmRequest::Data { found: false } => DdmReply::NotFound,
                DdmRequest::Data { found: true } => DdmReply::StatusAccepted,
            };
            if reply == DdmReply::NotFound {
                served.http_status = 404;
            }
            out.push(s, served, raw);
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
fn end_queue(s: &mut Enrollment, out: &mut Outcome, event: impl Into<Event>, raw: Option<Bytes>, reason: CancelReason) {
    let pending: Vec<String> = s.queue.iter().map(|p| p.command_uuid.clone()).collect();
    out.push(s, event, raw);
    for command_uuid in pending {
        out.push(
            s,
            CommandCancelled {
                command_uuid,
                reason,
                note: None,
            },
            None,
        );
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
    raw: Option<Bytes>,
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
    // A secret (a PIN, an UnlockToken) goes only to the identity it was queued for.
    let next = loop {
        let Some(next) = s.next_command().cloned() else {
            return Reply::Empty;
        };
        match &next.identity {
            Some(fp) if *fp != identity.fingerprint_sha256 => {
                let cancelled = CommandCancelled {
                    command_uuid: next.command_uuid,
                    reason: CancelReason::IdentityChanged,
                    note: None,
                };
                out.push(s, cancelled, None);
            }
            _ => break next,
        }
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
            let identity_fingerprint_sha256 = s
                .identity
                .as_ref()
                .filter(|_| sealed)
                .map(|i| i.fingerprint_sha256.clone());
            let queued = CommandQueued {
                command_uuid: command_uuid.clone(),
                request_type,
                generation: s.generation,
                idempotency_key,
                reason,
                expires_at,
                raw_sealed: sealed,
                identity_fingerprint_sha256,
            };
            out.push(s, queued, Some(Bytes::from(payload)));
            out.reply = Some(Reply::Queued {
                command_uuid,
                duplicate: false,
            });
        }
        AdminInput::RecordPush { .. } | AdminInput::EndUserChannel { .. } => {}
        AdminInput::Forget { reason } => {
            end_queue(s, out, DeviceForgotten { reason }, None, CancelReason::Forgotten);
            out.reply = Some(Reply::Empty);
        }
        AdminInput::RevokeIdentity {
            fingerprint_sha256,
            reason,
        } => {
            let bound = s.identity.as_ref().map(|i| i.fingerprint_sha256.as_str());
            if bound == Some(fingerprint_sha256.as_str()) && !s.identity_revoked {
                let revoked = IdentityRevoked {
                    fingerprint_sha256,
                    reason,
                };
                end_queue(s, out, revoked, None, CancelReason::Forgotten);
            }
            out.reply = Some(Reply::Empty);
        }
        AdminInput::SyncDeclarations {
            declarations_token,
            payload,
        } => {
            let command_uuid = format!("{DDM_COMMAND_PREFIX}{declarations_token}");
            // A device never given a set needs none while its set is empty.
            let never_needed = s.ddm_token.is_none() && declarations_token == DeclSet::empty().declarations_token;
            // The same CommandUUID twice in one queue would make one answer complete both.
            let pending = s.pending(&command_uuid).is_some();
            if never_needed || pending || s.ddm_token.as_deref() == Some(declarations_token.as_str()) {
                out.reply = Some(Reply::Queued {
                    command_uuid,
                    duplicate: true,
                });
                return Ok(());
            }
            // An older sync the device has not fetched would only make it sync twice.
            let superseded: Vec<String> = s
                .queue
                .iter()
                .filter(|p| p.command_uuid.starts_with(DDM_COMMAND_PREFIX) && p.deliveries == 0)
                .map(|p| p.command_uuid.clone())
                .collect();
            for command_uuid in superseded {
                let cancelled = CommandCancelled {
                    command_uuid,
                    reason: CancelReason::Superseded,
                    note: None,
                };
                out.push(s, cancelled, None);
            }
            let queued = CommandQueued {
                command_uuid: command_uuid.clone(),
                request_type: "DeclarativeManagement".into(),
                generation: s.generation,
                idempotency_key: None,
                reason: None,
                expires_at: None,
                raw_sealed: true,
                identity_fingerprint_sha256: s.identity.as_ref().map(|i| i.fingerprint_sha256.clone()),
            };
            out.push(s, queued, Some(Bytes::from(payload)));
            out.reply = Some(Reply::Queued {
                command_uuid,
                duplicate: false,
            });
        }
        AdminInput::Cancel { command_uuid, note } => {
            if s.pending(&command_uuid).is_none() {
                return Err(Refusal::UnknownCommand(command_uuid));
            }
            out.push(
                s,
                CommandCancelled {
                    command_uuid,
                    reason: CancelReason::Admin,
                    note,
                },
                None,
            );
            out.reply = Some(Reply::Empty);
        }
    }
    Ok(())
}
