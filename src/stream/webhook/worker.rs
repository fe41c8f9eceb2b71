//! The subscription loop: read the log from the checkpoint, turn each event into a webhook,
//! deliver it (retrying until the receiver accepts), and move the checkpoint past it.
//!
//! Delivery is at-least-once. The checkpoint is saved in batches (every `checkpoint_every`
//! events or `checkpoint_interval`, and at shutdown), so after a crash the events handled since
//! the last save are sent again; receivers drop them by `event_id`. An event is never skipped:
//! the worker does not move on until the receiver answered 2xx.

use std::sync::Arc;
use std::time::Duration;

use annal_schemas::RecordedEvent;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::backoff::Backoff;
use super::deliver::{Deliverer, EventLabel, Outcome};
use super::format::{format, FormatOptions};
use crate::readmodel::{Committed, ReadModelDb};
use crate::secrets::DataKey;
use crate::store::EventStore;

pub(super) struct Worker {
    pub store: Arc<dyn EventStore>,
    pub readmodels: Arc<dyn ReadModelDb>,
    pub data_key: Arc<DataKey>,
    pub deliverer: Deliverer,
    pub options: FormatOptions,
    pub backoff: Backoff,
    pub checkpoint: String,
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
}

/// Whether the worker may go on with the next event.
enum Step {
    Done,
    Stopped,
}

/// The position handled up to, and the one the checkpoint holds.
struct Progress {
    done: u64,
    saved: u64,
    unsaved_events: u64,
}

impl Worker {
    pub(super) async fn run(self, mut stop: watch::Receiver<bool>) {
        let Some(start) = self.load_checkpoint(&mut stop).await else {
            return;
        };
        tracing::info!(checkpoint = %self.checkpoint, from_position = start + 1, host = self.deliverer.host(),
            "webhook worker started");
        let mut progress = Progress {
            done: start,
            saved: start,
            unsaved_events: 0,
        };
        let mut failures = 0u32;
        'subscribe: loop {
            let mut events = self.store.clone().subscribe_all(progress.done + 1);
            let mut tick = tokio::time::interval(self.checkpoint_interval);
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
                        if let Step::Stopped = self.handle(&event, &mut stop).await {
                            break 'subscribe;
                        }
                        progress.done = event.global_position;
                        progress.unsaved_events += 1;
                        if progress.unsaved_events >= self.checkpoint_every {
                            self.save(&mut progress).await;
                        }
                        continue;
                    }
                    Some(Err(e)) => e.to_string(),
                    None => "the subscription ended".to_string(),
                };
                failures = failures.saturating_add(1);
                let wait = self.backoff.jittered(failures);
                tracing::warn!(checkpoint = %self.checkpoint, position = progress.done, error = %error,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "webhook subscription failed, resubscribing");
                if sleep_or_stop(wait, &mut stop).await {
                    break 'subscribe;
                }
                continue 'subscribe;
            }
        }
        self.save(&mut progress).await;
        tracing::info!(checkpoint = %self.checkpoint, position = progress.saved, "webhook worker stopped");
    }

    /// Formats and delivers one event; events that are not webhooks are done at once.
    async fn handle(&self, event: &RecordedEvent, stop: &mut watch::Receiver<bool>) -> Step {
        let (id, position) = (event.event_id, event.global_position);
        let mut attempt = 0u32;
        let hook = loop {
            match format(event, &self.data_key, self.options) {
                Ok(hook) => break hook,
                Err(e) => {
                    // Formatting is deterministic, so this only clears with a newer Annal; the
                    // event is still not skipped.
                    attempt = attempt.saturating_add(1);
                    tracing::error!(%id, position, event_type = %event.event_type, error = %e,
                        "cannot build the webhook for this event; retrying");
                    if sleep_or_stop(self.backoff.jittered(attempt), stop).await {
                        return Step::Stopped;
                    }
                }
            }
        };
        let Some(hook) = hook else {
            return Step::Done;
        };
        if let Some(reason) = &hook.raw_withheld {
            tracing::error!(%id, position, topic = hook.topic, error = %reason,
                "raw payload withheld: it could not be checked for secrets");
        }
        let label = EventLabel {
            event_id: id,
            position,
            topic: hook.topic,
        };
        match self
            .deliverer
            .post_until_accepted(&hook.body, &label, self.backoff, stop)
            .await
        {
            Outcome::Accepted { attempts } => {
                tracing::debug!(%id, position, topic = hook.topic, attempts, "webhook delivered");
                Step::Done
            }
            Outcome::Stopped => Step::Stopped,
        }
    }

    /// The position already handled (0 for none); None when stopped before it could be read.
    async fn load_checkpoint(&self, stop: &mut watch::Receiver<bool>) -> Option<u64> {
        let mut attempt = 0u32;
        loop {
            match self.readmodels.load_checkpoint(&self.checkpoint).await {
                Ok(position) => return Some(position.unwrap_or(0)),
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(checkpoint = %self.checkpoint, error = %e, "cannot read the webhook checkpoint; retrying");
                    if sleep_or_stop(self.backoff.jittered(attempt), stop).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Saves the checkpoint if it moved. A failed save is retried at the next tick; until then
    /// a crash re-sends a little more, which at-least-once allows.
    async fn save(&self, progress: &mut Progress) {
        if progress.done <= progress.saved {
            progress.unsaved_events = 0;
            return;
        }
        match self.readmodels.commit(&self.checkpoint, progress.done, vec![]).await {
            Ok(Committed::Written) => {
                progress.saved = progress.done;
                progress.unsaved_events = 0;
            }
            Ok(Committed::Behind { stored }) => {
                tracing::warn!(checkpoint = %self.checkpoint, position = progress.done, stored,
                    "the webhook checkpoint is ahead of this worker: another node delivers this webhook too");
                progress.saved = progress.done;
                progress.unsaved_events = 0;
            }
            Err(e) => {
                tracing::warn!(checkpoint = %self.checkpoint, position = progress.done, error = %e,
                    "cannot save the webhook checkpoint; will retry");
            }
        }
    }
}

/// Sleeps `wait`; true if a stop was asked meanwhile (or the handle is gone).
async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stopped(stop) => return true,
    }
    *stop.borrow()
}

/// Resolves once a stop is asked or the handle is gone. Returns nothing, so no borrow of the
/// watch value (which is not `Send`) lives across an await.
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
