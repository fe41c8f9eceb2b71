//! Consumers that carry the log's events out of Annal as they are appended. Each one is a
//! checkpointed subscription (`EventStore::subscribe_all` from its saved position), so a restart
//! resumes where it stopped instead of replaying the log or losing what was appended meanwhile.

pub mod webhook;
