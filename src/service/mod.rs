//! Application services: load an aggregate, decide, append, with the store's optimistic
//! concurrency. The edge between pure domain logic and the log.

pub mod admin;
pub mod aggregate;
mod aggregate_cache;
pub mod api_keys;
pub mod commands;
pub mod declarations;
pub mod device;
pub mod enrollments;
pub mod groups;
pub mod identities;
pub mod imported_identities;
pub mod machine_info;
pub mod scep;
