//! How each event changes command status, and the indexes kept beside the documents.

use annal_schemas::events::command::CommandQueued;
use annal_schemas::{CommandClass, Event};

use super::progress::{Progress, Step, Target};
use super::{write_key, CommandState, CommandStatus, Commands};
use crate::context::{Context, Input};
use crate::docs::DocStore;
use crate::{Change, ProjectionError};

impl Commands {
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        if let Input::Event(Event::CommandQueued(e)) = input {
            self.queued(cx, e);
            return;
        }
        let Some((target, step)) = Step::of(input) else {
            return;
        };
        match target {
            Target::Command(uuid) => {
                if step_command(&mut self.docs, &mut self.scratch, cx, uuid, &step) {
                    self.dequeue(cx.key, |(_, u)| u == uuid);
                }
            }
            // A push wakes the device for every command it has not fetched yet, and takes
            // none out of the queue.
            Target::Pending => {
                for (_, uuid) in self.queues.get(cx.key).into_iter().flatten() {
                    step_command(&mut self.docs, &mut self.scratch, cx, uuid, &step);
                }
            }
        }
    }

    fn queued(&mut self, cx: &Context<'_>, e: &CommandQueued) {
        let doc = CommandStatus {
            enrollment: cx.key.to_owned(),
            command_uuid: e.command_uuid.clone(),
            request_type: e.request_type.clone(),
            class: CommandClass::of(&e.request_type).as_str().to_owned(),
            requester: cx.actor.to_owned(),
            reason: e.reason.clone(),
            idempotency_key: e.idempotency_key.clone(),
            generation: e.generation,
            queued_at: cx.at,
            queued_position: cx.position,
            expires_at: e.expires_at,
            pushed_at: None,
            delivered_at: None,
            deliveries: 0,
            not_now_count: 0,
            last_not_now_at: None,
            status: CommandState::Queued,
            completed_at: None,
            result_position: None,
            error_chain: Vec::new(),
            cancel_reason: None,
            cancelled_by: None,
            cancel_note: None,
            error_reason: None,
            error_detail: None,
        };
        write_key(&mut self.scratch, cx.key, &e.command_uuid);
        // A CommandUUID may be queued again once the earlier command left the queue.
        let replaced = self.docs.insert(&self.scratch, doc);
        self.reindex(replaced.as_ref(), cx.key, &e.command_uuid, Some(cx.position), true);
    }

    /// Takes the commands `leaves` picks out of the enrollment's queue; an empty queue goes.
    fn dequeue(&mut self, enrollment: &str, leaves: impl Fn(&(u64, String)) -> bool) {
        if let Some(queue) = self.queues.get_mut(enrollment) {
            queue.retain(|c| !leaves(c));
            if queue.is_empty() {
                self.queues.remove(enrollment);
            }
        }
    }

    /// Keeps the queues and the CommandUUID index in step with the document of (`enrollment`,
    /// `uuid`) that replaced `old`: it `exists` (or was removed), and is pending, queued at
    /// `queued_position`, when that is set.
    pub(super) fn reindex(
        &mut self,
        old: Option<&CommandStatus>,
        enrollment: &str,
        uuid: &str,
        queued_position: Option<u64>,
        exists: bool,
    ) {
        if let Some(old) = old.filter(|o| o.status.is_pending()) {
            self.dequeue(enrollment, |(p, _)| *p == old.queued_position);
        }
        if let Some(position) = queued_position {
            let queue = self.queues.entry(enrollment.to_owned()).or_default();
            // Restored documents arrive in any order; the queue stays in queued order.
            let at = queue.partition_point(|(p, _)| *p < position);
            queue.insert(at, (position, uuid.to_owned()));
        }
        // The document key is (enrollment, CommandUUID): the enrollment is listed under the UUID
        // exactly while a document exists, so a fan-out to many devices never scans its owners.
        match (old.is_some(), exists) {
            (false, true) => self
                .by_uuid
                .entry(uuid.to_owned())
                .or_default()
                .push(enrollment.to_owned()),
            (true, false) => {
                if let Some(owners) = self.by_uuid.get_mut(uuid) {
                    owners.retain(|o| o != enrollment);
                    if owners.is_empty() {
                        self.by_uuid.remove(uuid);
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        let old = self.docs.restore(Self::NAME, &change.key, change.doc.as_ref())?;
        let (enrollment, uuid, pending_at) = match (self.docs.get(&change.key), &old) {
            (Some(c), _) => (
                c.enrollment.clone(),
                c.command_uuid.clone(),
                c.status.is_pending().then_some(c.queued_position),
            ),
            (None, Some(o)) => (o.enrollment.clone(), o.command_uuid.clone(), None),
            (None, None) => return Ok(()),
        };
        let exists = self.docs.get(&change.key).is_some();
        self.reindex(old.as_ref(), &enrollment, &uuid, pending_at, exists);
        Ok(())
    }

    /// Commands pending across every enrollment (the fleet's queue depth).
    pub fn pending_total(&self) -> usize {
        self.queues.values().map(Vec::len).sum()
    }

    /// Number of commands in the enrollment's queue.
    pub fn pending_count(&self, enrollment: &str) -> usize {
        self.queues.get(enrollment).map_or(0, Vec::len)
    }

    /// CommandUUIDs in the enrollment's queue, oldest first.
    pub(crate) fn pending_uuids<'a>(&'a self, enrollment: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.queues
            .get(enrollment)
            .into_iter()
            .flatten()
            .map(|(_, u)| u.as_str())
    }
}

/// Moves the command (`cx.key`, `uuid`) a step, with what only this projection counts; returns
/// whether the step took it out of the queue.
fn step_command(
    docs: &mut DocStore<CommandStatus>,
    scratch: &mut String,
    cx: &Context<'_>,
    uuid: &str,
    step: &Step<'_>,
) -> bool {
    write_key(scratch, cx.key, uuid);
    let Some(mut progress) = docs.get(scratch).map(CommandStatus::progress) else {
        return false;
    };
    if !progress.apply(step, cx) {
        return false;
    }
    let Some(c) = docs.update(scratch) else {
        return false;
    };
    c.set_progress(progress);
    match *step {
        Step::Delivered { attempt } => c.deliveries = c.deliveries.max(attempt),
        Step::NotNow => {
            c.not_now_count += 1;
            c.last_not_now_at = Some(cx.at);
        }
        Step::Result {
            error_reason: Some(_),
            error_detail,
            ..
        } => c.error_detail = error_detail.map(str::to_owned),
        _ => {}
    }
    !c.status.is_pending()
}

impl CommandStatus {
    fn progress(&self) -> Progress {
        Progress {
            status: self.status,
            pushed_at: self.pushed_at,
            delivered_at: self.delivered_at,
            completed_at: self.completed_at,
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
        self.completed_at = p.completed_at;
        self.result_position = p.result_position;
        self.error_chain = p.error_chain;
        self.cancel_reason = p.cancel_reason;
        self.cancelled_by = p.cancelled_by;
        self.cancel_note = p.cancel_note;
        self.error_reason = p.error_reason;
    }
}
