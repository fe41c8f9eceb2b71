//! CPU time of processes, from /proc, so a benchmark can report the server's CPU per message
//! apart from the load generator's (they share the machine's cores).

use std::time::Duration;

/// utime + stime of process `pid` (Linux; None elsewhere or if it is gone).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(utime + stime))
}

/// Total CPU time of every process whose command name is `name` (e.g. every `postgres`
/// backend), so the database's share of the work is counted too.
pub fn cpu_of_processes_named(name: &str) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(process_cpu)
        .sum()
}

fn ticks(n: u64) -> Duration {
    // USER_HZ is 100 on every Linux this runs on (it is fixed in the kernel ABI for /proc).
    Duration::from_millis(n * 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_our_own_cpu_time() {
        let start = super::process_cpu(std::process::id()).expect("/proc is readable");
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let end = super::process_cpu(std::process::id()).unwrap();
        assert!(end >= start);
    }
}
