//! The admin API: JSON over HTTPS under /v1. Every endpoint needs an API key (see `auth`);
//! the role decides what it may do (`domain::access`).

mod auth;
mod enqueue;
pub mod error;
mod queue;

pub use auth::AdminAuth;
pub use enqueue::enqueue;
