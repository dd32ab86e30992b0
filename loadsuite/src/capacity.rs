//! `loadsuite run SCENARIO --find-capacity`: the highest number of users the targets sustain.
//!
//! Short probe runs of the scenario at a fixed number of users (its classes and tasks as they
//! are): users double from `start_users` until a probe crosses a limit, then a binary search
//! between the last probe that held and the first that did not narrows the gap to `tolerance` of
//! the lower one (at least one user). A probe crosses a limit when its error rate exceeds the
//! error target, a row's p95 of successful requests exceeds its p95 target, or a row's p95 is at
//! least twice (and materially above) its p95 at the first probe: the latency knee. A probe with
//! no requests crosses too. Each probe is a whole run in `out/probes/NNNNN-users`; the evidence is
//! written as `capacity.json`, `capacity.md` and `capacity.html` (a chart of p95 and errors
//! against users).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::plan::{ClosedStage, Plan};
use crate::run::{RunError, RunOptions, run};
use crate::scenario::Scenario;
use crate::verdict::Thresholds;

/// How the search runs.
#[derive(Debug, Clone)]
pub(crate) struct CapacityOptions {
    /// Users of the first probe.
    pub start_users: u32,
    /// Most users probed.
    pub max_users: u32,
    /// Length of each probe.
    pub step_time: Duration,
    /// Stop narrowing when the gap is at most this share of the sustained users (and 1 user).
    pub tolerance: f64,
    /// Targets a probe must meet.
    pub thresholds: Thresholds,
}

/// One probe's evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Users.
    pub users: u32,
    /// Requests in all.
    pub requests: u64,
    /// Failed share of them.
    pub error_rate: f64,
    /// The highest p95 of successful requests over the rows, with its row.
    pub worst_p95_ms: f64,
    /// The row with that p95.
    pub worst_row: String,
    /// Why it crossed a limit (`None`: it held).
    pub crossed: Option<String>,
    /// Its results directory.
    pub out: PathBuf,
}

/// What the search found.
#[derive(Debug, Serialize)]
pub struct Capacity {
    /// The highest users a probe held at (`None`: not even the first probe held).
    pub sustained_users: Option<u32>,
    /// The lowest users a probe crossed a limit at (`None`: none did up to `max_users`).
    pub limit_users: Option<u32>,
    /// Why that probe crossed.
    pub limit_reason: Option<String>,
    /// Every probe in the order it ran.
    pub probes: Vec<Probe>,
}

/// The scenario at `users` users for `time`, ramped up within a quarter of a second.
fn probe_scenario(scenario: &Scenario, users: u32, time: Duration) -> Scenario {
    let mut probe = scenario.clone();
    probe.plan =
        Plan::Closed { stages: vec![ClosedStage { users, spawn_rate: f64::from(users) * 4.0, duration: time }] };
    probe
}

/// Judges a probe's run against the limits (`first`: the first probe's p95 per row).
fn judge(
    users: u32,
    out: PathBuf,
    thresholds: &Thresholds,
    first: Option<&BTreeMap<String, f64>>,
) -> (Probe, BTreeMap<String, f64>) {
    let run = crate::formats::run::read(&out).ok();
    let rows: Vec<(String, u64, u64, f64)> = run
        .iter()
        .flat_map(|r| r.endpoints.iter())
        .map(|e| {
            let p95 = e.latency_ms.get("p95").copied().unwrap_or(0.0);
            (format!("{} {}", e.method, e.name), e.requests, e.failures, p95)
        })
        .collect();
    let requests: u64 = rows.iter().map(|r| r.1).sum();
    let failures: u64 = rows.iter().map(|r| r.2).sum();
    let error_rate = if requests == 0 { 0.0 } else { failures as f64 / requests as f64 };
    let p95s: BTreeMap<String, f64> = rows.iter().filter(|r| r.1 > r.2).map(|r| (r.0.clone(), r.3)).collect();
    let (worst_row, worst_p95_ms) =
        p95s.iter().max_by(|a, b| a.1.total_cmp(b.1)).map_or((String::new(), 0.0), |(r, p)| (r.clone(), *p));
    let crossed = if requests == 0 {
        Some("no request was answered".to_owned())
    } else if error_rate > thresholds.max_error_rate {
        Some(format!("error rate {:.2}% over the {:.2}% target", error_rate * 100.0, thresholds.max_error_rate * 100.0))
    } else {
        p95s.iter()
            .find_map(|(row, p95)| {
                let target = thresholds.for_row(0, row).p95_ms;
                (*p95 > target).then(|| format!("{row}: p95 {p95:.1} ms over the {target:.0} ms target"))
            })
            .or_else(|| {
                let first = first?;
                p95s.iter().find_map(|(row, p95)| {
                    let before = *first.get(row)?;
                    (*p95 >= 2.0 * before && p95 - before >= thresholds.min_latency_change_ms)
                        .then(|| format!("{row}: latency knee, p95 {before:.1} -> {p95:.1} ms since the first probe"))
                })
            })
    };
    (Probe { users, requests, error_rate, worst_p95_ms, worst_row, crossed, out }, p95s)
}

/// Runs the search against the scenario's targets (already resolved: with `--embedded` the caller
/// starts one stack for every probe).
pub(crate) async fn find(
    scenario: &Scenario,
    options: &RunOptions,
    capacity: &CapacityOptions,
) -> Result<Capacity, RunError> {
    let mut probes: Vec<Probe> = Vec::new();
    let mut first: Option<BTreeMap<String, f64>> = None;
    let (mut held, mut crossed): (Option<u32>, Option<(u32, String)>) = (None, None);
    let mut users = capacity.start_users.max(1);
    loop {
        let mut probe_options = options.clone();
        probe_options.out = options.out.join("probes").join(format!("{users:05}-users"));
        probe_options.overwrite = true;
        probe_options.embedded = false;
        probe_options.preflight = probes.is_empty() && options.preflight;
        run(probe_scenario(scenario, users, capacity.step_time), probe_options.clone()).await?;
        let (probe, p95s) = judge(users, probe_options.out, &capacity.thresholds, first.as_ref());
        first.get_or_insert(p95s);
        match &probe.crossed {
            None => held = Some(held.map_or(users, |h| h.max(users))),
            Some(why) => {
                if crossed.as_ref().is_none_or(|(u, _)| users < *u) {
                    crossed = Some((users, why.clone()));
                }
            }
        }
        probes.push(probe);
        if options.stop.is_cancelled() {
            break;
        }
        users = match (held, &crossed) {
            (Some(h), None) if h < capacity.max_users => (h * 2).min(capacity.max_users),
            (Some(h), Some((c, _))) => {
                let gap = c.saturating_sub(h);
                if gap <= 1 || f64::from(gap) <= f64::from(h) * capacity.tolerance {
                    break;
                }
                h + gap / 2
            }
            _ => break,
        };
    }
    Ok(Capacity {
        sustained_users: held,
        limit_users: crossed.as_ref().map(|(u, _)| *u),
        limit_reason: crossed.map(|(_, why)| why),
        probes,
    })
}

/// The probes as a Markdown table, and the finding.
pub(crate) fn markdown(capacity: &Capacity) -> String {
    let mut out = String::from("# Capacity\n\n");
    out.push_str(&match (capacity.sustained_users, capacity.limit_users) {
        (Some(h), Some(c)) => {
            format!("**Sustained: {h} users.** At {c} users: {}.\n\n", capacity.limit_reason.as_deref().unwrap_or(""))
        }
        (Some(h), None) => format!("**Sustained: {h} users**, the most probed: no limit was crossed.\n\n"),
        (None, _) => {
            format!("**Not even the first probe held**: {}.\n\n", capacity.limit_reason.as_deref().unwrap_or(""))
        }
    });
    out.push_str("| users | requests | errors | worst p95 ms (row) | result |\n|---:|---:|---:|---|---|\n");
    let mut sorted: Vec<&Probe> = capacity.probes.iter().collect();
    sorted.sort_by_key(|p| p.users);
    for p in sorted {
        out.push_str(&format!(
            "| {} | {} | {:.2}% | {:.1} (`{}`) | {} |\n",
            p.users,
            p.requests,
            p.error_rate * 100.0,
            p.worst_p95_ms,
            p.worst_row,
            p.crossed.as_deref().unwrap_or("held")
        ));
    }
    out
}

/// Writes `capacity.json`, `capacity.md` and `capacity.html` into `out`.
pub(crate) fn write(capacity: &Capacity, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    crate::output::write_json_atomic(
        &out.join("capacity.json"),
        &serde_json::json!({"format": "loadsuite-capacity", "version": 1, "capacity": capacity}),
    )?;
    crate::output::write_text_atomic(&out.join("capacity.md"), &markdown(capacity))?;
    crate::output::write_atomic(&out.join("capacity.html"), |w| crate::verdict::html::write_capacity(w, capacity))
}
