//! The identities a migration imported from another MDM server (`annal migrate from-nanomdm`):
//! the stream `imported-identities`, one `IdentityImported` per certificate. The server reads
//! it when it starts and trusts exactly these certificates (by the SHA-256 of their DER) beside
//! those chaining to its CAs; the old CA itself is never trusted.

use annal_schemas::events::identity::IdentityImported;
use annal_schemas::Event;

use crate::store::{EventStore, StoreError};

/// The stream every imported identity is recorded in.
pub const STREAM: &str = "imported-identities";

/// Events read per page.
const PAGE: usize = 1000;

/// Every imported certificate's SHA-256. An event that cannot be read is left out (and
/// logged): an identity that is not understood is not trusted.
pub async fn fingerprints(store: &dyn EventStore) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_stream(STREAM, from, PAGE).await?;
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        for recorded in &page {
            match recorded.decode() {
                Ok(Event::IdentityImported(e)) => match parse(&e) {
                    Some(fingerprint) => out.push(fingerprint),
                    None => tracing::warn!(
                        version = recorded.stream_version,
                        "an imported identity's fingerprint is not 64 hex digits: not trusted"
                    ),
                },
                Ok(_) => {}
                Err(err) => tracing::warn!(
                    version = recorded.stream_version,
                    error = %err,
                    "an imported identity cannot be read: not trusted"
                ),
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(out)
}

fn parse(e: &IdentityImported) -> Option<[u8; 32]> {
    let bytes = hex::decode(&e.fingerprint_sha256).ok()?;
    bytes.try_into().ok()
}
