//! The background task that follows `$all` and keeps `watch_head` current, so appends by other
//! processes wake this one's subscriptions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Resubscribing after the $all subscription dropped: from 250 ms, doubling up to 30 s.
const RETRY: crate::backoff::Backoff =
    crate::backoff::Backoff::new(Duration::from_millis(250), Duration::from_secs(30));

use ::kurrentdb::{Client, Position, StreamPosition, SubscribeToAllOptions, SubscriptionEvent, SubscriptionFilter};
use tokio::sync::watch;

use super::convert::annal_meta;
use super::namespace::Namespace;
use super::positions::{lock, Positions};

/// Follows `$all` (non-system events) and moves the head to each commit position of an Annal
/// event of `namespace`. Foreign events, and other namespaces' events, must not move it:
/// `read_all` skips them, and a head it never reaches would make subscribers spin. After a
/// dropped subscription it resumes after the last event it saw, so nothing is missed.
pub(super) fn spawn_follower(
    client: Client,
    head: watch::Sender<u64>,
    positions: Arc<Mutex<Positions>>,
    namespace: Namespace,
    mut resume: Option<Position>,
) {
    tokio::spawn(async move {
        let mut delay = RETRY.initial;
        loop {
            let from = resume.map_or(StreamPosition::End, StreamPosition::Position);
            let filter = SubscriptionFilter::on_event_type().exclude_system_events();
            let mut subscription = client
                .subscribe_to_all(&SubscribeToAllOptions::default().position(from).filter(filter))
                .await;
            let error = loop {
                tokio::select! {
                    _ = head.closed() => return,
                    event = subscription.next_subscription_event() => match event {
                        Ok(SubscriptionEvent::EventAppeared(resolved)) => {
                            delay = RETRY.initial;
                            let Some(e) = resolved.event.as_ref() else { continue };
                            resume = Some(e.position);
                            // Any event's position is a valid place to start reading `$all`.
                            lock(&positions).remember(e.position);
                            if matches!(annal_meta(e, &namespace), Ok(Some(_))) {
                                bump(&head, e.position.commit);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => break e,
                    },
                }
            };
            tracing::warn!(error = %error, retry_in = ?delay, "KurrentDB $all subscription dropped");
            tokio::time::sleep(delay).await;
            delay = RETRY.next(delay);
        }
    });
}

/// Moves the head forward to `position`; never back.
pub(super) fn bump(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        let moved = position > *h;
        if moved {
            *h = position;
        }
        moved
    });
}
