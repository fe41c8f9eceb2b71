//! Command queries: one command, a device's queue and history, and a fan-out (one CommandUUID
//! queued to many devices) with a count per status.

use std::collections::BTreeMap;

use super::{write_key, CommandState, CommandStatus, Commands};

/// Every command sent under one CommandUUID, and how many are in each status.
#[derive(Debug, Clone, PartialEq)]
pub struct FanOut {
    pub commands: Vec<CommandStatus>,
    pub counts: BTreeMap<CommandState, usize>,
}

impl FanOut {
    /// The commands (in enrollment order) with their counts per status.
    pub fn of(commands: Vec<CommandStatus>) -> Self {
        let mut counts = BTreeMap::new();
        for c in &commands {
            *counts.entry(c.status).or_insert(0) += 1;
        }
        FanOut { commands, counts }
    }
}

impl Commands {
    pub fn get(&self, enrollment: &str, command_uuid: &str) -> Option<&CommandStatus> {
        let mut key = String::new();
        write_key(&mut key, enrollment, command_uuid);
        self.docs.get(&key)
    }

    /// The command with document key `<enrollment>/<CommandUUID>`.
    pub fn get_by_key(&self, key: &str) -> Option<&CommandStatus> {
        self.docs.get(key)
    }

    /// The enrollment's pending commands in FIFO order (the order they were queued).
    pub fn queue(&self, enrollment: &str) -> Vec<CommandStatus> {
        self.pending_uuids(enrollment)
            .filter_map(|uuid| self.get(enrollment, uuid))
            .cloned()
            .collect()
    }

    /// Every command the enrollment was sent, in the order they were queued.
    pub fn for_enrollment(&self, enrollment: &str) -> Vec<CommandStatus> {
        let prefix = format!("{enrollment}/");
        let mut all: Vec<CommandStatus> = self.docs.with_prefix(&prefix).map(|(_, c)| c.clone()).collect();
        all.sort_by_key(|c| c.queued_position);
        all
    }

    /// The command with this CommandUUID on every enrollment it was queued to, by enrollment.
    pub fn by_command_uuid(&self, command_uuid: &str) -> Vec<CommandStatus> {
        let mut owners: Vec<&String> = self.by_uuid.get(command_uuid).into_iter().flatten().collect();
        owners.sort_unstable();
        owners
            .into_iter()
            .filter_map(|enrollment| self.get(enrollment, command_uuid))
            .cloned()
            .collect()
    }

    pub fn fan_out(&self, command_uuid: &str) -> FanOut {
        FanOut::of(self.by_command_uuid(command_uuid))
    }

    /// Number of command documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }
}
