//! Faults (issue 7, item 2): the disk under the SQLite store fills up under load. The data
//! directory sits on a small tmpfs of its own; a ballast file takes every free byte while
//! simulated devices poll, answer commands and check in and an admin queues commands. While
//! the disk is full every refused request is a 503 (never a 500, never a hang) and /readyz
//! says the store refuses writes; once the ballast is deleted the same process serves again by
//! itself, and every request acknowledged before, during and after is in the log.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::outage::Rig;

const TMPFS_MIB: u32 = 32;
/// How long the disk stays full once the load sees it.
const FULL_FOR: Duration = Duration::from_secs(4);

/// A tmpfs mounted on a temporary directory, unmounted when dropped (even on panic).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "annal-fault-test",
            ])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test fills a small tmpfs of its own and must run as root (CI does): mount -t tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server still holding files open must not leave the mount behind.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes a file until the filesystem has no byte left; returns its size.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 1 << 16];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_under_load_answers_503_and_recovers() {
    let tmpfs = Tmpfs::mount(TMPFS_MIB);
    let logs = tempfile::tempdir().unwrap();
    let data_dir = tmpfs.path().join("data");
    let url = format!("sqlite:{}", data_dir.join("annal.db").display());
    let rig = Rig::start(&data_dir, &url, &logs.path().join("annal.log")).await;

    let ballast: PathBuf = tmpfs.path().join("ballast");
    let filled = fill(&ballast);
    let full = Instant::now();
    while rig.load.ledger.count("503") < 20 {
        let outcomes = rig.load.ledger.outcomes();
        assert!(
            full.elapsed() < Duration::from_secs(60),
            "the full disk never refused a request: {outcomes:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = full.elapsed();
    let probes = rig.probe_refused(FULL_FOR, Duration::from_secs(3)).await;
    std::fs::remove_file(&ballast).unwrap();
    let recovery = rig.recover(Instant::now(), &url, &["2xx", "503"]).await;
    eprintln!(
        "disk full ({TMPFS_MIB} MiB tmpfs, {} MiB ballast) under load: first 503s {:.2} s after the fill, \
         {probes} probes answered 503 (device and /readyz) over {:.0} s; {recovery}",
        filled >> 20,
        refused_after.as_secs_f64(),
        FULL_FOR.as_secs_f64(),
    );
    // The server goes before the mount.
    drop(recovery);
}
