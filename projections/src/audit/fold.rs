//! The audit trail follows the command status projection: an entry is created when a
//! security-relevant command is queued and copies the command's progress as it changes.

use annal_schemas::events::identity::EnrollmentRefused;
use annal_schemas::{CommandClass, Event};
use base64::Engine;

use super::{AuditEntry, AuditTrail, RawAnswer};
use crate::commands::{write_key, CommandState, CommandStatus, Commands};
use crate::context::{Context, Input};
use crate::devices::Inventory;
use crate::plist_json::{classify, RawKind};
use crate::{Change, ProjectionError};

impl AuditTrail {
    /// Applied after the command status and inventory projections have seen the event.
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>, commands: &Commands, devices: &Inventory) {
        let uuid: &str = match input {
            Input::Event(Event::CommandQueued(e)) => {
                if CommandClass::of(&e.request_type).is_security_relevant() {
                    write_key(&mut self.scratch, cx.key, &e.command_uuid);
                    if let Some(c) = commands.get_by_key(&self.scratch) {
                        self.queued(c, devices);
                    }
                }
                return;
            }
            Input::Event(Event::EnrollmentRefused(e)) => {
                self.refused(cx, e, devices);
                return;
            }
            Input::Push { .. } => {
                for uuid in commands.pending_uuids(cx.key) {
                    write_key(&mut self.scratch, cx.key, uuid);
                    if let Some(c) = commands.get_by_key(&self.scratch) {
                        self.follow(c);
                    }
                }
                return;
            }
            Input::Delivered(c) | Input::Answered(_, c) => &c.command_uuid,
            Input::Event(Event::CommandCancelled(e)) => &e.command_uuid,
            Input::Event(Event::CommandExpired(e)) => &e.command_uuid,
            Input::Event(Event::CommandErrored(e)) => &e.command_uuid,
            _ => return,
        };
        write_key(&mut self.scratch, cx.key, uuid);
        let Some(c) = commands.get_by_key(&self.scratch) else {
            return;
        };
        self.follow(c);
        // The command projection records this event as the command's result only when it was
        // still pending: a retried answer does not replace the first one.
        if c.result_position == Some(cx.position) {
            write_key(&mut self.scratch, cx.key, uuid);
            if let Some(entry) = self.docs.update(&self.scratch) {
                entry.answer = cx.raw.map(raw_answer);
                entry.result_position = Some(cx.position);
            }
        }
    }

    fn queued(&mut self, c: &CommandStatus, devices: &Inventory) {
        let (udid, serial_number) = devices.udid_and_serial(&c.enrollment);
        let entry = AuditEntry {
            enrollment: c.enrollment.clone(),
            command_uuid: c.command_uuid.clone(),
            request_type: c.request_type.clone(),
            class: c.class.clone(),
            udid,
            serial_number,
            requester: c.requester.clone(),
            reason: c.reason.clone(),
            queued_at: c.queued_at,
            queued_position: c.queued_position,
            pushed_at: None,
            delivered_at: None,
            result_at: None,
            status: c.status,
            error_chain: Vec::new(),
            cancel_reason: None,
            error_reason: None,
            answer: None,
            result_position: None,
            fingerprint_sha256: None,
            bound_fingerprint_sha256: None,
        };
        write_key(&mut self.scratch, &c.enrollment, &c.command_uuid);
        if let Some(old) = self.docs.insert(&self.scratch, entry) {
            self.by_position.remove(&old.queued_position);
        }
        self.by_position.insert(c.queued_position, self.scratch.clone());
    }

    /// A refused enrollment: who asked (the request's actor) with which certificate, for which
    /// device, and why it was refused.
    fn refused(&mut self, cx: &Context<'_>, e: &EnrollmentRefused, devices: &Inventory) {
        let (udid, serial_number) = devices.udid_and_serial(cx.key);
        let command_uuid = format!("refused-{}", cx.position);
        let entry = AuditEntry {
            enrollment: cx.key.to_owned(),
            command_uuid: command_uuid.clone(),
            request_type: "EnrollmentRefused".to_owned(),
            class: "enrollment".to_owned(),
            udid: e.udid.clone().or(udid),
            serial_number,
            requester: cx.actor.to_owned(),
            reason: Some(e.reason.clone()),
            queued_at: cx.at,
            queued_position: cx.position,
            pushed_at: None,
            delivered_at: None,
            result_at: Some(cx.at),
            status: CommandState::Refused,
            error_chain: Vec::new(),
            cancel_reason: None,
            error_reason: None,
            answer: None,
            result_position: None,
            fingerprint_sha256: Some(e.fingerprint_sha256.clone()),
            bound_fingerprint_sha256: e.bound_fingerprint_sha256.clone(),
        };
        write_key(&mut self.scratch, cx.key, &command_uuid);
        if let Some(old) = self.docs.insert(&self.scratch, entry) {
            self.by_position.remove(&old.queued_position);
        }
        self.by_position.insert(cx.position, self.scratch.clone());
    }

    /// Copies the command's progress into its entry, if it has one and it changed.
    fn follow(&mut self, c: &CommandStatus) {
        write_key(&mut self.scratch, &c.enrollment, &c.command_uuid);
        let Some(entry) = self.docs.get(&self.scratch) else {
            return;
        };
        let same = entry.pushed_at == c.pushed_at
            && entry.delivered_at == c.delivered_at
            && entry.result_at == c.completed_at
            && entry.status == c.status
            && entry.cancel_reason == c.cancel_reason
            && entry.error_reason == c.error_reason
            && entry.error_chain == c.error_chain;
        if same {
            return;
        }
        if let Some(entry) = self.docs.update(&self.scratch) {
            entry.pushed_at = c.pushed_at;
            entry.delivered_at = c.delivered_at;
            entry.result_at = c.completed_at;
            entry.status = c.status;
            entry.cancel_reason = c.cancel_reason;
            entry.error_reason = c.error_reason;
            entry.error_chain.clone_from(&c.error_chain);
        }
    }

    pub(crate) fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        if let Some(old) = self.docs.restore(Self::NAME, &change.key, change.doc.as_ref())? {
            self.by_position.remove(&old.queued_position);
        }
        if let Some(entry) = self.docs.get(&change.key) {
            self.by_position.insert(entry.queued_position, change.key.clone());
        }
        Ok(())
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
