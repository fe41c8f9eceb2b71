//! The data key file that seals secrets in events, as `serve` and the CLI commands that write
//! sealed events (`push-cert install`) find it.

use std::path::PathBuf;

use annal::secrets::DataKey;

/// Loads `path` (default `<data-dir>/secrets.key`). A missing key is generated only for an
/// empty log: a new key for a log with events could not open the secrets sealed so far.
pub fn load(global: &super::Global, path: Option<PathBuf>, head_position: u64) -> anyhow::Result<DataKey> {
    let path = path.unwrap_or_else(|| global.data_dir.join("secrets.key"));
    if !path.exists() && head_position > 0 {
        anyhow::bail!(
            "the event store already holds {head_position} events but the data key {} is missing: restore it (or pass --data-key-file); a new key could not open the secrets sealed so far",
            path.display()
        );
    }
    Ok(DataKey::load_or_init(&path)?)
}
