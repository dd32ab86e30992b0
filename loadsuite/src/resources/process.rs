//! CPU and memory of a local process by PID, from `/proc` (Linux): for targets that run as plain
//! processes rather than containers (`--watch-pid`).

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on every Linux platform).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessUsage {
    /// Cumulative CPU seconds (user + system).
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/PID`; `None` when the process is gone (or this is not Linux).
pub(crate) fn usage(pid: u32) -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(ProcessUsage { cpu_seconds: ticks / TICKS_PER_SECOND, rss_bytes: rss_kib * 1024 })
}

/// The process name (`/proc/PID/comm`), for reports.
pub(crate) fn name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim().to_owned())
}
