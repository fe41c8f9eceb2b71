//! How a command moves through the device's queue: the rules the command status and the audit
//! trail both follow, so an audited command's entry never tells its progress differently from
//! its status. Each keeps what it needs beside this (counts of deliveries and NotNow answers,
//! the raw answer).

use annal_schemas::events::command::{CancelReason, ErrorChainItem, ErrorReason};
use annal_schemas::Event;
use chrono::{DateTime, Utc};

use super::CommandState;
use crate::context::{Answer, Context, Input};

/// A command's progress from queued to its result, cancellation or expiry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    pub status: CommandState,
    /// The latest push APNs accepted for the device after it was queued and before it was
    /// first delivered.
    pub pushed_at: Option<DateTime<Utc>>,
    /// The first delivery.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it left the queue.
    pub completed_at: Option<DateTime<Utc>>,
    /// Global position of the result event (Acknowledged, Error, CommandFormatError).
    pub result_position: Option<u64>,
    pub error_chain: Vec<ErrorChainItem>,
    pub cancel_reason: Option<CancelReason>,
    /// Who cancelled it (the event's actor) and why, in their words: set with `cancel_reason`.
    pub cancelled_by: Option<String>,
    pub cancel_note: Option<String>,
    pub error_reason: Option<ErrorReason>,
}

/// One event in a command's life after it was queued.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// APNs accepted a push for the device: a step of every pending command of the enrollment.
    Pushed,
    Delivered {
        attempt: u32,
    },
    NotNow,
    /// The device's result, or an error Annal recorded for it (`error_reason`, with what could
    /// not be read in `error_detail`).
    Result {
        status: CommandState,
        error_chain: &'a [ErrorChainItem],
        error_reason: Option<ErrorReason>,
        error_detail: Option<&'a str>,
    },
    Cancelled {
        reason: CancelReason,
        note: Option<&'a str>,
    },
    /// At the expiry's own time, not the event's.
    Expired(DateTime<Utc>),
}

/// Which commands of the enrollment a step is one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// Every pending one.
    Pending,
    /// The one with this CommandUUID.
    Command(&'a str),
}

impl<'a> Step<'a> {
    /// The step an event is, and of which commands; `None` for events that are none (a
    /// CommandQueued starts a command rather than moving one).
    pub fn of(input: &'a Input<'a>) -> Option<(Target<'a>, Step<'a>)> {
        let one = |uuid: &'a str, step| Some((Target::Command(uuid), step));
        let result = |status, error_chain: &'a [ErrorChainItem]| Step::Result {
            status,
            error_chain,
            error_reason: None,
            error_detail: None,
        };
        match input {
            // Only a push APNs took: an attempt that failed woke nobody, and a `pushed_at` that
            // moved with every failed attempt would tell an auditor the device was pushed.
            Input::Push { accepted: true } => Some((Target::Pending, Step::Pushed)),
            Input::Delivered(c) => one(&c.command_uuid, Step::Delivered { attempt: c.attempt }),
            Input::Answered(Answer::NotNow, c) => one(&c.command_uuid, Step::NotNow),
            Input::Answered(Answer::Acknowledged, c) => one(&c.command_uuid, result(CommandState::Acknowledged, &[])),
            Input::Answered(Answer::CommandFormatError, c) => {
                one(&c.command_uuid, result(CommandState::CommandFormatError, &[]))
            }
            Input::Event(Event::CommandErrored(e)) => one(
                &e.command_uuid,
                Step::Result {
                    status: CommandState::Error,
                    error_chain: &e.error_chain,
                    error_reason: e.reason,
                    error_detail: e.unparseable.as_ref().map(|u| u.detail.as_str()),
                },
            ),
            Input::Event(Event::CommandCancelled(e)) => one(
                &e.command_uuid,
                Step::Cancelled {
                    reason: e.reason,
                    note: e.note.as_deref(),
                },
            ),
            Input::Event(Event::CommandExpired(e)) => one(&e.command_uuid, Step::Expired(e.expired_at)),
            _ => None,
        }
    }
}

impl Progress {
    /// Takes the step the event at `cx` is; returns whether it did. Only a command still in the
    /// queue moves: an answer to one that has left it (a retried answer, one from before a
    /// re-enrollment) is in the log but does not replace the first one. A push after the first
    /// delivery is not the command's push.
    pub fn apply(&mut self, step: &Step<'_>, cx: &Context<'_>) -> bool {
        if !self.status.is_pending() {
            return false;
        }
        match *step {
            Step::Pushed => {
                if self.delivered_at.is_some() {
                    return false;
                }
                self.pushed_at = Some(cx.at);
            }
            Step::Delivered { .. } => {
                self.delivered_at.get_or_insert(cx.at);
                self.status = CommandState::Delivered;
            }
            Step::NotNow => self.status = CommandState::NotNow,
            Step::Result {
                status,
                error_chain,
                error_reason,
                ..
            } => {
                self.status = status;
                self.completed_at = Some(cx.at);
                self.result_position = Some(cx.position);
                self.error_chain = error_chain.to_vec();
                if error_reason.is_some() {
                    self.error_reason = error_reason;
                }
            }
            Step::Cancelled { reason, note } => {
                self.status = CommandState::Cancelled;
                self.cancel_reason = Some(reason);
                self.cancelled_by = Some(cx.actor.to_owned());
                self.cancel_note = note.map(str::to_owned);
                self.completed_at = Some(cx.at);
            }
            Step::Expired(at) => {
                self.status = CommandState::Expired;
                self.completed_at = Some(at);
            }
        }
        true
    }
}
