//! The checkpointed subscription every sink runs on: read the log from the checkpoint, hand each
//! event to the sink (which returns only once the event is delivered), and move the checkpoint
//! past it.
//!
//! Delivery is at-least-once. The checkpoint is saved in batches (every `every` events or
//! `interval`, and at shutdown), so after a crash the events handled since the last save are
//! delivered again; receivers drop them by event id. An event is never skipped: the loop does
//! not move on until the sink says it was delivered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use annal_schemas::RecordedEvent;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::retry::{millis, sleep_or_stop, stopped, until_ok};
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
    let subscription = Subscription {
        store,
        readmodels,
        sink,
        checkpointing: Checkpointing {
            every: checkpointing.every.max(1),
            interval: checkpointing.interval.max(Duration::from_millis(10)),
            ..checkpointing
        },
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(subscription.run(stopped));
    SinkHandle { stop, task, checkpoint }
}

struct Subscription<S> {
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    sink: S,
    checkpointing: Checkpointing,
}

/// The position handled up to, and the one the checkpoint holds.
struct Progress {
    done: u64,
    saved: u64,
    unsaved_events: u64,
}

impl<S: Sink> Subscription<S> {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let (kind, name) = (S::KIND, self.checkpointing.name.as_str());
        let Some(start) = self.load_checkpoint(&mut stop).await else {
            return;
        };
        tracing::info!(sink = kind, checkpoint = name, from_position = start + 1, target = %self.sink.target(),
            "event sink started");
        // A checkpoint past the head means the read-model database belongs to another (longer)
        // log, e.g. beside a restored backup: events appended at those positions would never be
        // sent. Said loudly; the operator resets the checkpoint or the database.
        if let Ok(head) = self.store.head().await {
            if start > head.position {
                tracing::error!(sink = kind, checkpoint = name, checkpoint_position = start, head = head.position,
                    "the sink's checkpoint is past the log's head: this read-model database is not this log's; events up to the checkpoint position will not be delivered");
            }
        }
        let mut progress = Progress {
            done: start,
            saved: start,
            unsaved_events: 0,
        };
        let mut failures = 0u32;
        'subscribe: loop {
            let mut events = self.store.clone().subscribe_all(progress.done + 1);
            let mut tick = tokio::time::interval(self.checkpointing.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break 'subscribe,
                    _ = tick.tick() => {
                        self.save(&mut progress).await;
                        continue;
                    }
                    next = events.next() => next,
                };
                let error = match next {
                    Some(Ok(event)) => {
                        failures = 0;
                        if let Step::Stopped = self.sink.deliver(&event, &mut stop).await {
                            break 'subscribe;
                        }
                        progress.done = event.global_position;
                        progress.unsaved_events += 1;
                        if progress.unsaved_events >= self.checkpointing.every {
                            self.save(&mut progress).await;
                        }
                        continue;
                    }
                    Some(Err(e)) => e.to_string(),
                    None => "the subscription ended".to_string(),
                };
                failures = failures.saturating_add(1);
                let wait = self.checkpointing.backoff.jittered(failures);
                tracing::warn!(sink = kind, checkpoint = name, position = progress.done, error = %error,
                    wait_ms = millis(wait), "event subscription failed, resubscribing");
                if sleep_or_stop(wait, &mut stop).await {
                    break 'subscribe;
                }
                continue 'subscribe;
            }
        }
        self.save(&mut progress).await;
        tracing::info!(
            sink = kind,
            checkpoint = name,
            position = progress.saved,
            "event sink stopped"
        );
    }

    /// The position already handled (0 for none); None when stopped before it could be read.
    async fn load_checkpoint(&self, stop: &mut watch::Receiver<bool>) -> Option<u64> {
        let name = self.checkpointing.name.as_str();
        let position = until_ok(
            self.checkpointing.backoff,
            stop,
            || self.readmodels.load_checkpoint(name),
            |attempt, wait, e| {
                tracing::warn!(sink = S::KIND, checkpoint = name, attempt, wait_ms = millis(wait), error = %e,
                    "cannot read the checkpoint; retrying");
            },
        )
        .await?;
        Some(position.unwrap_or(0))
    }

    /// Saves the checkpoint if it moved. A failed save is retried at the next tick; until then
    /// a crash re-delivers a little more, which at-least-once allows.
    async fn save(&self, progress: &mut Progress) {
        if progress.done <= progress.saved {
            progress.unsaved_events = 0;
            return;
        }
        let (kind, name) = (S::KIND, self.checkpointing.name.as_str());
        match self.readmodels.commit(name, progress.done, vec![]).await {
            Ok(Committed::Written) => {
                progress.saved = progress.done;
                progress.unsaved_events = 0;
            }
            Ok(Committed::Behind { stored }) => {
                tracing::warn!(
                    sink = kind,
                    checkpoint = name,
                    position = progress.done,
                    stored,
                    "the checkpoint is ahead of this node: another node delivers to this sink too"
                );
                progress.saved = progress.done;
                progress.unsaved_events = 0;
            }
            Err(e) => {
                tracing::warn!(sink = kind, checkpoint = name, position = progress.done, error = %e,
                    "cannot save the checkpoint; will retry");
            }
        }
    }
}
