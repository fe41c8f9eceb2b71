//! Reading: one stream, `$all` forwards from a position, `$all` backwards from the end. Only
//! the store's namespace's events count (see the module documentation).

use ::kurrentdb::RecordedEvent as KdbEvent;
use ::kurrentdb::{Position, ReadAllOptions, ReadStreamOptions, StreamPosition};
use annal_schemas::RecordedEvent;

use super::convert::{stranger, to_annal};
use super::positions::lock;
use super::{unavailable, KurrentStore, StoreError};

const MAX_PAGE: usize = 4096;
const BACK_PAGE: usize = 64;

impl KurrentStore {
    /// Reads Annal stream `stream`, which lives in KurrentDB under its namespaced name.
    pub(super) async fn collect_stream(
        &self,
        stream: &str,
        options: &ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        use ::kurrentdb::Error::{ResourceDeleted, ResourceNotFound};
        let stream = self.namespace.kurrent_stream(stream);
        let mut read = match self.client.read_stream(stream.as_str(), options).await {
            Ok(read) => read,
            Err(ResourceNotFound | ResourceDeleted) => return Ok(Vec::new()),
            Err(e) => return Err(unavailable(e)),
        };
        let mut out = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => {
                    let Some(e) = resolved.event.as_ref() else { continue };
                    // Every event of an Annal stream is Annal's: anything else is damage.
                    let event = to_annal(e, &self.namespace)?.ok_or_else(|| stranger(e, &self.namespace))?;
                    out.push(event);
                }
                Ok(None) => return Ok(out),
                Err(ResourceNotFound | ResourceDeleted) => return Ok(Vec::new()),
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// Reads `$all` backwards from the end, page by page, until `pick` returns something.
    async fn scan_back<T>(
        &self,
        mut pick: impl FnMut(&KdbEvent) -> Result<Option<T>, StoreError> + Send,
    ) -> Result<Option<T>, StoreError> {
        let mut from = StreamPosition::End;
        let mut seen: Option<Position> = None;
        loop {
            let options = ReadAllOptions::default()
                .position(from)
                .backwards()
                .max_count(BACK_PAGE);
            let mut read = self.client.read_all(&options).await.map_err(unavailable)?;
            let mut got = 0;
            while let Some(resolved) = read.next().await.map_err(unavailable)? {
                got += 1;
                let Some(e) = resolved.event.as_ref() else { continue };
                // A page starts at the last event seen, which the server may send again.
                if seen.is_some_and(|s| e.position >= s) {
                    continue;
                }
                seen = Some(e.position);
                if let Some(found) = pick(e)? {
                    return Ok(Some(found));
                }
            }
            match seen {
                Some(s) if got == BACK_PAGE => from = StreamPosition::Position(s),
                _ => return Ok(None),
            }
        }
    }

    /// The namespace's last Annal event in `$all`, past system, foreign and other namespaces'
    /// events.
    pub(super) async fn last_annal(&self) -> Result<Option<(Position, RecordedEvent)>, StoreError> {
        self.scan_back(|e| {
            if e.event_type.starts_with('$') {
                return Ok(None);
            }
            Ok(to_annal(e, &self.namespace)?.map(|event| (e.position, event)))
        })
        .await
    }

    /// A valid `$all` read position at or before commit position `from` (see the module docs).
    async fn start_for(&self, from: u64) -> Result<StreamPosition<Position>, StoreError> {
        if let Some(p) = lock(&self.positions).at_or_before(from) {
            return Ok(StreamPosition::Position(p));
        }
        let options = ReadAllOptions::default().position(StreamPosition::Start).max_count(1);
        let mut read = self.client.read_all(&options).await.map_err(unavailable)?;
        match read.next().await.map_err(unavailable)? {
            Some(first) if first.event.as_ref().is_some_and(|e| e.position.commit < from) => {}
            _ => return Ok(StreamPosition::Start),
        }
        let found = self
            .scan_back(|e| Ok((e.position.commit <= from).then_some(e.position)))
            .await?;
        Ok(found.map_or(StreamPosition::Start, StreamPosition::Position))
    }

    /// Pages through `$all`, skipping system events (`$…`), events without Annal metadata and
    /// other namespaces' events.
    pub(super) async fn page_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut from = self.start_for(from_position).await?;
        let mut seen: Option<Position> = None;
        while out.len() < limit {
            let want = (limit - out.len()).saturating_add(1).min(MAX_PAGE);
            let options = ReadAllOptions::default().position(from).forwards().max_count(want);
            let mut read = self.client.read_all(&options).await.map_err(unavailable)?;
            let mut got = 0;
            while let Some(resolved) = read.next().await.map_err(unavailable)? {
                got += 1;
                let Some(e) = resolved.event.as_ref() else { continue };
                // A page starts at the last event seen, which the server may send again.
                if seen.is_some_and(|s| e.position <= s) {
                    continue;
                }
                seen = Some(e.position);
                if e.event_type.starts_with('$') || e.position.commit < from_position {
                    continue;
                }
                if let Some(event) = to_annal(e, &self.namespace)? {
                    lock(&self.positions).remember(e.position);
                    out.push(event);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            match seen {
                Some(s) if got == want => from = StreamPosition::Position(s),
                _ => break,
            }
        }
        Ok(out)
    }
}
