//! Consumers that carry the log's events out of Annal as they are appended. Each one is a
//! checkpointed subscription (`subscription::spawn` from its saved position), so a restart
//! resumes where it stopped instead of replaying the log or losing what was appended meanwhile;
//! what a sink sends is redacted by `redact`.

pub mod nats;
pub mod redact;
pub mod retry;
pub mod subscription;
pub mod webhook;
