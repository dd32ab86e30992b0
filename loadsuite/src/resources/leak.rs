//! The leak check: memory that climbs steadily while the load is constant. Growth while users
//! ramp up is expected (connections, buffers), so only readings from the final stage on are
//! judged; a least-squares line through them must rise by a material amount and explain most of
//! the variation (a climb, not noise or one step).

use serde::{Deserialize, Serialize};

use super::ResourceSample;

/// Fewest readings the check needs.
pub(crate) const MIN_SAMPLES: usize = 5;
/// Growth over the window that counts as material, bytes.
pub(crate) const MIN_GROWTH_BYTES: f64 = 8.0 * 1024.0 * 1024.0;
/// Growth over the window that counts as material, relative to the fitted start.
pub(crate) const MIN_GROWTH_FRACTION: f64 = 0.10;
/// How well the line must fit (coefficient of determination).
pub(crate) const MIN_R_SQUARED: f64 = 0.8;

/// A steady climb of memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakFinding {
    /// Seconds from the run start where the judged window begins.
    pub from_s: f64,
    /// Seconds the window lasts.
    pub window_s: f64,
    /// Fitted memory at the window start, bytes.
    pub fitted_start_bytes: f64,
    /// Growth of the fitted line over the window, bytes.
    pub growth_bytes: f64,
    /// Growth per minute, bytes.
    pub growth_per_minute_bytes: f64,
    /// Fit quality.
    pub r_squared: f64,
}

impl LeakFinding {
    /// One sentence for reports.
    pub fn describe(&self) -> String {
        let mib = |b: f64| b / (1024.0 * 1024.0);
        format!(
            "memory grew steadily by {:.1} MiB (+{:.0}%) over the last {:.0} s at constant load, {:.1} MiB/min (fit R² {:.2})",
            mib(self.growth_bytes),
            100.0 * self.growth_bytes / self.fitted_start_bytes.max(1.0),
            self.window_s,
            mib(self.growth_per_minute_bytes),
            self.r_squared
        )
    }
}

/// Judges the readings from `from_s` on (all of them when fewer than [`MIN_SAMPLES`] fall there).
pub(crate) fn analyze(samples: &[ResourceSample], from_s: f64) -> Option<LeakFinding> {
    let late: Vec<&ResourceSample> = samples.iter().filter(|s| s.t_s >= from_s).collect();
    let window: Vec<&ResourceSample> = if late.len() >= MIN_SAMPLES { late } else { samples.iter().collect() };
    if window.len() < MIN_SAMPLES {
        return None;
    }
    let n = window.len() as f64;
    let mean_t = window.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_m = window.iter().map(|s| s.memory_bytes as f64).sum::<f64>() / n;
    let (mut stt, mut stm, mut smm) = (0.0, 0.0, 0.0);
    for s in &window {
        let (dt, dm) = (s.t_s - mean_t, s.memory_bytes as f64 - mean_m);
        stt += dt * dt;
        stm += dt * dm;
        smm += dm * dm;
    }
    if stt <= 0.0 || smm <= 0.0 {
        return None;
    }
    let slope = stm / stt;
    let r_squared = stm * stm / (stt * smm);
    let (first, last) = (window[0].t_s, window[window.len() - 1].t_s);
    let fitted_start = mean_m + slope * (first - mean_t);
    let growth = slope * (last - first);
    let material = growth >= MIN_GROWTH_BYTES && growth >= MIN_GROWTH_FRACTION * fitted_start.max(1.0);
    (material && r_squared >= MIN_R_SQUARED).then_some(LeakFinding {
        from_s: first,
        window_s: last - first,
        fitted_start_bytes: fitted_start,
        growth_bytes: growth,
        growth_per_minute_bytes: slope * 60.0,
        r_squared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(memory: impl Fn(f64) -> f64) -> Vec<ResourceSample> {
        (0..20)
            .map(|i| {
                let t = i as f64;
                ResourceSample { t_s: t, cpu_cores: 0.1, memory_bytes: memory(t) as u64 }
            })
            .collect()
    }

    const MIB: f64 = 1024.0 * 1024.0;

    #[test]
    fn a_steady_climb_is_a_leak() {
        let leak = analyze(&series(|t| 50.0 * MIB + t * 2.0 * MIB), 0.0).expect("leak");
        assert!((leak.growth_bytes / MIB - 38.0).abs() < 0.5, "{leak:?}");
        assert!(leak.r_squared > 0.99);
    }

    #[test]
    fn flat_or_noisy_memory_is_not() {
        assert_eq!(analyze(&series(|_| 50.0 * MIB), 0.0), None);
        let noisy = series(|t| 50.0 * MIB + if (t as u64).is_multiple_of(2) { 6.0 * MIB } else { 0.0 });
        assert_eq!(analyze(&noisy, 0.0), None);
    }

    #[test]
    fn growth_during_the_ramp_is_not_judged() {
        // Climbs for 10 s (users ramping up), then holds: judged from 10 s on, no leak.
        let ramp = series(|t| 50.0 * MIB + t.min(10.0) * 5.0 * MIB);
        assert!(analyze(&ramp, 0.0).is_some());
        assert_eq!(analyze(&ramp, 10.0), None);
    }

    #[test]
    fn small_growth_is_not_material() {
        assert_eq!(analyze(&series(|t| 500.0 * MIB + t * 0.2 * MIB), 0.0), None);
    }

    #[test]
    fn a_climb_while_the_run_writes_is_growth_with_writes_not_a_leak() {
        let climb = analyze(&series(|t| 50.0 * MIB + t * 2.0 * MIB), 0.0);
        let (leak, with_writes) = super::super::classify(climb.clone(), 120);
        assert!(leak.is_none());
        assert_eq!(with_writes.map(|w| (w.writes, w.growth)), Some((120, climb.clone().unwrap())));
        let (leak, with_writes) = super::super::classify(climb, 0);
        assert!(leak.is_some() && with_writes.is_none(), "no writes: a possible leak");
    }
}
