//! The admin API (JSON over HTTPS under /v1). Every endpoint needs an API key.
//!
//! Built so far: NanoMDM-compatible enqueue. The full API (devices, history, audit, event
//! stream, key management and roles) is the admin-API issue.

mod auth;
mod enqueue;

pub use auth::AdminAuth;
pub use enqueue::enqueue;
