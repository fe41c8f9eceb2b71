//! A CPU profile of the server while a benchmark runs: `perf record` sampling the process (all
//! its threads, kernel and user space), summarised by `perf report` into where the time went by
//! binary (the kernel, the server, libc) and the hottest functions. Without `perf` (or without
//! permission to attach) there is no profile, and the report says so.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde::Serialize;

/// Samples per second: enough for a few thousand samples over a bench run, cheap enough not to
/// change what is measured.
const FREQUENCY: &str = "499";

/// How many of the hottest functions the summary keeps.
const TOP: usize = 20;

/// A running `perf record` attached to one process.
pub struct CpuProfiler {
    perf: Child,
    data: PathBuf,
}

/// Where the sampled CPU time went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuProfile {
    /// Share of samples per binary (`[kernel.kallsyms]`, `annal`, `libc.so.6`, …), largest first.
    pub by_binary: Vec<Share>,
    /// The hottest functions (self time), largest first.
    pub top_functions: Vec<Share>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Share {
    pub percent: f64,
    pub name: String,
}

impl CpuProfiler {
    /// Starts sampling `pid`; `None` when perf cannot.
    pub fn start(pid: u32) -> Option<Self> {
        let data = std::env::temp_dir().join(format!("annal-profile-{pid}-{}.data", std::process::id()));
        let perf = Command::new("perf")
            .args(["record", "-F", FREQUENCY, "-p", &pid.to_string(), "-o"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        Some(Self { perf, data })
    }

    /// Stops sampling and summarises what was sampled.
    pub fn stop(mut self) -> Option<CpuProfile> {
        // SIGINT makes perf write its data file and exit.
        unsafe { libc::kill(self.perf.id() as libc::pid_t, libc::SIGINT) };
        self.perf.wait().ok()?;
        let by_binary = parse(&report(&self.data, "dso")?);
        let mut top_functions = parse(&report(&self.data, "dso,symbol")?);
        top_functions.truncate(TOP);
        let _ = std::fs::remove_file(&self.data);
        (!by_binary.is_empty()).then_some(CpuProfile {
            by_binary,
            top_functions,
        })
    }
}

impl Drop for CpuProfiler {
    fn drop(&mut self) {
        let _ = self.perf.kill();
        let _ = self.perf.wait();
        let _ = std::fs::remove_file(&self.data);
    }
}

fn report(data: &std::path::Path, sort: &str) -> Option<String> {
    let out = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "--sort", sort, "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The rows of `perf report --stdio` (`    41.20%  annal  [.] symbol`), comments skipped.
fn parse(text: &str) -> Vec<Share> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (percent, rest) = l.split_once('%')?;
            let percent: f64 = percent.trim().parse().ok()?;
            let name = rest.split_whitespace().collect::<Vec<_>>().join(" ");
            Some(Share { percent, name })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_report_rows_are_read() {
        let text = "# Samples: 12K of event 'cpu-clock:ppp'\n#\n# Overhead  Shared Object\n\
                    # ........  ..............\n#\n    52.10%  [kernel.kallsyms]\n    40.00%  annal\n     7.90%  libc.so.6\n\n";
        assert_eq!(
            parse(text),
            vec![
                Share {
                    percent: 52.1,
                    name: "[kernel.kallsyms]".into()
                },
                Share {
                    percent: 40.0,
                    name: "annal".into()
                },
                Share {
                    percent: 7.9,
                    name: "libc.so.6".into()
                },
            ]
        );
        let symbols = "     3.25%  annal              [.] sha2::sha256::compress256\n";
        assert_eq!(parse(symbols)[0].name, "annal [.] sha2::sha256::compress256");
    }
}
