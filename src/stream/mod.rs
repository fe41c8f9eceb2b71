//! Consumers that carry the log's events out of Annal as they are appended. Each one is a
//! checkpointed subscription (`sink::spawn` from its saved position), so a restart resumes where
//! it stopped instead of replaying the log or losing what was appended meanwhile; what a sink
//! sends is redacted by `redact`. `subscription` is the runner the sinks and the projector
//! (`readmodel::projector`) follow the log with.

pub mod nats;
pub mod redact;
pub mod retry;
pub mod sink;
pub mod subscription;
pub mod webhook;
