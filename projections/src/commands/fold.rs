//! How each event changes command status, and the indexes kept beside the documents.

use annal_schemas::events::command::{CommandQueued, ErrorChainItem};
use annal_schemas::{CommandClass, Event};

use super::{write_key, CommandState, CommandStatus, Commands};
use crate::context::{Answer, Context, Input};
use crate::{Change, ProjectionError};

impl Commands {
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        match input {
            Input::Push { .. } => self.pushed(cx),
            Input::Delivered(c) => {
                self.change_pending(cx.key, &c.command_uuid, |s| {
                    s.delivered_at.get_or_insert(cx.at);
                    s.deliveries = s.deliveries.max(c.attempt);
                    s.status = CommandState::Delivered;
                });
            }
            Input::Answered(Answer::NotNow, c) => {
                self.change_pending(cx.key, &c.command_uuid, |s| {
                    s.not_now_count += 1;
                    s.last_not_now_at = Some(cx.at);
                    s.status = CommandState::NotNow;
                });
            }
            Input::Answered(Answer::Acknowledged, c) => {
                self.result(cx, &c.command_uuid, CommandState::Acknowledged, &[]);
            }
            Input::Answered(Answer::CommandFormatError, c) => {
                self.result(cx, &c.command_uuid, CommandState::CommandFormatError, &[]);
            }
            Input::Event(Event::CommandQueued(e)) => self.queued(cx, e),
            Input::Event(Event::CommandErrored(e)) => {
                self.result(cx, &e.command_uuid, CommandState::Error, &e.error_chain);
                if e.reason.is_some() {
                    let detail = e.unparseable.as_ref().map(|u| u.detail.clone());
                    self.change_result(cx, &e.command_uuid, |c| {
                        c.error_reason = e.reason;
                        c.error_detail = detail;
                    });
                }
            }
            Input::Event(Event::CommandCancelled(e)) => self.complete(cx.key, &e.command_uuid, |s| {
                s.status = CommandState::Cancelled;
                s.cancel_reason = Some(e.reason);
                s.completed_at = Some(cx.at);
            }),
            Input::Event(Event::CommandExpired(e)) => self.complete(cx.key, &e.command_uuid, |s| {
                s.status = CommandState::Expired;
                s.completed_at = Some(e.expired_at);
            }),
            _ => {}
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
            error_reason: None,
            error_detail: None,
        };
        write_key(&mut self.scratch, cx.key, &e.command_uuid);
        // A CommandUUID may be queued again once the earlier command left the queue.
        let replaced = self.docs.insert(&self.scratch, doc);
        self.reindex(replaced.as_ref(), cx.key, &e.command_uuid, Some(cx.position), true);
    }

    /// A push wakes the device for every command it has not fetched yet.
    fn pushed(&mut self, cx: &Context<'_>) {
        let Some(queue) = self.queues.get(cx.key) else { return };
        for (_, uuid) in queue {
            write_key(&mut self.scratch, cx.key, uuid);
            if self.docs.get(&self.scratch).is_some_and(|c| c.delivered_at.is_none()) {
                if let Some(c) = self.docs.update(&self.scratch) {
                    c.pushed_at = Some(cx.at);
                }
            }
        }
    }

    fn result(&mut self, cx: &Context<'_>, uuid: &str, status: CommandState, error_chain: &[ErrorChainItem]) {
        self.complete(cx.key, uuid, |c| {
            c.status = status;
            c.completed_at = Some(cx.at);
            c.result_position = Some(cx.position);
            c.error_chain = error_chain.to_vec();
        });
    }

    /// Adds to the result `cx` just recorded, if it was the command's result (not a retried
    /// answer to a command that had already left the queue).
    fn change_result(&mut self, cx: &Context<'_>, uuid: &str, change: impl FnOnce(&mut CommandStatus)) {
        write_key(&mut self.scratch, cx.key, uuid);
        let recorded = Some(cx.position);
        if self
            .docs
            .get(&self.scratch)
            .is_none_or(|c| c.result_position != recorded)
        {
            return;
        }
        if let Some(c) = self.docs.update(&self.scratch) {
            change(c);
        }
    }

    /// Changes a command still in the queue. Answers to commands no longer pending (a retried
    /// answer, one from before a re-enrollment) are in the log but change nothing here.
    fn change_pending(&mut self, enrollment: &str, uuid: &str, change: impl FnOnce(&mut CommandStatus)) -> bool {
        write_key(&mut self.scratch, enrollment, uuid);
        if !self.docs.get(&self.scratch).is_some_and(|c| c.status.is_pending()) {
            return false;
        }
        if let Some(c) = self.docs.update(&self.scratch) {
            change(c);
        }
        true
    }

    /// Changes a pending command into a final state and takes it out of the queue.
    fn complete(&mut self, enrollment: &str, uuid: &str, change: impl FnOnce(&mut CommandStatus)) {
        if self.change_pending(enrollment, uuid, change) {
            self.dequeue(enrollment, |(_, u)| u == uuid);
        }
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
