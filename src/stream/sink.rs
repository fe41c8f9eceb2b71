//! A sink on the subscription runner (`stream::subscription`): read its checkpoint, hand each
//! event to the sink (which returns only once the event is delivered), and move the checkpoint
//! past it.
//!
//! Delivery is at-least-once. The checkpoint is saved in batches (every `every` events or
//! `interval`, and at shutdown), so after a crash the events handled since the last save are
//! delivered again; receivers drop them by event id. An event is never skipped: the runner does
//! not move on until the sink says it was delivered. Sinks take no lease: two nodes delivering
//! to one sink both deliver everything (the checkpoint keeps the furthest position).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use annal_schemas::RecordedEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::retry::{millis, until_ok};
use super::subscription::{self, Consumer, Handled, Options};
use crate::backoff::Backoff;
use crate::readmodel::{Committed, ReadModelDb};
use crate::store::EventStore;

/// Whether the subscription may go on with the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Delivered, or nothing to deliver for this event.
    Done,
    /// A stop was asked before the event could be delivered: it counts as not delivered.
    Stopped,
}

/// Where a subscription's events go.
pub trait Sink: Send + Sync + 'static {
    /// What the logs call this sink: `webhook`, `nats`.
    const KIND: &'static str;

    /// Where it delivers, for logs: a host, never a path, token or password.
    fn target(&self) -> String;

    /// Delivers `event`, retrying until the receiver took it.
    fn deliver(&self, event: &RecordedEvent, stop: &mut watch::Receiver<bool>) -> impl Future<Output = Step> + Send;
}

/// Where a subscription keeps its position, and how often it saves it.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    /// The checkpoint's name in the read-model database.
    pub name: String,
    /// Save after this many handled events…
    pub every: u64,
    /// …or after this long, whichever comes first.
    pub interval: Duration,
    /// Waits between attempts to read the checkpoint or to resubscribe.
    pub backoff: Backoff,
}

/// The events a sink is handed at once: delivered one by one, so this only bounds how many are
/// read ahead.
const BATCH: usize = 100;

/// A running subscription.
pub struct SinkHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    checkpoint: String,
}

impl SinkHandle {
    /// Stops after the delivery under way (a failing receiver is not retried further) and saves
    /// the checkpoint. Dropping the handle stops the subscription too, without waiting for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(checkpoint = %self.checkpoint, error = %e, "event sink failed");
        }
    }

    pub fn checkpoint_name(&self) -> &str {
        &self.checkpoint
    }
}

/// Starts delivering the log to `sink` from its checkpoint (the beginning of the log the first
/// time).
pub fn spawn<S: Sink>(
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    sink: S,
    checkpointing: Checkpointing,
) -> SinkHandle {
    let checkpoint = checkpointing.name.clone();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(store, readmodels, sink, checkpointing, stopped));
    SinkHandle { stop, task, checkpoint }
}

async fn run<S: Sink>(
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    sink: S,
    checkpointing: Checkpointing,
    mut stop: watch::Receiver<bool>,
) {
    let name = checkpointing.name.as_str();
    let Some(start) = load_checkpoint::<S>(readmodels.as_ref(), &checkpointing, &mut stop).await else {
        return;
    };
    tracing::info!(sink = S::KIND, checkpoint = name, from_position = start + 1, target = %sink.target(),
        "event sink started");
    // A checkpoint past the head means the read-model database belongs to another (longer) log,
    // e.g. beside a restored backup: events appended at those positions would never be sent.
    // Said loudly; the operator resets the checkpoint or the database.
    if let Ok(head) = store.head().await {
        if start > head.position {
            tracing::error!(sink = S::KIND, checkpoint = name, checkpoint_position = start, head = head.position,
                "the sink's checkpoint is past the log's head: this read-model database is not this log's; events up to the checkpoint position will not be delivered");
        }
    }
    let mut consumer = SinkConsumer {
        sink,
        readmodels,
        name,
        saved: start,
    };
    let options = Options {
        batch: BATCH,
        every: checkpointing.every,
        interval: checkpointing.interval,
        backoff: checkpointing.backoff,
        lease: None,
    };
    subscription::run(store, &mut consumer, start, options, &mut stop).await;
    tracing::info!(
        sink = S::KIND,
        checkpoint = name,
        position = consumer.saved,
        "event sink stopped"
    );
}

/// The position already handled (0 for none); None when stopped before it could be read.
async fn load_checkpoint<S: Sink>(
    readmodels: &dyn ReadModelDb,
    checkpointing: &Checkpointing,
    stop: &mut watch::Receiver<bool>,
) -> Option<u64> {
    let name = checkpointing.name.as_str();
    let position = until_ok(
        checkpointing.backoff,
        stop,
        || readmodels.load_checkpoint(name),
        |attempt, wait, e| {
            tracing::warn!(sink = S::KIND, checkpoint = name, attempt, wait_ms = millis(wait), error = %e,
                "cannot read the checkpoint; retrying");
        },
    )
    .await?;
    Some(position.unwrap_or(0))
}

struct SinkConsumer<'a, S> {
    sink: S,
    readmodels: Arc<dyn ReadModelDb>,
    name: &'a str,
    /// The position the checkpoint holds.
    saved: u64,
}

impl<S: Sink> Consumer for SinkConsumer<'_, S> {
    const KIND: &'static str = S::KIND;

    async fn handle(&mut self, batch: &[RecordedEvent], stop: &mut watch::Receiver<bool>) -> Handled {
        for (count, event) in batch.iter().enumerate() {
            if let Step::Stopped = self.sink.deliver(event, stop).await {
                return Handled::Stopped { count };
            }
        }
        Handled::All
    }

    /// Saves the checkpoint if it moved. A failed save is retried at the next tick; until then
    /// a crash re-delivers a little more, which at-least-once allows.
    async fn save(&mut self, position: u64) -> bool {
        if position <= self.saved {
            return true;
        }
        let (kind, name) = (S::KIND, self.name);
        match self.readmodels.commit(name, position, vec![]).await {
            Ok(Committed::Written) => {
                self.saved = position;
                true
            }
            Ok(Committed::Behind { stored }) => {
                tracing::warn!(
                    sink = kind,
                    checkpoint = name,
                    position,
                    stored,
                    "the checkpoint is ahead of this node: another node delivers to this sink too"
                );
                self.saved = position;
                true
            }
            Err(e) => {
                tracing::warn!(sink = kind, checkpoint = name, position, error = %e,
                    "cannot save the checkpoint; will retry");
                false
            }
        }
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
