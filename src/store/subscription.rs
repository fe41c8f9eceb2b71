//! Catch-up-then-live subscriptions built on `read_all` and the head watch. Because positions
//! are dense and commit in order, "everything after the last position I saw" is exactly the set
//! of events not yet delivered: no event is skipped and none is delivered twice.

use std::sync::Arc;

use annal_schemas::RecordedEvent;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{EventStore, StoreError};

const PAGE: usize = 1000;

pub fn poll_subscription<S: EventStore + ?Sized>(
    store: Arc<S>,
    from_position: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    // A bounded channel: a slow consumer slows the reader down instead of growing memory.
    let (tx, rx) = mpsc::channel(PAGE);
    tokio::spawn(async move {
        let dense = store.capabilities().dense_positions;
        let mut head = store.watch_head();
        let mut next = from_position.max(1);
        loop {
            // What this process just committed is in memory; the rest comes from the store.
            let read = match store.read_recent(next, PAGE) {
                Some(page) => Ok(page),
                None => store.read_all(next, PAGE).await,
            };
            let page = match read {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            // Nothing new (or, after a page, the head says nothing more was committed): wait
            // for the head to move instead of asking the store again. Every commit moves the
            // head, so asking once per move is enough; an empty read per commit cost a read
            // transaction and a thread hand-off for nothing.
            if page.is_empty() {
                let wanted = next;
                tokio::select! {
                    moved = head.wait_for(|h| *h >= wanted) => if moved.is_err() { return },
                    _ = tx.closed() => return,
                }
                continue;
            }
            for event in page {
                if dense && event.global_position != next {
                    let gap = StoreError::Corrupt(format!("expected position {next}, read {}", event.global_position));
                    let _ = tx.send(Err(gap)).await;
                    return;
                }
                next = event.global_position + 1;
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if dense && *head.borrow_and_update() < next {
                let wanted = next;
                tokio::select! {
                    moved = head.wait_for(|h| *h >= wanted) => if moved.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        }
    });
    ReceiverStream::new(rx).boxed()
}
