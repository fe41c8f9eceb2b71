//! System calls a process makes while a benchmark runs, counted by the kernel's
//! `raw_syscalls:sys_enter` tracepoint through `perf stat` (attached to the process; its cost
//! is a counter increment per call, so the figures it sits beside stay meaningful). Counted,
//! not guessed: without `perf` (or without permission to attach), there is no figure, and the
//! report says so rather than showing a number.

use std::process::{Child, Command, Stdio};

/// A `perf stat` attached to one process.
pub struct SyscallCounter {
    perf: Child,
    output: std::path::PathBuf,
}

impl SyscallCounter {
    /// Starts counting the system calls of `pid` (all its threads); `None` when `perf` cannot.
    pub fn start(pid: u32) -> Option<Self> {
        let output = std::env::temp_dir().join(format!("annal-syscalls-{pid}-{}.csv", std::process::id()));
        let perf = Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-e",
                "raw_syscalls:sys_enter",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf attaches asynchronously; what it misses of the first moments is set-up.
        std::thread::sleep(std::time::Duration::from_millis(200));
        Some(Self { perf, output })
    }

    /// Stops counting; the number of system calls made since `start`.
    pub fn stop(mut self) -> Option<u64> {
        // SIGINT makes perf print its counts and exit.
        unsafe { libc::kill(self.perf.id() as libc::pid_t, libc::SIGINT) };
        self.perf.wait().ok()?;
        let text = std::fs::read_to_string(&self.output).ok()?;
        let _ = std::fs::remove_file(&self.output);
        parse(&text)
    }
}

impl Drop for SyscallCounter {
    fn drop(&mut self) {
        let _ = self.perf.kill();
        let _ = self.perf.wait();
    }
}

/// The count from `perf stat -x ,` output (`<count>,,raw_syscalls:sys_enter,…`).
fn parse(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.contains("raw_syscalls:sys_enter"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_stat_csv_is_read() {
        let text = "# started on Sat Dec  5 14:50:00 2026\n\n145,,raw_syscalls:sys_enter,3869374,100.00,,\n";
        assert_eq!(parse(text), Some(145));
        assert_eq!(parse("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn counts_a_process_that_makes_system_calls() {
        // Where perf is installed (CI's machine has it) it must count; elsewhere there is
        // nothing to check.
        let perf = Command::new("perf").arg("--version").stdout(Stdio::null()).status();
        if !perf.is_ok_and(|s| s.success()) {
            return;
        }
        let mut child = Command::new("sh")
            .args(["-c", "for i in 1 2 3 4 5 6 7 8; do ls / >/dev/null; sleep 0.1; done"])
            .spawn()
            .expect("sh runs");
        let counter = SyscallCounter::start(child.id()).expect("perf attaches");
        std::thread::sleep(std::time::Duration::from_millis(400));
        let counted = counter.stop();
        let _ = child.wait();
        assert!(counted.is_some_and(|n| n > 0), "{counted:?}");
    }
}
