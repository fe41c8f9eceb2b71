//! Annal's contract with everyone who reads its log: the event envelope, every event type with
//! its schema version, the JSON Schema of each, and the hash chain that makes tampering visible.
//!
//! Nothing here does I/O. The store backends, the audit verifier and analytics consumers all
//! depend on these definitions, so a change here is a change of the public contract: the JSON
//! Schema files under `schemas/events/` are regenerated and reviewed with it.

pub mod catalog;
pub mod chain;
pub mod command_class;
pub mod ddm;
pub mod envelope;
pub mod events;
pub mod migrations;
pub mod plist_data;
pub mod sealed;
pub mod upcast;

pub use catalog::{DecodeError, Event, EventData, EventType};
pub use chain::{chain_hash, ChainHash, GENESIS_HASH};
pub use command_class::{carries_secret, CommandClass};
pub use envelope::{NewEvent, RecordedEvent};
pub use plist_data::canonical_data;
pub use sealed::{is_sealed_raw, Sealed};
