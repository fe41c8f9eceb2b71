//! The data key file that seals secrets in events, as `serve` and the CLI commands that write
//! sealed events (`push-cert install`) find it.

use std::path::{Path, PathBuf};

use crate::secrets::{DataKey, SecretsError};

#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    #[error("the event store already holds {head_position} events but the data key {} is missing: restore it (or pass --data-key-file); a new key could not open the secrets sealed so far", path.display())]
    Missing { head_position: u64, path: PathBuf },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Loads `path` (default `<data-dir>/secrets.key`). A missing key is generated only for an
/// empty log: a new key for a log with events could not open the secrets sealed so far.
pub fn load(data_dir: &Path, path: Option<PathBuf>, head_position: u64) -> Result<DataKey, DataKeyError> {
    let path = path.unwrap_or_else(|| data_dir.join("secrets.key"));
    if !path.exists() && head_position > 0 {
        return Err(DataKeyError::Missing { head_position, path });
    }
    Ok(DataKey::load_or_init(&path)?)
}
