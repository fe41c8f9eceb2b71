//! A private PostgreSQL cluster for a test that crashes and restarts its database: the shared
//! server at ANNAL_TEST_POSTGRES_URL serves other tests at the same moment and must not be
//! touched. `initdb` and `pg_ctl` run as the `postgres` user (PostgreSQL refuses to run as
//! root); the cluster is stopped and its directory removed when the guard drops, panic or not.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// The directory holding `initdb` and `pg_ctl`: on PATH, or Debian's versioned directory.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(debian)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .expect("this test needs PostgreSQL's initdb and pg_ctl (on PATH or in /usr/lib/postgresql/*/bin) to run a cluster of its own; install the PostgreSQL server package")
}

/// Runs `program args` from `bin` as the `postgres` user; panics with its output on failure.
fn as_postgres(bin: &Path, program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} as postgres with runuser (the tests run as root): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// `initdb` in a new temporary directory, then start it on a free port.
    pub fn start() -> Cluster {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown").arg("postgres:").arg(dir.path()).status().unwrap();
        assert!(chown.success(), "chown of the cluster's directory to postgres");
        let cluster = Cluster {
            dir,
            bin,
            port: super::server::free_port(),
        };
        let data = cluster.data();
        as_postgres(
            &cluster.bin,
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (again) and waits until it accepts connections.
    pub fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the cluster as a crash would: `-m immediate` kills the server processes without
    /// a checkpoint, and the next start recovers from the WAL.
    pub fn crash(&self) {
        as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Cluster {
    /// The postmaster and its children (backends, checkpointer, …), read from /proc.
    fn pids(&self) -> Vec<String> {
        let pidfile = self.dir.path().join("data/postmaster.pid");
        let Some(postmaster) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
        else {
            return Vec::new();
        };
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| {
                // `pid (comm) state ppid …`: the parent is the second field after the `)`.
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                after.split_whitespace().nth(1) == Some(postmaster.as_str())
            });
        let mut pids: Vec<String> = children.map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        pids.push(postmaster);
        pids
    }

    fn signal_all(&self, signal: &str) -> bool {
        let pids = self.pids();
        !pids.is_empty()
            && Command::new("kill")
                .arg(format!("-{signal}"))
                .args(&pids)
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Stops every process of the cluster with SIGSTOP: connections stay open and nothing
    /// answers, as with a hung server or a dropped network link.
    pub fn freeze(&self) {
        assert!(self.signal_all("STOP"), "could not SIGSTOP the cluster's processes");
    }

    pub fn thaw(&self) {
        assert!(self.signal_all("CONT"), "could not SIGCONT the cluster's processes");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A frozen cluster would not stop; already stopped is fine; the directory goes with
        // `dir`.
        let _ = self.signal_all("CONT");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}
