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

/// `n` small events for the subscription runner's and the sinks' tests (their bodies matter to
/// no consumer there).
#[cfg(test)]
fn test_events(n: usize) -> Vec<annal_schemas::NewEvent> {
    (0..n)
        .map(|_| annal_schemas::NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "Idle".into(),
            schema_version: 1,
            actor: "t".into(),
            correlation_id: None,
            causation_id: None,
            data: b"{}".to_vec(),
            raw: None,
        })
        .collect()
}
