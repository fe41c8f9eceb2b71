//! The single writer thread and its group commit.
//!
//! The thread blocks for one request, then takes every request already waiting (up to a bound)
//! and commits them in one transaction: under load many appends share one fsync; alone, an
//! append commits at once. Answers are sent only after COMMIT returns, so an append that was
//! answered is on disk.

use std::sync::mpsc::{Receiver, Sender};

use annal_schemas::RecordedEvent;
use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::tail::Tail;
use super::{rows, sql};
use crate::store::group::{gather, plan_group, AppendRequest, LogLookup};
use crate::store::import::check_import;
use crate::store::rules::Existing;
use crate::store::{Head, StoreError};

/// What the writer thread is asked to do.
pub enum WriteRequest {
    Append(AppendRequest),
    Import {
        events: Vec<RecordedEvent>,
        reply: oneshot::Sender<Result<Head, StoreError>>,
    },
}

pub struct Writer {
    conn: Connection,
    head: Head,
    head_tx: watch::Sender<u64>,
    tail: std::sync::Arc<Tail>,
}

impl Writer {
    pub fn spawn(
        conn: Connection,
        head: Head,
        head_tx: watch::Sender<u64>,
        tail: std::sync::Arc<Tail>,
    ) -> Result<Sender<WriteRequest>, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Writer {
            conn,
            head,
            head_tx,
            tail,
        };
        std::thread::Builder::new()
            .name("annal-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("starting the writer thread: {e}")))?;
        Ok(tx)
    }

    fn run(mut self, rx: Receiver<WriteRequest>) {
        // Ends when every SqliteStore handle (every Sender) is dropped.
        while let Ok(first) = rx.recv() {
            let first = match first {
                WriteRequest::Append(append) => append,
                WriteRequest::Import { events, reply } => {
                    let _ = reply.send(self.import(&events));
                    continue;
                }
            };
            // An import met while gathering waits until the group before it has committed.
            let mut import = None;
            let group = gather(first, || match rx.try_recv().ok()? {
                WriteRequest::Append(append) => Some(append),
                WriteRequest::Import { events, reply } => {
                    import = Some((events, reply));
                    None
                }
            });
            self.commit_group(group);
            if let Some((events, reply)) = import {
                let _ = reply.send(self.import(&events));
            }
        }
    }

    fn import(&mut self, events: &[RecordedEvent]) -> Result<Head, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let head = rows::head(&tx)?;
        let new_head = check_import(head, events, &mut Lookup(&tx))?;
        events.iter().try_for_each(|e| rows::insert(&tx, e))?;
        tx.commit().map_err(sql)?;
        self.tail.clear();
        self.head = new_head;
        self.head_tx.send_replace(new_head.position);
        Ok(new_head)
    }

    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        let tx = match self.conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => return fail_all(group, sql(e)),
        };
        // The IMMEDIATE transaction holds SQLite's write lock across processes; reading the
        // head under it (one index probe) keeps positions and the chain right even when
        // another process (`annal api-key create`, a second server) appended since.
        let head = match rows::head(&tx) {
            Ok(head) => head,
            Err(e) => return fail_all(group, e),
        };
        if head.position != self.head.position {
            // Another process appended: what the tail holds no longer runs up to the head.
            self.tail.clear();
            self.head = head;
            self.head_tx.send_replace(head.position);
        }
        let mut plan = plan_group(group, self.head, Utc::now(), &mut Lookup(&tx));
        let commit = plan
            .events
            .iter()
            .try_for_each(|e| rows::insert(&tx, e))
            .and_then(|()| tx.commit().map_err(sql));
        if commit.is_ok() && plan.head.position != self.head.position {
            // In the tail before the head moves, so a reader woken by the move finds them.
            self.tail.extend(std::mem::take(&mut plan.events));
            self.head = plan.head;
            self.head_tx.send_replace(self.head.position);
        }
        plan.answer(commit);
    }
}

struct Lookup<'a>(&'a Connection);

impl LogLookup for Lookup<'_> {
    fn existing(&mut self, ids: &[Uuid]) -> Result<Vec<Existing>, StoreError> {
        rows::existing(self.0, ids)
    }
    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError> {
        rows::stream_version(self.0, stream)
    }
}

fn fail_all(group: Vec<AppendRequest>, e: StoreError) {
    for r in group {
        let _ = r.reply.send(Err(StoreError::Unavailable(e.to_string())));
    }
}
