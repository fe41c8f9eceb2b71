//! Pure aggregates (decide/evolve), no I/O: given the events so far and a request, decide which
//! events to append and what to answer. The HTTP edge loads, calls `decide`, appends, replies.

pub mod access;
pub mod activation_lock;
pub mod api_keys;
pub mod declarations;
pub mod enrollment;
pub mod groups;
pub mod identities;
pub mod push;
pub mod rails;
pub mod scep_challenges;
