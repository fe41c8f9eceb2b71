//! Exact `$all` positions of events seen lately: KurrentDB reads `$all` only from the start of a
//! record, so `read_all` starts from the closest one it knows (see the module documentation).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use ::kurrentdb::Position;

/// Read positions remembered for `read_all` (about 40 bytes each).
const REMEMBERED: usize = 65_536;

/// Exact `$all` positions of events seen lately, by commit position, oldest insertion evicted.
#[derive(Default)]
pub(super) struct Positions {
    by_commit: BTreeMap<u64, Position>,
    order: VecDeque<u64>,
}

impl Positions {
    pub(super) fn remember(&mut self, p: Position) {
        if self.by_commit.insert(p.commit, p).is_none() {
            self.order.push_back(p.commit);
            if self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.by_commit.remove(&old);
                }
            }
        }
    }

    pub(super) fn at_or_before(&self, commit: u64) -> Option<Position> {
        self.by_commit.range(..=commit).next_back().map(|(_, p)| *p)
    }
}

pub(super) fn lock(positions: &Mutex<Positions>) -> MutexGuard<'_, Positions> {
    // A cache: whatever a panicking holder left is still a set of valid positions.
    positions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(commit: u64) -> Position {
        Position {
            commit,
            prepare: commit,
        }
    }

    #[test]
    fn remembered_positions_give_the_closest_start_at_or_before() {
        let mut positions = Positions::default();
        for p in [100, 250, 400] {
            positions.remember(at(p));
        }
        assert_eq!(positions.at_or_before(99), None);
        assert_eq!(positions.at_or_before(251), Some(at(250)));
        assert_eq!(positions.at_or_before(400), Some(at(400)));
        for p in 0..REMEMBERED as u64 {
            positions.remember(at(1000 + p));
        }
        assert_eq!(positions.at_or_before(999), None, "the oldest insertions are evicted");
        assert_eq!(positions.by_commit.len(), REMEMBERED);
        assert_eq!(positions.order.len(), REMEMBERED);
    }
}
