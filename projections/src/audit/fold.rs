//! How each event changes the audit trail: an entry is created when a security-relevant command
//! is queued (with the device's identifiers as the trail knows them then) and moves with the
//! command's steps; check-ins and DeviceInformation answers keep those identifiers current.

use annal_schemas::events::command::CommandQueued;
use annal_schemas::events::declaration::AssignmentTarget;
use annal_schemas::events::group::GroupDefinition;
use annal_schemas::events::identity::EnrollmentRefused;
use annal_schemas::{CommandClass, Event};
use base64::Engine;

use super::{AuditEntry, AuditTrail, RawAnswer};
use crate::commands::progress::{Progress, Step, Target};
use crate::commands::{command_key, write_key, CommandState};
use crate::context::{Answer, AnswerKind, CommandRef, Context, Input};
use crate::devices::ids::DeviceIds;
use crate::docs::DocStore;
use crate::plist_json::{classify, RawKind};
use crate::{Change, ProjectionError};

/// A group's definition in one line, as the trail shows it.
fn describe(definition: &GroupDefinition) -> String {
    match definition {
        GroupDefinition::Members(ids) => format!("{} listed enrollments", ids.len()),
        GroupDefinition::Filter(f) => serde_json::to_string(f).unwrap_or_default(),
    }
}

impl AuditTrail {
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        match input {
            Input::Event(Event::CommandQueued(e)) => {
                if CommandClass::of(&e.request_type).is_security_relevant() {
                    self.queued(cx, e);
                }
                return;
            }
            Input::Event(Event::EnrollmentRefused(e)) => {
                self.refused(cx, e);
                return;
            }
            Input::Event(Event::ApiKeyCreated(e)) => {
                let role = serde_json::to_value(e.role).ok();
                let role = role.as_ref().and_then(|r| r.as_str()).unwrap_or("unknown");
                let subject = format!("{role} key {:?} ({})", e.name, e.key_id);
                self.administration(cx, "ApiKeyCreated", subject, None);
                return;
            }
            Input::Event(Event::ApiKeyRevoked(e)) => {
                let subject = format!("key {}", e.key_id);
                self.administration(cx, "ApiKeyRevoked", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::GroupDefined(e)) => {
                let subject = format!("group {:?}: {}", e.name, describe(&e.definition));
                self.administration(cx, "GroupDefined", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::GroupRemoved(e)) => {
                self.administration(cx, "GroupRemoved", format!("group {:?}", e.name), e.reason.clone());
                return;
            }
            Input::Event(Event::DeviceTagged(e)) => {
                let subject = format!("tag {:?} on {}", e.tag, e.enrollment_id);
                self.administration(cx, "DeviceTagged", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeviceUntagged(e)) => {
                let subject = format!("tag {:?} off {}", e.tag, e.enrollment_id);
                self.administration(cx, "DeviceUntagged", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::TargetsResolved(e)) => {
                let group = e
                    .group
                    .as_deref()
                    .map_or("a filter".to_string(), |g| format!("group {g:?}"));
                let subject = format!(
                    "{} {} to {group} ({}): {} devices: {}",
                    e.request_type,
                    e.command_uuid,
                    describe(&e.definition),
                    e.enrollments.len(),
                    e.enrollments.join(", ")
                );
                self.administration(cx, "TargetsResolved", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeclarationDefined(e)) => {
                let subject = format!(
                    "{} declaration {:?} ({}), ServerToken {}",
                    e.category, e.identifier, e.declaration_type, e.server_token
                );
                self.administration(cx, "DeclarationDefined", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeclarationRemoved(e)) => {
                let subject = format!("{} declaration {:?}", e.category, e.identifier);
                self.administration(cx, "DeclarationRemoved", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeclarationAssigned(e)) => {
                let target = match &e.target {
                    AssignmentTarget::Enrollment(key) => format!("enrollment {key}"),
                    AssignmentTarget::Group(name) => format!("group {name:?}"),
                    AssignmentTarget::Filter(f) => describe(&GroupDefinition::Filter(f.clone())),
                };
                let subject = format!("declaration {:?} to {target} ({})", e.identifier, e.assignment_id);
                self.administration(cx, "DeclarationAssigned", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeclarationUnassigned(e)) => {
                let subject = format!("declaration {:?} ({})", e.identifier, e.assignment_id);
                self.administration(cx, "DeclarationUnassigned", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::DeclarationDataStored(e)) => {
                let subject = format!("declaration data {} ({}, {} bytes)", e.sha256, e.content_type, e.size);
                self.administration(cx, "DeclarationDataStored", subject, e.reason.clone());
                return;
            }
            Input::Event(Event::EscrowKeyUnlockRequested(e)) => {
                let subject = format!(
                    "Activation Lock bypass for {} ({}), for {:?} of {:?}, with the certificate of {}",
                    e.serial_number, e.product_type, e.guid, e.org_name, e.topic
                );
                self.administration(cx, "EscrowKeyUnlockRequested", subject, None);
                return;
            }
            Input::Event(Event::EscrowKeyUnlockAnswered(e)) => {
                let answer = match (e.status, &e.error) {
                    (Some(200), _) => "Apple removed the Activation Lock (200)".to_string(),
                    (Some(status), _) => format!("Apple refused it ({status})"),
                    (None, Some(error)) => format!("Apple was not reached: {error}"),
                    (None, None) => "no answer".to_string(),
                };
                let subject = format!("Activation Lock bypass for {}: {answer}", e.serial_number);
                self.administration(cx, "EscrowKeyUnlockAnswered", subject, None);
                return;
            }
            Input::Event(Event::ConsoleSessionStarted(e)) => {
                let role = serde_json::to_value(e.role).ok();
                let role = role.as_ref().and_then(|r| r.as_str()).unwrap_or("unknown");
                let short = e.session_id_sha256.get(..16).unwrap_or(&e.session_id_sha256);
                let subject = format!("console session {short} ({role})");
                self.administration(cx, "ConsoleSessionStarted", subject, None);
                return;
            }
            Input::Event(Event::ConsoleSessionEnded(e)) => {
                let reason = serde_json::to_value(e.reason).ok();
                let reason = reason.as_ref().and_then(|r| r.as_str()).unwrap_or("unknown");
                let short = e.session_id_sha256.get(..16).unwrap_or(&e.session_id_sha256);
                let subject = format!("console session {short}: {reason}");
                self.administration(cx, "ConsoleSessionEnded", subject, None);
                return;
            }
            Input::Event(Event::PushCertificateInstalled(e)) => {
                let mut subject = format!(
                    "push certificate {} (SHA-256 {}, valid until {})",
                    e.topic,
                    e.fingerprint_sha256,
                    e.not_after.to_rfc3339()
                );
                if e.forced {
                    subject.push_str(&format!(
                        ", forced over topic {}",
                        e.replaced_topic.as_deref().unwrap_or("?")
                    ));
                }
                self.administration(cx, "PushCertificateInstalled", subject, None);
                return;
            }
            // As the inventory: an enrollment is known from its first check-in on.
            Input::Event(Event::Authenticate(e)) => {
                self.identify(cx.key, true, |ids| ids.authenticated(cx.key, e));
                return;
            }
            Input::Event(Event::TokenUpdate(e)) => {
                self.identify(cx.key, true, |ids| ids.token_updated(cx.key, e));
                return;
            }
            Input::Answered(Answer::Acknowledged, c) => self.answered(cx, c),
            _ => {}
        }
        let Some((target, step)) = Step::of(input) else {
            return;
        };
        match target {
            Target::Command(uuid) => {
                if step_entry(&mut self.docs, &mut self.scratch, cx, uuid, &step) {
                    self.unpend(cx.key, uuid);
                }
            }
            // A push moves no command out of the queue.
            Target::Pending => {
                for uuid in self.pending.get(cx.key).into_iter().flatten() {
                    step_entry(&mut self.docs, &mut self.scratch, cx, uuid, &step);
                }
            }
        }
    }

    /// Changes the enrollment's identifiers (creating them first when `create`), if that
    /// changes them: a check-in that repeats them writes nothing.
    fn identify(&mut self, enrollment: &str, create: bool, change: impl FnOnce(&mut DeviceIds)) {
        let mut ids = match self.devices.get(enrollment) {
            Some(ids) => ids.clone(),
            None if create => DeviceIds::default(),
            None => return,
        };
        change(&mut ids);
        if self.devices.get(enrollment) != Some(&ids) {
            self.devices.insert(enrollment, ids);
        }
    }

    /// A DeviceInformation answer may report another serial number.
    fn answered(&mut self, cx: &Context<'_>, c: &CommandRef<'_>) {
        if AnswerKind::of(&c.request_type) != Some(AnswerKind::DeviceInformation) || self.devices.get(cx.key).is_none()
        {
            return;
        }
        if let Some(answer) = c.answer(cx.raw) {
            self.identify(cx.key, false, |ids| ids.answered(answer));
        }
    }

    /// The device's UDID and serial number as the trail knows them now.
    fn identifiers(&self, enrollment: &str) -> (Option<String>, Option<String>) {
        match self.devices.get(enrollment) {
            Some(ids) => (
                ids.udid(enrollment).map(str::to_owned),
                ids.serial_number().map(str::to_owned),
            ),
            None => (None, None),
        }
    }

    fn queued(&mut self, cx: &Context<'_>, e: &CommandQueued) {
        let (udid, serial_number) = self.identifiers(cx.key);
        let entry = AuditEntry {
            udid,
            serial_number,
            reason: e.reason.clone(),
            ..AuditEntry::new(
                cx,
                e.command_uuid.clone(),
                &e.request_type,
                CommandClass::of(&e.request_type).as_str(),
                CommandState::Queued,
            )
        };
        // A CommandUUID may be queued again once the earlier command left the queue.
        let key = command_key(cx.key, &e.command_uuid);
        let old = self.docs.insert(&key, entry);
        self.reindex(&key, old);
    }

    /// A refused enrollment: who asked (the request's actor) with which certificate, for which
    /// device, and why it was refused.
    fn refused(&mut self, cx: &Context<'_>, e: &EnrollmentRefused) {
        let (udid, serial_number) = self.identifiers(cx.key);
        let command_uuid = format!("refused-{}", cx.position);
        let entry = AuditEntry {
            udid: e.udid.clone().or(udid),
            serial_number,
            reason: Some(e.reason.clone()),
            result_at: Some(cx.at),
            fingerprint_sha256: Some(e.fingerprint_sha256.clone()),
            bound_fingerprint_sha256: e.bound_fingerprint_sha256.clone(),
            ..AuditEntry::new(
                cx,
                command_uuid.clone(),
                "EnrollmentRefused",
                "enrollment",
                CommandState::Refused,
            )
        };
        let key = command_key(cx.key, &command_uuid);
        let old = self.docs.insert(&key, entry);
        self.reindex(&key, old);
    }

    /// An administrative action: who did what to which key, token or certificate, and why when
    /// they said. Keyed `<stream>/<EventType>-<position>`.
    fn administration(&mut self, cx: &Context<'_>, request_type: &str, subject: String, reason: Option<String>) {
        let command_uuid = format!("{request_type}-{}", cx.position);
        let entry = AuditEntry {
            reason,
            result_at: Some(cx.at),
            subject: Some(subject),
            ..AuditEntry::new(
                cx,
                command_uuid.clone(),
                request_type,
                "administration",
                CommandState::Recorded,
            )
        };
        let key = command_key(cx.key, &command_uuid);
        let old = self.docs.insert(&key, entry);
        self.reindex(&key, old);
    }

    /// Keeps the trail's order and the pending index in step with the entry under `key` that
    /// replaced `old` (or removed it, or left memory).
    pub(super) fn reindex(&mut self, key: &str, old: Option<AuditEntry>) {
        if let Some(old) = old {
            self.by_position.remove(&old.queued_position);
            if old.status.is_pending() {
                self.unpend(&old.enrollment, &old.command_uuid);
            }
        }
        if let Some(entry) = self.docs.get(key) {
            self.by_position.insert(entry.queued_position, key.to_owned());
            if entry.status.is_pending() {
                let uuids = self.pending.entry(entry.enrollment.clone()).or_default();
                if !uuids.contains(&entry.command_uuid) {
                    uuids.push(entry.command_uuid.clone());
                }
            }
        }
    }

    /// The entry (`enrollment`, `uuid`) is no longer pending.
    fn unpend(&mut self, enrollment: &str, uuid: &str) {
        if let Some(uuids) = self.pending.get_mut(enrollment) {
            uuids.retain(|u| u != uuid);
            if uuids.is_empty() {
                self.pending.remove(enrollment);
            }
        }
    }

    pub(crate) fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        if !change.key.contains('/') {
            return self
                .devices
                .restore(Self::NAME, &change.key, change.doc.as_ref())
                .map(drop);
        }
        let old = self.docs.restore(Self::NAME, &change.key, change.doc.as_ref())?;
        self.reindex(&change.key, old);
        Ok(())
    }
}

/// Moves the entry (`cx.key`, `uuid`), if it has one, a step; returns whether the step took it
/// out of the queue. The device's result brings its raw answer.
fn step_entry(
    docs: &mut DocStore<AuditEntry>,
    scratch: &mut String,
    cx: &Context<'_>,
    uuid: &str,
    step: &Step<'_>,
) -> bool {
    write_key(scratch, cx.key, uuid);
    let Some(mut progress) = docs.get(scratch).map(AuditEntry::progress) else {
        return false;
    };
    if !progress.apply(step, cx) {
        return false;
    }
    let Some(entry) = docs.update(scratch) else {
        return false;
    };
    entry.set_progress(progress);
    if let Step::Result { .. } = step {
        entry.answer = cx.raw.map(raw_answer);
    }
    !entry.status.is_pending()
}

impl AuditEntry {
    /// An entry made at `cx` by its actor, with nothing done yet: the three kinds (a command, a
    /// refused enrollment, an administrative action) fill in what they know.
    fn new(cx: &Context<'_>, command_uuid: String, request_type: &str, class: &str, status: CommandState) -> Self {
        AuditEntry {
            enrollment: cx.key.to_owned(),
            command_uuid,
            request_type: request_type.to_owned(),
            class: class.to_owned(),
            udid: None,
            serial_number: None,
            requester: cx.actor.to_owned(),
            reason: None,
            queued_at: cx.at,
            queued_position: cx.position,
            pushed_at: None,
            delivered_at: None,
            result_at: None,
            status,
            error_chain: Vec::new(),
            cancel_reason: None,
            cancelled_by: None,
            cancel_note: None,
            error_reason: None,
            answer: None,
            result_position: None,
            fingerprint_sha256: None,
            bound_fingerprint_sha256: None,
            subject: None,
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            status: self.status,
            pushed_at: self.pushed_at,
            delivered_at: self.delivered_at,
            completed_at: self.result_at,
            result_position: self.result_position,
            error_chain: self.error_chain.clone(),
            cancel_reason: self.cancel_reason,
            cancelled_by: self.cancelled_by.clone(),
            cancel_note: self.cancel_note.clone(),
            error_reason: self.error_reason,
        }
    }

    fn set_progress(&mut self, p: Progress) {
        self.status = p.status;
        self.pushed_at = p.pushed_at;
        self.delivered_at = p.delivered_at;
        self.result_at = p.completed_at;
        self.result_position = p.result_position;
        self.error_chain = p.error_chain;
        self.cancel_reason = p.cancel_reason;
        self.cancelled_by = p.cancelled_by;
        self.cancel_note = p.cancel_note;
        self.error_reason = p.error_reason;
    }
}

/// The raw answer as text when it is an XML plist, base64 otherwise; sealed answers stay closed.
fn raw_answer(raw: &[u8]) -> RawAnswer {
    let base64 = || RawAnswer::Base64(base64::engine::general_purpose::STANDARD.encode(raw));
    match classify(raw) {
        RawKind::Sealed => RawAnswer::Sealed,
        RawKind::Binary => base64(),
        RawKind::Xml => match std::str::from_utf8(raw) {
            Ok(text) => RawAnswer::Xml(text.to_owned()),
            Err(_) => base64(),
        },
    }
}
