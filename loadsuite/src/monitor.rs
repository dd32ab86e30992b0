//! Watches the generator's own CPU: when it is saturated its latencies include its own queueing
//! (the mistake Locust users make without knowing), so the run says so.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// CPU use of this process, sampled once per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuReport {
    /// Cores available to the process.
    pub cores: usize,
    /// Highest one-second use, as a fraction of all cores.
    pub max_fraction: f64,
    /// Seconds at or above [`SATURATED`].
    pub saturated_seconds: u64,
    /// Whether the generator was saturated at any point.
    pub saturated: bool,
}

/// Use (fraction of all cores) that counts as saturated.
pub const SATURATED: f64 = 0.9;

/// Samples `/proc/self/stat` (Linux); elsewhere reports nothing.
pub struct CpuMonitor {
    last: Option<(Instant, f64)>,
    /// The report so far.
    pub report: CpuReport,
}

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

impl Default for CpuMonitor {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuMonitor {
            last: cpu_seconds().map(|c| (Instant::now(), c)),
            report: CpuReport { cores, ..CpuReport::default() },
        }
    }
}

impl CpuMonitor {
    /// Takes a sample; returns the use since the last one (fraction of all cores).
    pub fn sample(&mut self) -> Option<f64> {
        let now = (Instant::now(), cpu_seconds()?);
        let (then, used) = self.last.replace(now)?;
        let fraction = (now.1 - used) / (now.0 - then).as_secs_f64().max(1e-3) / self.report.cores as f64;
        self.report.max_fraction = self.report.max_fraction.max(fraction);
        if fraction >= SATURATED {
            self.report.saturated_seconds += 1;
            self.report.saturated = true;
        }
        Some(fraction)
    }
}
