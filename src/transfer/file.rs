//! `annal events import`: an exported file into an empty store, checked whole before anything
//! is written.
//!
//! The first pass walks the file's chain as `annal audit verify` walks a store (positions dense
//! from 1, stream versions consecutive, every hash linking to the previous event, every event
//! id new) and names the first bad event with its line. Only a file that passes is read again
//! and written, in batches; each batch is checked once more by the store under its lock, so a
//! file changed between the two passes cannot put a broken chain into the log either.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use annal_schemas::RecordedEvent;

use super::{check_empty, ndjson, Summary, TransferError, BATCH};
use crate::integrity::{out_of_sequence, ChainWalk, Finding, Step};
use crate::store::EventStore;

/// A batch also ends at this many payload bytes, so big device payloads stay few per batch.
const BATCH_BYTES: usize = 16 << 20;

struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    line: u64,
    bytes: u64,
    buf: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> Result<Self, TransferError> {
        let file = File::open(path).map_err(|source| TransferError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            reader: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            line: 0,
            bytes: 0,
            buf: Vec::new(),
        })
    }

    /// The next event and its line number; blank lines are skipped.
    fn next_event(&mut self) -> Result<Option<(u64, RecordedEvent)>, TransferError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| TransferError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes += n as u64;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event = ndjson::decode(&self.buf).map_err(|detail| TransferError::Malformed {
                line: self.line,
                detail,
            })?;
            return Ok(Some((self.line, event)));
        }
    }
}

/// Checks the whole file; returns its event count and head. `progress` gets bytes read.
pub fn verify_file(path: &Path, mut progress: impl FnMut(u64)) -> Result<Summary, TransferError> {
    let mut lines = Lines::open(path)?;
    let mut walk = ChainWalk::new(true, false);
    let mut ids = HashSet::new();
    while let Some((line, event)) = lines.next_event()? {
        let broken = |problem: String| TransferError::Broken {
            line,
            event_id: event.event_id,
            problem,
        };
        if !ids.insert(event.event_id) {
            return Err(broken("its event id appears earlier in the file".into()));
        }
        match walk.step(&event) {
            Step::Intact => {}
            Step::Broken(Finding::Removed {
                position: due,
                next_position: Some(found),
                ..
            }) => {
                if line == 1 {
                    return Err(broken(format!(
                        "the file starts at position {found}: import needs a whole log, exported from position 1"
                    )));
                }
                let problem = match later_line(path, line, |e| e.global_position == due)? {
                    Some(at) => format!(
                        "it has position {found} where {due} was due, and position {due} comes later (line {at}): \
                         events were reordered"
                    ),
                    None => format!("it has position {found} where {due} was due: position {due} was removed"),
                };
                return Err(broken(problem));
            }
            Step::Broken(finding) => return Err(broken(finding.to_string())),
            Step::OutOfSequence { due } => {
                let later = later_line(path, line, |e| e.stream == event.stream && e.stream_version == due)?;
                return Err(broken(out_of_sequence(&event, due, later.is_some()).to_string()));
            }
        }
        progress(lines.bytes);
    }
    if walk.checked() == 0 {
        return Err(TransferError::Empty(path.to_path_buf()));
    }
    Ok(Summary {
        events: walk.checked(),
        head: walk.head(),
    })
}

/// The first line after `after` whose event matches, to tell a reordered event from a removed
/// one (read only once, when the file is already known to be broken).
fn later_line(path: &Path, after: u64, wanted: impl Fn(&RecordedEvent) -> bool) -> Result<Option<u64>, TransferError> {
    let mut lines = Lines::open(path)?;
    loop {
        match lines.next_event() {
            Ok(Some((line, e))) if line > after && wanted(&e) => return Ok(Some(line)),
            Ok(Some(_)) | Err(TransferError::Malformed { .. }) => {}
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Verifies `path`, then writes it into `store`, which must be empty. `verifying` gets bytes
/// read by the check, `writing` events written and the file's event count.
pub async fn import_file(
    store: &dyn EventStore,
    path: &Path,
    verifying: impl FnMut(u64),
    mut writing: impl FnMut(u64, u64),
) -> Result<Summary, TransferError> {
    check_empty(store).await?;
    let verified = verify_file(path, verifying)?;
    check_empty(store).await?;
    let mut lines = Lines::open(path)?;
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut written = 0u64;
    loop {
        let next = lines.next_event()?;
        let end = next.is_none();
        if let Some((_, event)) = next {
            batch_bytes += event.data.len() + event.raw.as_ref().map_or(0, Vec::len);
            batch.push(event);
        }
        if !batch.is_empty() && (end || batch.len() >= BATCH || batch_bytes >= BATCH_BYTES) {
            written += batch.len() as u64;
            store.import(std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
            writing(written, verified.events);
        }
        if end {
            break;
        }
    }
    let head = store.head().await?;
    if head != verified.head {
        return Err(TransferError::TargetBroken(format!(
            "its head is {}:{}, the file's {}; the file changed while it was imported",
            head.position,
            hex::encode(head.hash),
            verified.head_text()
        )));
    }
    Ok(verified)
}
