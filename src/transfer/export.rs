//! `annal events export`: the log from a position to its head, one envelope a line.

use std::io::Write;
use std::path::Path;

use annal_schemas::GENESIS_HASH;

use super::{ndjson, Summary, TransferError, BATCH};
use crate::store::{EventStore, Head};

/// Writes every event from `from` up to the head the log had when the export started (events
/// appended meanwhile are left for the next export, so the summary's head is one the file
/// really ends with). `progress` gets the number of events written so far.
pub async fn export(
    store: &dyn EventStore,
    from: u64,
    out: &mut impl Write,
    out_path: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Summary, TransferError> {
    let end = store.head().await?.position;
    let io = |source| TransferError::Io {
        path: out_path.to_path_buf(),
        source,
    };
    let mut summary = Summary {
        events: 0,
        head: Head {
            position: 0,
            hash: GENESIS_HASH,
        },
    };
    let mut next = from.max(1);
    while next <= end {
        let page = store.read_all(next, BATCH).await?;
        let Some(last) = page.last() else { break };
        next = last.global_position + 1;
        for event in page.iter().filter(|e| e.global_position <= end) {
            out.write_all(&ndjson::encode(event)).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            summary.events += 1;
            summary.head = Head {
                position: event.global_position,
                hash: event.hash,
            };
        }
        progress(summary.events);
    }
    out.flush().map_err(io)?;
    Ok(summary)
}
