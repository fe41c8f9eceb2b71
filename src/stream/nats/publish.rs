//! The NATS sink: connects (lazily, and again after the stream went missing), makes sure the
//! stream exists, and publishes each event until JetStream acknowledges it.

use annal_schemas::RecordedEvent;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream, Context};
use bytes::Bytes;
use tokio::sync::{watch, Mutex};

use super::envelope::{cloud_event, subject, CONTENT_TYPE};
use super::NatsConfig;
use crate::stream::retry::{millis, until_ok};
use crate::stream::sink::{Sink, Step};

pub(super) struct NatsSink {
    config: NatsConfig,
    /// A connection whose stream is known to exist; None until the first publish, and again
    /// after JetStream said the stream is gone (a wiped server), so it is created anew.
    ready: Mutex<Option<Context>>,
}

/// Why one publish failed. The texts come from the NATS client, which never prints the
/// credentials it was given.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("connecting: {0}")]
    Connect(String),
    #[error("creating or reading the stream: {0}")]
    Stream(String),
    #[error("publishing: {0}")]
    Publish(String),
    #[error("no acknowledgement: {0}")]
    Ack(String),
}

impl NatsSink {
    pub(super) fn new(config: NatsConfig) -> Self {
        Self {
            config,
            ready: Mutex::new(None),
        }
    }

    /// The connection to publish on, connecting and creating the stream first if needed.
    async fn context(&self) -> Result<Context, Failure> {
        let mut ready = self.ready.lock().await;
        if let Some(context) = ready.as_ref() {
            return Ok(context.clone());
        }
        let context = self.connect().await?;
        self.ensure_stream(&context).await?;
        *ready = Some(context.clone());
        Ok(context)
    }

    async fn connect(&self) -> Result<Context, Failure> {
        let mut options = async_nats::ConnectOptions::new()
            .name("annal")
            .connection_timeout(self.config.connect_timeout)
            .event_callback(|event| async move {
                // The client reconnects by itself after a first connection; say so in the log.
                tracing::info!(event = %event, "NATS connection");
            });
        if let Some(creds) = &self.config.credentials {
            options = options
                .credentials(creds)
                .map_err(|e| Failure::Connect(e.to_string()))?;
        }
        let servers: Vec<&str> = self.config.url.split(',').map(str::trim).collect();
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        tracing::info!(servers = %self.config.target(), "connected to NATS");
        Ok(jetstream::ContextBuilder::new()
            .ack_timeout(self.config.ack_timeout)
            .build(client))
    }

    /// Creates the stream if missing; an existing one is used as it is, with a warning when it
    /// would keep redeliveries (no duplicate window).
    async fn ensure_stream(&self, context: &Context) -> Result<(), Failure> {
        let wanted = stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{}.>", self.config.subject_prefix)],
            duplicate_window: self.config.duplicate_window,
            ..Default::default()
        };
        let stream = context
            .get_or_create_stream(wanted)
            .await
            .map_err(|e| Failure::Stream(e.to_string()))?;
        let config = &stream.cached_info().config;
        if config.duplicate_window.is_zero() {
            tracing::warn!(stream = %config.name,
                "the NATS stream has no duplicate window: events published again after a crash will be stored twice");
        }
        Ok(())
    }

    /// One publish, waiting for its PubAck. True when JetStream had it already (a redelivery).
    async fn publish(&self, subject: &str, id: &str, body: &Bytes) -> Result<bool, Failure> {
        let context = self.context().await?;
        let message = PublishMessage::build()
            .payload(body.clone())
            .message_id(id)
            .expected_stream(&self.config.stream)
            .header("Content-Type", CONTENT_TYPE);
        let outcome = match context.send_publish(subject.to_string(), message).await {
            Ok(ack) => ack.await.map_err(|e| (e.kind(), Failure::Ack(e.to_string()))),
            Err(e) => Err((e.kind(), Failure::Publish(e.to_string()))),
        };
        match outcome {
            Ok(ack) => Ok(ack.duplicate),
            Err((kind, failure)) => {
                if kind == PublishErrorKind::StreamNotFound {
                    *self.ready.lock().await = None;
                }
                Err(failure)
            }
        }
    }
}

impl Sink for NatsSink {
    const KIND: &'static str = "nats";

    fn target(&self) -> String {
        format!("{} stream {}", self.config.target(), self.config.stream)
    }

    async fn deliver(&self, event: &RecordedEvent, stop: &mut watch::Receiver<bool>) -> Step {
        let (id, position) = (event.event_id, event.global_position);
        let subject = subject(&self.config.subject_prefix, &event.event_type);
        let body = until_ok(
            self.config.backoff,
            stop,
            || std::future::ready(cloud_event(event, &self.config.source)),
            |attempt, wait, e| {
                // Deterministic: only a newer Annal clears it, and the event is not skipped.
                tracing::error!(%id, position, event_type = %event.event_type, attempt, wait_ms = millis(wait),
                    error = %e, "cannot build the CloudEvent for this event; retrying");
            },
        )
        .await;
        let Some(body) = body.map(Bytes::from) else {
            return Step::Stopped;
        };
        let id_text = id.to_string();
        let started = std::time::Instant::now();
        let duplicate = until_ok(
            self.config.backoff,
            stop,
            || self.publish(&subject, &id_text, &body),
            |attempt, wait, e| {
                tracing::warn!(%id, position, subject = %subject, servers = %self.config.target(), attempt,
                    wait_ms = millis(wait), error = %e, "NATS publish failed, retrying");
            },
        )
        .await;
        match duplicate {
            None => Step::Stopped,
            Some(duplicate) => {
                tracing::debug!(%id, position, subject = %subject, duplicate,
                    took_ms = millis(started.elapsed()), "event published to NATS");
                Step::Done
            }
        }
    }
}
