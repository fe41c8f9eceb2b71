//! Appending: read the stream's end, decide with the shared rules, write expecting the revision
//! that was read (see the module documentation for what this can and cannot detect).

use ::kurrentdb::{AppendToStreamOptions, ReadAllOptions, ReadStreamOptions, StreamPosition, StreamState, WriteResult};
use annal_schemas::{NewEvent, RecordedEvent, GENESIS_HASH};
use chrono::Utc;
use uuid::Uuid;

use super::convert::to_event_data;
use super::follower::bump;
use super::positions::lock;
use super::rules::{decide, Decision, Existing};
use super::{check_append_input, unavailable, AppendResult, ExpectedVersion, KurrentStore, StoreError};

/// Read-then-append rounds before giving up on a stream other writers keep moving.
const ATTEMPTS: usize = 5;
/// Events read beyond the batch size when looking for a retried append at the stream's end: a
/// retry is recognised while at most this many other events were appended to the stream since.
const RETRY_WINDOW: usize = 8;

impl KurrentStore {
    /// Reads the stream's end, decides with the shared rules, then appends expecting the
    /// revision it read: a concurrent writer makes the append conflict, and the loop reads and
    /// decides again (an `Exact` expectation then fails as it should, `Any` tries again).
    pub(super) async fn append_events(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append_input(stream, &events)?;
        // KurrentDB reserves `$` names for itself, and `read_all` skips `$` event types. A
        // namespaced name never starts with `$`, but refusing it everywhere keeps every log
        // movable between namespaces.
        if stream.starts_with('$') || events.iter().any(|e| e.event_type.starts_with('$')) {
            return Err(StoreError::Invalid(
                "KurrentDB reserves stream names and event types that start with $".into(),
            ));
        }
        let kurrent_stream = self.namespace.kurrent_stream(stream);
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        for _ in 0..ATTEMPTS {
            let tail = self.tail(stream, ids.len() + RETRY_WINDOW).await?;
            let current = tail.last().map_or(0, |e| e.stream_version);
            let existing: Vec<Existing> = tail
                .iter()
                .filter(|e| ids.contains(&e.event_id))
                .map(|e| Existing {
                    event_id: e.event_id,
                    stream: e.stream.clone(),
                    stream_version: e.stream_version,
                    global_position: e.global_position,
                })
                .collect();
            let next_version = match decide(stream, expected, current, &ids, &existing)? {
                Decision::AlreadyAppended(result) => return Ok(result),
                Decision::Write { next_version } => next_version,
            };
            let recorded_at = Utc::now();
            let mut previous = tail.last().map_or(GENESIS_HASH, |e| e.hash);
            let mut batch = Vec::with_capacity(events.len());
            for (i, new) in events.iter().enumerate() {
                // Global position 0 inside the hash: see the module documentation. The hash
                // covers the Annal stream name, not the namespaced one.
                let placed =
                    RecordedEvent::place(new.clone(), stream, next_version + i as u64, 0, recorded_at, &previous);
                previous = placed.hash;
                batch.push(to_event_data(placed, &self.namespace)?);
            }
            // Annal versions are 1-based, KurrentDB revisions 0-based.
            let state = match current {
                0 => StreamState::NoStream,
                v => StreamState::StreamRevision(v - 1),
            };
            let options = AppendToStreamOptions::default().stream_state(state);
            match self
                .client
                .append_to_stream(kurrent_stream.as_str(), &options, batch)
                .await
            {
                Ok(written) => return Ok(self.written(&kurrent_stream, &ids, written).await),
                Err(::kurrentdb::Error::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "stream {stream:?} kept moving during {ATTEMPTS} append attempts"
        )))
    }

    /// The stream's last `n` events, oldest first.
    async fn tail(&self, stream: &str, n: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::End)
            .backwards()
            .max_count(n);
        let mut events = self.collect_stream(stream, &options).await?;
        events.reverse();
        Ok(events)
    }

    /// The answer to a fresh append to KurrentDB stream `stream`. KurrentDB reports the position
    /// of the write's last event only; one append is written contiguously, so the others are
    /// found just before it.
    async fn written(&self, stream: &str, ids: &[Uuid], written: WriteResult) -> AppendResult {
        let last = written.position;
        let mut first = last.commit;
        if ids.len() > 1 && last.commit > 0 {
            let options = ReadAllOptions::default()
                .position(StreamPosition::Position(last))
                .backwards()
                .max_count(ids.len() + 1);
            if let Ok(mut read) = self.client.read_all(&options).await {
                while let Ok(Some(resolved)) = read.next().await {
                    // Event ids are unique per stream only: match the stream too.
                    let ours = resolved
                        .event
                        .as_ref()
                        .filter(|e| ids.contains(&e.id) && e.stream_id() == stream);
                    if let Some(e) = ours {
                        first = first.min(e.position.commit);
                    }
                }
            }
        }
        if last.commit > 0 {
            lock(&self.positions).remember(last);
            bump(&self.head, last.commit);
        }
        AppendResult {
            stream_version: written.next_expected_version + 1,
            first_position: first,
            last_position: last.commit,
            already_appended: false,
        }
    }
}
