//! Databases and their directories are created readable by their owner only (0600 / 0700),
//! whatever the process umask: the log holds device inventories and sealed secrets, the read
//! models the same inventories in the clear.

use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, mode 0700 (an existing directory is left as it is).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the SQLite database file at `path`, empty and mode 0600, unless it exists. SQLite
/// then creates its `-wal` and `-shm` files with the database file's mode.
pub fn create_database_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` readable by its owner only (a key, a profile carrying a challenge).
/// An existing file keeps its mode when opened, so it is narrowed too.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn databases_and_their_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/b/annal.db");
        create_database_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        // An existing file is neither truncated nor changed.
        std::fs::write(&db, b"x").unwrap();
        create_database_file(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"x");
    }
}
