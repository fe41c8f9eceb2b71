//! The four projections folded together: each event is decoded once and shown to the ones its
//! type feeds (`route.rs`). Each keeps its own position, so one restored at an older checkpoint
//! (or none: a new version) is folded forward alone while the others skip what they have.

use annal_schemas::{Event, RecordedEvent};
use chrono::{DateTime, Utc};

use crate::audit::AuditTrail;
use crate::commands::Commands;
use crate::context::{self, Answer, Input};
use crate::devices::Inventory;
use crate::push::PushHealth;
use crate::route::Feeds;
use crate::{Change, ProjectionError};

/// A point of the log to fold up to (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Events at or before this global position.
    Position(u64),
    /// Events recorded at or before this time.
    Time(DateTime<Utc>),
}

impl AsOf {
    pub fn includes(&self, event: &RecordedEvent) -> bool {
        match self {
            AsOf::Position(p) => event.global_position <= *p,
            AsOf::Time(t) => event.recorded_at <= *t,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Projections {
    devices: Inventory,
    commands: Commands,
    audit: AuditTrail,
    push: PushHealth,
    at: Positions,
}

/// The global position of the last event each projection has seen (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Positions {
    devices: u64,
    commands: u64,
    audit: u64,
    push: u64,
}

impl Positions {
    fn min(&self) -> u64 {
        self.devices.min(self.commands).min(self.audit).min(self.push)
    }

    fn slot(&mut self, model: &str) -> Option<&mut u64> {
        match model {
            Inventory::NAME => Some(&mut self.devices),
            Commands::NAME => Some(&mut self.commands),
            AuditTrail::NAME => Some(&mut self.audit),
            PushHealth::NAME => Some(&mut self.push),
            _ => None,
        }
    }
}

/// Whether a projection at `at` has yet to see the event at `position`.
fn fresh(at: u64, position: u64) -> bool {
    at == 0 || position > at
}

impl Projections {
    pub fn new() -> Self {
        Self::default()
    }

    /// `(NAME, VERSION)` of every projection: the tables their documents are kept in.
    pub fn models() -> [(&'static str, u32); 4] {
        [
            (Inventory::NAME, Inventory::VERSION),
            (Commands::NAME, Commands::VERSION),
            (AuditTrail::NAME, AuditTrail::VERSION),
            (PushHealth::NAME, PushHealth::VERSION),
        ]
    }

    /// Folds a run of events (in log order) into fresh projections. Folding only the events up
    /// to a point (or only one enrollment's stream) gives the state as of that point.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Self {
        let mut projections = Self::new();
        for event in events {
            projections.apply(event);
        }
        projections
    }

    /// Folds the events up to `as_of`; the events must be in log order, so the fold stops at
    /// the first one past it.
    pub fn fold_as_of<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>, as_of: AsOf) -> Self {
        Self::fold(events.into_iter().take_while(|e| as_of.includes(e)))
    }

    /// Folds one event. A projection skips events at or before its own position (they were
    /// applied already: a subscription may redeliver its checkpoint). Events of other streams,
    /// of unknown types or with bodies that do not decode change nothing but the positions.
    pub fn apply(&mut self, event: &RecordedEvent) {
        let p = event.global_position;
        let at = self.at;
        let (devices, commands, audit, push) = (
            fresh(at.devices, p),
            fresh(at.commands, p),
            fresh(at.audit, p),
            fresh(at.push, p),
        );
        if !(devices || commands || audit || push) {
            return;
        }
        self.at = Positions {
            devices: at.devices.max(p),
            commands: at.commands.max(p),
            audit: at.audit.max(p),
            push: at.push.max(p),
        };
        let Some((cx, input)) = context::read(event) else {
            return;
        };
        let feeds = cx.feeds;
        if devices && feeds.has(Feeds::DEVICES) {
            self.devices.apply(&cx, &input);
        }
        if commands && feeds.has(Feeds::COMMANDS) {
            self.commands.apply(&cx, &input);
        }
        if audit && feeds.has(Feeds::AUDIT) {
            self.audit.apply(&cx, &input);
        }
        if push && feeds.has(Feeds::PUSH) {
            self.push.apply(&cx, &input);
        }
        let queue_changed = match &input {
            Input::Answered(answer, _) => *answer != Answer::NotNow,
            Input::Event(e) => matches!(
                e,
                Event::CommandQueued(_)
                    | Event::CommandErrored(_)
                    | Event::CommandCancelled(_)
                    | Event::CommandExpired(_)
                    // The enrollment's documents may be created after its first commands (a
                    // user channel, a fold that starts mid-stream).
                    | Event::TokenUpdate(_)
                    | Event::Authenticate(_)
            ),
            _ => false,
        };
        // The inventory and push health show the pending count of the command projection;
        // one folded forward alone takes the count the command projection has now, which
        // is the count at its own position once it has caught up.
        if queue_changed && (devices || push) {
            let pending = self.commands.pending_count(cx.key);
            if devices {
                self.devices.set_pending(cx.key, pending);
            }
            if push {
                self.push.set_pending(cx.key, pending);
            }
        }
    }

    /// Every document changed since the last drain, once each at its latest value, by model
    /// then key.
    pub fn drain_changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        self.devices.drain(&mut out);
        self.commands.drain(&mut out);
        self.audit.drain(&mut out);
        self.push.drain(&mut out);
        out
    }

    /// Drops persisted settled documents from memory (finished commands and their audit
    /// entries, named as `(model, key)`): memory then holds what can still change, not the
    /// fleet's whole history. Documents not settled, or changed since they were drained, stay.
    /// Queries for evicted documents go to the read-model database; the fold is unaffected,
    /// since no event changes a settled document (a command queued again under the same
    /// CommandUUID replaces it whole).
    pub fn evict<'a>(&mut self, settled: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (model, key) in settled {
            match model {
                Commands::NAME => self.commands.evict(key),
                AuditTrail::NAME => self.audit.evict(key),
                _ => {}
            }
        }
    }

    /// Every document, changed or not: what a full rebuild writes.
    pub fn snapshot(&self) -> Vec<Change> {
        let mut out = Vec::new();
        self.devices.snapshot(&mut out);
        self.commands.snapshot(&mut out);
        self.audit.snapshot(&mut out);
        self.push.snapshot(&mut out);
        out
    }

    /// Loads one persisted document (start-up). Restore every document, then
    /// [`Self::set_position`] to the checkpoint persisted with them, then apply what follows.
    pub fn restore(&mut self, change: &Change) -> Result<(), ProjectionError> {
        let expected = Self::models()
            .into_iter()
            .find(|(name, _)| *name == change.model)
            .map(|(_, version)| version)
            .ok_or_else(|| ProjectionError::UnknownModel(change.model.to_owned()))?;
        if change.version != expected {
            return Err(ProjectionError::VersionMismatch {
                model: change.model.to_owned(),
                found: change.version,
                expected,
            });
        }
        match change.model {
            Inventory::NAME => self.devices.restore(change),
            Commands::NAME => self.commands.restore(change),
            AuditTrail::NAME => self.audit.restore(change),
            PushHealth::NAME => self.push.restore(change),
            other => Err(ProjectionError::UnknownModel(other.to_owned())),
        }
    }

    /// Sets every projection's checkpoint: the global position of the last event the restored
    /// documents include.
    pub fn set_position(&mut self, position: u64) {
        self.at = Positions {
            devices: position,
            commands: position,
            audit: position,
            push: position,
        };
    }

    /// Sets one projection's checkpoint (by its `NAME`): each is persisted with its own.
    pub fn set_checkpoint(&mut self, model: &str, position: u64) -> Result<(), ProjectionError> {
        let slot = self
            .at
            .slot(model)
            .ok_or_else(|| ProjectionError::UnknownModel(model.to_owned()))?;
        *slot = position;
        Ok(())
    }

    /// The global position of the last event one projection (by its `NAME`) has seen.
    pub fn checkpoint(&self, model: &str) -> Option<u64> {
        let mut at = self.at;
        at.slot(model).map(|p| *p)
    }

    /// The global position every projection has applied the log up to.
    pub fn position(&self) -> u64 {
        self.at.min()
    }

    pub fn devices(&self) -> &Inventory {
        &self.devices
    }

    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    pub fn audit(&self) -> &AuditTrail {
        &self.audit
    }

    pub fn push(&self) -> &PushHealth {
        &self.push
    }
}
