//! The push worker's loops: pushes requested on enqueue are coalesced per enrollment (a
//! fan-out of many commands to one device wakes it once), a periodic re-push wakes devices
//! with pending commands that stayed silent, and the installed certificate is re-read from the
//! log so a renewal on any node reaches every node.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::{watch, Notify};

use super::service::{PushError, PushService};
use crate::readmodel::projector::Projector;

/// A push to try again after `wait` (429, 5xx, no answer).
pub(super) struct Retry {
    pub key: String,
    pub trigger: &'static str,
    pub push_id: uuid::Uuid,
    pub attempt: u32,
    pub wait: Duration,
}

/// Enrollments waiting for a push, and those with one in flight. A request for an enrollment
/// already in flight waits for it to finish and is then pushed again: the push in flight may
/// have been sent before the command that asked for this one was queued.
#[derive(Default)]
pub struct Coalescer {
    state: Mutex<Waiting>,
    wake: Notify,
}

#[derive(Default)]
struct Waiting {
    pending: HashMap<String, &'static str>,
    in_flight: HashSet<String>,
}

impl Coalescer {
    pub fn request(&self, keys: impl IntoIterator<Item = String>, trigger: &'static str) {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            w.pending.entry(key).or_insert(trigger);
        }
        drop(w);
        self.wake.notify_one();
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Takes the pending enrollments that have no push in flight, marking them in flight.
    fn take(&self) -> Vec<(String, &'static str)> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Waiting { pending, in_flight } = &mut *w;
        let ready: Vec<(String, &'static str)> = pending
            .iter()
            .filter(|(k, _)| !in_flight.contains(*k))
            .map(|(k, t)| (k.clone(), *t))
            .collect();
        for (k, _) in &ready {
            pending.remove(k);
            in_flight.insert(k.clone());
        }
        ready
    }

    fn done(&self, key: &str) {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        w.in_flight.remove(key);
        let again = w.pending.contains_key(key);
        drop(w);
        if again {
            self.wake.notify_one();
        }
    }

    /// Enrollments waiting (not counting those in flight).
    pub fn waiting(&self) -> usize {
        self.state.lock().map(|w| w.pending.len()).unwrap_or(0)
    }
}

impl PushService {
    /// Asks for a push to each enrollment, coalesced; returns at once.
    pub fn request(&self, keys: impl IntoIterator<Item = String>, trigger: &'static str) {
        self.queue.request(keys, trigger);
    }

    /// Starts the worker loops; they end when `stopping` turns true.
    pub fn start(self: &Arc<Self>, projector: Arc<Projector>, stopping: watch::Receiver<bool>) {
        tokio::spawn(self.clone().dispatch(stopping.clone()));
        tokio::spawn(self.clone().watch_certificate(stopping.clone()));
        let retries = self.retry_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(retries) = retries {
            tokio::spawn(self.clone().retry(retries));
        }
        if let Some(interval) = self.settings.repush_interval {
            tokio::spawn(self.clone().repush(projector, interval, stopping));
        }
    }

    async fn dispatch(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        loop {
            // While a probe is out the suspension's end has passed: look again in a second.
            let suspended_for = self.suspended().map(|s| {
                s.until
                    .saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_secs(1))
            });
            let ready = if suspended_for.is_some() || self.current().is_none() {
                Vec::new()
            } else {
                self.queue.take()
            };
            for (key, trigger) in ready {
                let me = self.clone();
                // Concurrency is bounded by the APNs client's permits; waiting tasks are cheap.
                tokio::spawn(async move {
                    let result = me.push_now(&key, trigger).await;
                    me.queue.done(&key);
                    match result {
                        Ok(_) => {}
                        Err(PushError::NoPush(_) | PushError::TopicMismatch { .. }) => {}
                        // Still wanted once pushing resumes.
                        Err(PushError::Suspended { .. }) => me.queue.request([key], trigger),
                        Err(e) => tracing::warn!(enrollment = %key, error = %e, "push not sent"),
                    }
                });
            }
            let nap = suspended_for.unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = self.queue.wake.notified() => {}
                _ = tokio::time::sleep(nap) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }

    async fn retry(self: Arc<Self>, mut retries: tokio::sync::mpsc::UnboundedReceiver<Retry>) {
        while let Some(r) = retries.recv().await {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(r.wait).await;
                if let Err(e) = me.push_attempt(&r.key, r.trigger, r.push_id, r.attempt).await {
                    tracing::debug!(enrollment = %r.key, error = %e, "push retry not sent");
                }
            });
        }
    }

    async fn watch_certificate(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut last_warning = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.refresh_certificate().await {
                tracing::warn!(error = %e, "reading the installed push certificate");
            }
            if let Some(current) = self.current() {
                let now = Utc::now();
                super::metrics::certificate(&current.installed.certificate, now);
                // Once a day is enough to be seen, not so often that it floods the log.
                if last_warning.is_none_or(|t| now - t > TimeDelta::days(1)) {
                    super::metrics::warn_expiry(&current.installed.certificate, now);
                    last_warning = Some(now);
                }
            }
        }
    }

    /// Only the node that writes the read models re-pushes, so a fleet of nodes sends one
    /// re-push per device, not one per node.
    async fn repush(
        self: Arc<Self>,
        projector: Arc<Projector>,
        interval: Duration,
        mut stopping: watch::Receiver<bool>,
    ) {
        let every = (interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
        let quiet = TimeDelta::from_std(interval).unwrap_or(TimeDelta::MAX);
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            if !projector.is_leader() || self.current().is_none() {
                continue;
            }
            let now = Utc::now();
            let mut after: Option<String> = None;
            loop {
                let page = projector.read(|p| p.push().due_for_repush(now, quiet, after.as_deref(), 1000));
                let keys: Vec<String> = page.items.iter().map(|r| r.enrollment.clone()).collect();
                if !keys.is_empty() {
                    tracing::info!(devices = keys.len(), "re-pushing silent devices with pending commands");
                }
                self.request(keys, "repush");
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_coalesce_per_enrollment_and_wait_for_the_push_in_flight() {
        let q = Coalescer::default();
        q.request(["a".to_owned(), "b".to_owned()], "enqueue");
        q.request(["a".to_owned()], "repush");
        let mut taken = q.take();
        taken.sort();
        assert_eq!(taken, vec![("a".to_owned(), "enqueue"), ("b".to_owned(), "enqueue")]);
        // A new command for `a` while its push is in flight: pushed again once it is done.
        q.request(["a".to_owned()], "enqueue");
        q.request(["a".to_owned()], "enqueue");
        assert!(q.take().is_empty());
        assert_eq!(q.waiting(), 1);
        q.done("a");
        assert_eq!(q.take(), vec![("a".to_owned(), "enqueue")]);
        q.done("a");
        q.done("b");
        assert!(q.take().is_empty());
    }
}
