//! The one subscription runner every long-running consumer of the log runs on: the projector
//! (`readmodel::projector`) and the sinks (`stream::sink`: webhooks, NATS). It subscribes from a
//! position, hands the consumer the events in batches, saves on a cadence (every `every` events
//! or `interval`, and at stop), resubscribes after a failure with the one backoff type, stops on
//! a watch channel and, for a consumer that says so, saves only while this node holds the
//! read-model lease.
//!
//! It lives in `stream` ("the consumers of the log") rather than beside the projector because it
//! needs nothing above the store and the read-model database: the sinks use it from inside
//! `stream`, and the projector reaches down to it as it reaches down to the store (the way
//! `service` already takes redaction from `stream`); nothing here depends on `service`.
//!
//! The consumer decides what a batch and a save mean; the runner guarantees the order: a batch
//! is handed over only after the one before it was handled, a save is told the position handled
//! up to, and the next subscription starts right after that position, so no event is skipped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use annal_schemas::RecordedEvent;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::retry::{millis, sleep_or_stop, stopped};
use crate::backoff::Backoff;
use crate::readmodel::{Lease, ReadModelDb};
use crate::store::EventStore;

/// How far a consumer got through a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Every event of the batch.
    All,
    /// A stop was asked before the batch was finished: only its first `count` events count as
    /// handled, and the runner stops.
    Stopped { count: usize },
}

/// What follows the log through [`run`].
pub trait Consumer: Send {
    /// What the logs call this consumer: `projector`, `webhook`, `nats`.
    const KIND: &'static str;

    /// Handles `batch` (never empty, in log order, right after the last batch handled). A
    /// consumer that may wait on the outside world ends the wait when `stop` turns true.
    fn handle(
        &mut self,
        batch: &[RecordedEvent],
        stop: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = Handled> + Send;

    /// Saves what was handled up to `position`. False when it could not: the runner asks again
    /// after the next batch, and at the next tick.
    fn save(&mut self, position: u64) -> impl Future<Output = bool> + Send;

    /// After a stop, before the last save: reads what the subscription has not delivered yet.
    /// Returns the position handled up to.
    fn finish(&mut self, position: u64) -> impl Future<Output = u64> + Send {
        std::future::ready(position)
    }

    /// This node took (`true`) or lost (`false`) the lease; only for a consumer that needs one.
    fn lease_changed(&mut self, _held: bool) {}
}

/// How a consumer follows the log.
#[derive(Clone)]
pub struct Options {
    /// The most events handed over at once (fewer when fewer are ready).
    pub batch: usize,
    /// Save after this many handled events (`u64::MAX`: only on the interval)…
    pub every: u64,
    /// …or after this long, whichever comes first.
    pub interval: Duration,
    /// Waits between attempts to resubscribe.
    pub backoff: Backoff,
    /// Some when only one node at a time may save: the holder of this database's lease. The
    /// runner takes it before a save, takes it again when it was lost (a PostgreSQL session
    /// lock ends with its connection) and, until it holds it, does not call `save`.
    pub lease: Option<Arc<dyn ReadModelDb>>,
}

/// Follows the log after `position` (the position already handled; 0 for none) until `stop`
/// turns true (or its sender is gone), then lets the consumer finish and saves. Returns the
/// position handled up to.
pub async fn run<C: Consumer>(
    store: Arc<dyn EventStore>,
    consumer: &mut C,
    position: u64,
    options: Options,
    stop: &mut watch::Receiver<bool>,
) -> u64 {
    let mut runner = Runner {
        consumer,
        every: options.every.max(1),
        writer: Writer::new(options.lease),
        unsaved: 0,
        done: position,
    };
    let batch = options.batch.max(1);
    let interval = options.interval.max(Duration::from_millis(10));
    let mut failures = 0u32;
    'subscribe: loop {
        let mut events = store.clone().subscribe_all(runner.done + 1).ready_chunks(batch);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let error = loop {
            let chunk = tokio::select! {
                biased;
                _ = stopped(stop) => break 'subscribe,
                _ = tick.tick() => {
                    runner.save().await;
                    continue;
                }
                chunk = events.next() => chunk,
            };
            let Some(chunk) = chunk else {
                break "the subscription ended".to_string();
            };
            // The events before a failure were read in order: hand them over first.
            let mut good = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for item in chunk {
                match item {
                    Ok(event) => good.push(event),
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            if !good.is_empty() {
                failures = 0;
                if runner.handle(&good, stop).await.is_err() {
                    break 'subscribe;
                }
            }
            if let Some(error) = failure {
                break error;
            }
        };
        runner.save().await;
        failures = failures.saturating_add(1);
        let wait = options.backoff.jittered(failures);
        tracing::warn!(consumer = C::KIND, position = runner.done, error = %error, wait_ms = millis(wait),
            "event subscription failed, resubscribing");
        if sleep_or_stop(wait, stop).await {
            break 'subscribe;
        }
    }
    runner.done = runner.consumer.finish(runner.done).await;
    runner.save().await;
    runner.done
}

/// Stopped while handling a batch.
struct StoppedMidway;

struct Runner<'c, C> {
    consumer: &'c mut C,
    every: u64,
    writer: Writer,
    /// Events handled since the last save.
    unsaved: u64,
    /// The position handled up to.
    done: u64,
}

impl<C: Consumer> Runner<'_, C> {
    /// Hands `events` over in pieces that end where a save is due, so a consumer that is slow
    /// per event (a receiver that is down) still has its position saved every `every` events.
    async fn handle(
        &mut self,
        mut events: &[RecordedEvent],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), StoppedMidway> {
        while !events.is_empty() {
            let due = usize::try_from(self.every.saturating_sub(self.unsaved).max(1)).unwrap_or(usize::MAX);
            let (piece, rest) = events.split_at(due.min(events.len()));
            events = rest;
            let count = match self.consumer.handle(piece, stop).await {
                Handled::All => piece.len(),
                Handled::Stopped { count } => count.min(piece.len()),
            };
            if let Some(last) = count.checked_sub(1).and_then(|i| piece.get(i)) {
                self.done = last.global_position;
                self.unsaved = self.unsaved.saturating_add(count as u64);
            }
            if count < piece.len() {
                return Err(StoppedMidway);
            }
            if self.unsaved >= self.every {
                self.save().await;
            }
        }
        Ok(())
    }

    /// Saves through the consumer, if this node may.
    async fn save(&mut self) {
        if !self.writer.may_save(self.consumer).await {
            // Not this node's to write: the next tick tries the lease again.
            self.unsaved = 0;
            return;
        }
        if self.consumer.save(self.done).await {
            self.unsaved = 0;
        }
    }
}

/// Who may save: any node, or the one holding the lease.
enum Writer {
    Any,
    LeaseHolder {
        db: Arc<dyn ReadModelDb>,
        held: Option<Lease>,
    },
}

impl Writer {
    fn new(lease: Option<Arc<dyn ReadModelDb>>) -> Self {
        match lease {
            None => Self::Any,
            Some(db) => Self::LeaseHolder { db, held: None },
        }
    }

    /// Whether this node may save now, taking the lease if it is free.
    async fn may_save<C: Consumer>(&mut self, consumer: &mut C) -> bool {
        let Self::LeaseHolder { db, held } = self else {
            return true;
        };
        if held.as_ref().is_some_and(|l| !l.is_held()) {
            // Saving on without it would make two writers once another node takes it.
            tracing::warn!(
                consumer = C::KIND,
                "the read-model lease was lost with its database connection; taking it again"
            );
            *held = None;
            consumer.lease_changed(false);
        }
        if held.is_some() {
            return true;
        }
        match db.try_lease().await {
            Ok(Some(lease)) => {
                tracing::info!(
                    consumer = C::KIND,
                    "this node now holds the read-model lease and writes"
                );
                *held = Some(lease);
                consumer.lease_changed(true);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(consumer = C::KIND, error = %e, "cannot take the read-model lease");
                false
            }
        }
    }
}

#[cfg(test)]
#[path = "subscription_tests.rs"]
mod tests;
