//! The bootstrap admin API key in `<data-dir>/admin-api-key`, generated on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    #[error("the system random generator failed")]
    Random,
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn load_or_init(path: &Path) -> Result<String, AdminKeyError> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AdminKeyError::Random)?;
        if let Some(dir) = path.parent() {
            crate::store::private::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)?
            .write_all(format!("annal_{}", hex::encode(bytes)).as_bytes())?;
        // The key itself is never logged; say where it is.
        tracing::warn!(path = %path.display(), "generated the admin API key");
    }
    Ok(std::fs::read_to_string(path)
        .map_err(|source| AdminKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .trim()
        .to_string())
}
