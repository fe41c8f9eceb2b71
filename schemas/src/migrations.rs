//! SQL migrations, numbered and applied in order at start-up by each backend.

/// `(version, sql)` for the embedded SQLite store.
pub const SQLITE: &[(u32, &str)] = &[(1, include_str!("../migrations/sqlite/0001_events.sql"))];

/// `(version, sql)` for PostgreSQL.
pub const POSTGRES: &[(u32, &str)] = &[(1, include_str!("../migrations/postgres/0001_events.sql"))];
