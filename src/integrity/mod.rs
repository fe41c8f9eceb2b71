//! Log integrity (design brief §6): recompute the hash chain over the whole log and name
//! the first event that was modified, removed or reordered.

mod verify;
mod walk;

pub use verify::{verify, Checkpoint, Finding, Report};
pub use walk::{out_of_sequence, ChainWalk, Step};
