//! The bootstrap admin API key in `<data-dir>/admin-api-key`, generated on first start.

use std::path::Path;

use anyhow::Context;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

pub fn load_or_init(path: &Path) -> anyhow::Result<String> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        if let Some(dir) = path.parent() {
            annal::store::private::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write;
        options
            .open(path)?
            .write_all(format!("annal_{}", hex::encode(bytes)).as_bytes())?;
        // The key itself is never logged; say where it is.
        tracing::warn!(path = %path.display(), "generated the admin API key");
    }
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}
