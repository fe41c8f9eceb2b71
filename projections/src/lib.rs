//! Pure folds from Annal's events to read models (ARCHITECTURE.md §4): device inventory, command
//! queues and status, audit trail, push health. No HTTP, no SQL.
//!
//! Not built yet: the projections arrive with the admin-API issue. The crate exists now so the
//! dependency direction (schemas <- projections <- annal) is fixed from the start.

pub use annal_schemas as schemas;
