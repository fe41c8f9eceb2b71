//! System calls a process makes while a benchmark runs, counted by the kernel's
//! `raw_syscalls:sys_enter` tracepoint through `perf stat` (attached to the process; its cost
//! is a counter increment per call, so the figures it sits beside stay meaningful). Counted,
//! not guessed: without `perf` (or without permission to attach), there is no figure, and the
//! report says so rather than showing a number.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often perf reports its count, so system calls can be attributed to time windows (the
/// timed command rounds) afterwards.
const INTERVAL_MS: u64 = 100;

/// A `perf stat` attached to one process.
pub struct SyscallCounter {
    perf: Child,
    output: std::path::PathBuf,
    started: Instant,
}

/// What a [`SyscallCounter`] counted: per interval, from its start.
#[derive(Debug, Clone, Default)]
pub struct SyscallCounts {
    started: Option<Instant>,
    /// (end of the interval since `started`, system calls in it).
    intervals: Vec<(Duration, u64)>,
}

impl SyscallCounter {
    /// Starts counting the system calls of `pid` (all its threads); `None` when `perf` cannot.
    pub fn start(pid: u32) -> Option<Self> {
        let output = std::env::temp_dir().join(format!("annal-syscalls-{pid}-{}.csv", std::process::id()));
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-I", &INTERVAL_MS.to_string()])
            .args(["-e", "raw_syscalls:sys_enter", "-p", &pid.to_string(), "-o"])
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        // perf attaches asynchronously; what it misses of the first moments is set-up.
        std::thread::sleep(Duration::from_millis(200));
        Some(Self { perf, output, started })
    }

    /// Stops counting; what was counted since `start` (None if perf counted nothing).
    pub fn stop(mut self) -> Option<SyscallCounts> {
        // SIGINT makes perf print its last interval and exit.
        unsafe { libc::kill(self.perf.id() as libc::pid_t, libc::SIGINT) };
        self.perf.wait().ok()?;
        let text = std::fs::read_to_string(&self.output).ok()?;
        let _ = std::fs::remove_file(&self.output);
        let intervals = parse(&text);
        (!intervals.is_empty()).then_some(SyscallCounts {
            started: Some(self.started),
            intervals,
        })
    }
}

impl SyscallCounts {
    pub fn total(&self) -> u64 {
        self.intervals.iter().map(|(_, n)| n).sum()
    }

    /// System calls in intervals that ended inside one of `windows` (to within an interval at
    /// each edge; the windows last seconds).
    pub fn within(&self, windows: &[(Instant, Instant)]) -> u64 {
        let Some(started) = self.started else {
            return 0;
        };
        self.intervals
            .iter()
            .filter(|(end, _)| {
                let at = started + *end;
                windows.iter().any(|(a, b)| at > *a && at <= *b)
            })
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for SyscallCounter {
    fn drop(&mut self) {
        let _ = self.perf.kill();
        let _ = self.perf.wait();
    }
}

/// The intervals of `perf stat -x , -I …` output (`<seconds>,<count>,,raw_syscalls:sys_enter,…`;
/// an interval with nothing counted says `<not counted>`).
fn parse(text: &str) -> Vec<(Duration, u64)> {
    text.lines()
        .filter(|l| l.contains("raw_syscalls:sys_enter"))
        .filter_map(|l| {
            let mut fields = l.split(',');
            let at: f64 = fields.next()?.trim().parse().ok()?;
            let count = fields.next()?.trim().parse().unwrap_or(0);
            Some((Duration::from_secs_f64(at), count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_stat_intervals_are_read_and_attributed_to_windows() {
        let text = "# started on Sat Dec  5 17:22:10 2026\n\n     0.100127739,340,,raw_syscalls:sys_enter,1669672,100.00,,\n     0.200326874,278,,raw_syscalls:sys_enter,1764565,100.00,,\n     0.300490439,<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n     0.400654113,7,,raw_syscalls:sys_enter,1690716,100.00,,\n";
        let intervals = parse(text);
        assert_eq!(intervals.len(), 4);
        let started = Instant::now();
        let counts = SyscallCounts {
            started: Some(started),
            intervals,
        };
        assert_eq!(counts.total(), 625);
        let ms = Duration::from_millis;
        assert_eq!(counts.within(&[(started + ms(150), started + ms(250))]), 278);
        assert_eq!(
            counts.within(&[(started, started + ms(150)), (started + ms(350), started + ms(450))]),
            347
        );
        assert_eq!(parse(""), Vec::new());
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
        assert!(counted.as_ref().is_some_and(|c| c.total() > 0), "{counted:?}");
    }
}
