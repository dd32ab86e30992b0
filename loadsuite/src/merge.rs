//! `loadsuite merge`: one run from the runs of N execution segments. Histograms are added exactly
//! (whole-run and per-stage percentiles of the merge are those of the union of the requests),
//! counts and failures summed, the plan and stage timings summed back to the whole, and the
//! 1-second series aligned by timestamp. The merged directory holds the same files as a single
//! run, so `baseline`, `compare` and `report` take it as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::{ClassUsage, EngineReport, RunWarning, StageTiming};
use crate::formats::InputError;
use crate::formats::run::{self as run_json, EndpointRecord, RunFile, RunParts, SegmentSource};
use crate::monitor::CpuReport;
use crate::plan::Plan;
use crate::segment::Segment;
use crate::stats::{EndpointKey, QUANTILES, Schedule, SecondRow, Snapshot, Stats, combine_failures};

/// Why runs could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A run could not be read, or is not a run this version can merge.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The runs do not belong together.
    #[error("{0}")]
    Mismatch(String),
    /// The merged files could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What `merge` produced.
#[derive(Debug)]
pub struct Merged {
    /// The merged `run.json`.
    pub run_json: PathBuf,
    /// Requests in all segments.
    pub requests: u64,
    /// Failures in all segments.
    pub failures: u64,
    /// Segments merged.
    pub segments: u32,
}

fn read(input: &Path) -> Result<(PathBuf, RunFile), InputError> {
    Ok((run_json::path_of(input), run_json::read(input)?))
}

/// Refuses runs of different scenarios, unsegmented runs, and a missing or duplicate segment.
fn check(runs: &[(PathBuf, RunFile)]) -> Result<u32, MergeError> {
    let Some((first_path, first)) = runs.first() else {
        return Err(MergeError::Mismatch("give the runs to merge (results directories or run.json files)".into()));
    };
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    let count = first.segment.map_or(0, |s| s.count);
    for (path, run) in runs {
        if run.scenario != first.scenario {
            return Err(MergeError::Mismatch(format!(
                "{} is scenario `{}` but {} is `{}`: only segments of one run merge",
                path.display(),
                run.scenario,
                first_path.display(),
                first.scenario
            )));
        }
        let Some(segment) = run.segment else {
            return Err(MergeError::Mismatch(format!(
                "{} is not a segment run: merge the runs of `loadsuite run ... --segment I/N`",
                path.display()
            )));
        };
        if segment.count != count {
            return Err(MergeError::Mismatch(format!(
                "{} is segment {segment} but {} is one of {count}: all segments must split the plan the same way",
                path.display(),
                first_path.display()
            )));
        }
        if let Some(other) = seen.insert(segment.index, path) {
            return Err(MergeError::Mismatch(format!(
                "segment {segment} is given twice: {} and {}",
                other.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> = (0..count).filter(|i| !seen.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(MergeError::Mismatch(format!(
            "segment {} is missing: a partial merge would under-count the load",
            missing.join(", ")
        )));
    }
    Ok(count)
}

fn stats_of(path: &Path, record: &EndpointRecord) -> Result<Stats, InputError> {
    record.to_stats().ok_or_else(|| InputError::Invalid {
        path: path.display().to_string(),
        message: format!("`{} {}` has no readable histograms", record.method, record.name),
    })
}

fn sum_plans(plans: &[&Plan]) -> Plan {
    let mut whole = plans[0].clone();
    for plan in &plans[1..] {
        match (&mut whole, plan) {
            (Plan::Closed { stages }, Plan::Closed { stages: more }) => {
                for (s, m) in stages.iter_mut().zip(more) {
                    s.users += m.users;
                    s.spawn_rate += m.spawn_rate;
                }
            }
            (Plan::Open { stages, max_in_flight }, Plan::Open { stages: more, max_in_flight: m }) => {
                for (s, o) in stages.iter_mut().zip(more) {
                    s.rate += o.rate;
                }
                *max_in_flight += m;
            }
            _ => {}
        }
    }
    whole
}

fn sum_engines(engines: &[&EngineReport]) -> EngineReport {
    let stage_count = engines.iter().map(|e| e.stages.len()).max().unwrap_or(0);
    let stages = (0..stage_count)
        .map(|index| {
            let parts: Vec<&StageTiming> = engines.iter().filter_map(|e| e.stages.get(index)).collect();
            StageTiming {
                index,
                started_s: parts.iter().map(|s| s.started_s).fold(f64::INFINITY, f64::min),
                duration_s: parts.iter().map(|s| s.duration_s).fold(0.0, f64::max),
                target: parts.iter().map(|s| s.target).sum(),
                peak: parts.iter().map(|s| s.peak).sum(),
                reached_s: parts.iter().map(|s| s.reached_s).try_fold(0.0f64, |acc, r| r.map(|r| acc.max(r))),
                complete: parts.len() == engines.len() && parts.iter().all(|s| s.complete),
            }
        })
        .collect();
    // Class usage adds up; a class is idle in the merge only when it was idle in every segment.
    let mut classes: Vec<ClassUsage> = engines.first().map(|e| e.classes.clone()).unwrap_or_default();
    for e in engines.iter().skip(1) {
        for (c, more) in classes.iter_mut().zip(&e.classes) {
            c.peak += more.peak;
        }
    }
    let mut warnings: Vec<RunWarning> = Vec::new();
    for (i, e) in engines.iter().enumerate() {
        for w in &e.warnings {
            let idle_here_only = w.kind == crate::engine::WarningKind::ClassWithoutUsers;
            if !idle_here_only && !warnings.iter().any(|k| k.kind == w.kind && k.stage == w.stage) {
                warnings.push(RunWarning { message: format!("segment {i}: {}", w.message), ..w.clone() });
            }
        }
    }
    for c in classes.iter().filter(|c| c.peak == 0) {
        warnings.push(RunWarning {
            kind: crate::engine::WarningKind::ClassWithoutUsers,
            stage: None,
            message: format!("user class `{}` got no users in any segment, so its tasks did not run", c.name),
        });
    }
    EngineReport {
        stages,
        interrupted: engines.iter().any(|e| e.interrupted),
        duration_s: engines.iter().map(|e| e.duration_s).fold(0.0, f64::max),
        classes,
        warnings,
    }
}

/// The segments' series aligned by timestamp: per-second counts and users summed; cumulative
/// totals summed over each segment's latest row at that second; averages, sizes and per-second
/// percentiles weighted by requests (per-second histograms are not kept; whole-run and per-stage
/// percentiles are exact).
fn merge_history(histories: &[&[SecondRow]]) -> Vec<SecondRow> {
    let mut timestamps: Vec<u64> = histories.iter().flat_map(|h| h.iter().map(|r| r.timestamp)).collect();
    timestamps.sort_unstable();
    timestamps.dedup();
    let mut keys: Vec<EndpointKey> =
        histories.iter().flat_map(|h| h.iter().map(|r| (r.method.clone(), r.name.clone()))).collect();
    keys.sort();
    keys.dedup();
    // The aggregate row comes last in each second, as a single run writes it.
    keys.sort_by_key(|(m, n)| m.is_empty() && n == "Aggregated");
    let mut rows = Vec::new();
    for t in timestamps {
        for key in &keys {
            // Every row of that second (a segment's final tick may share a second with the one before).
            let now: Vec<&SecondRow> = histories
                .iter()
                .flat_map(|h| h.iter().filter(|r| r.timestamp == t && r.method == key.0 && r.name == key.1))
                .collect();
            let latest: Vec<&SecondRow> = histories
                .iter()
                .filter_map(|h| h.iter().rev().find(|r| r.timestamp <= t && r.method == key.0 && r.name == key.1))
                .collect();
            if latest.is_empty() {
                continue;
            }
            let requests: u64 = now.iter().map(|r| r.requests).sum();
            let total_requests: u64 = latest.iter().map(|r| r.total_requests).sum();
            let cumulative = |r: &SecondRow| r.total_requests;
            rows.push(SecondRow {
                timestamp: t,
                users: histories
                    .iter()
                    .filter_map(|h| {
                        h.iter()
                            .filter(|r| r.timestamp == t && r.method == key.0 && r.name == key.1)
                            .map(|r| r.users)
                            .max()
                    })
                    .sum(),
                stage: latest.iter().map(|r| r.stage).max().unwrap_or(0),
                method: key.0.clone(),
                name: key.1.clone(),
                requests,
                failures: now.iter().map(|r| r.failures).sum(),
                percentiles_ms: (0..QUANTILES.len())
                    .map(|i| weighted(&|r| r.percentiles_ms.get(i).copied().unwrap_or(0.0), &|r| r.requests, &now))
                    .collect(),
                success_p50_ms: weighted(&|r| r.success_p50_ms, &|r| r.requests - r.failures, &now),
                success_p95_ms: weighted(&|r| r.success_p95_ms, &|r| r.requests - r.failures, &now),
                success_p99_ms: weighted(&|r| r.success_p99_ms, &|r| r.requests - r.failures, &now),
                total_requests,
                total_failures: latest.iter().map(|r| r.total_failures).sum(),
                total_median_ms: weighted(&|r| r.total_median_ms, &cumulative, &latest),
                total_average_ms: weighted(&|r| r.total_average_ms, &cumulative, &latest),
                total_min_ms: latest
                    .iter()
                    .filter(|r| r.total_requests > 0)
                    .map(|r| r.total_min_ms)
                    .reduce(f64::min)
                    .unwrap_or(0.0),
                total_max_ms: latest.iter().map(|r| r.total_max_ms).fold(0.0, f64::max),
                total_average_bytes: weighted(&|r| r.total_average_bytes, &cumulative, &latest),
            });
        }
    }
    rows
}

/// The mean of `value` over `rows`, weighted by `weight`.
fn weighted(value: &dyn Fn(&SecondRow) -> f64, weight: &dyn Fn(&SecondRow) -> u64, rows: &[&SecondRow]) -> f64 {
    let total: u64 = rows.iter().map(|r| weight(r)).sum();
    if total == 0 { 0.0 } else { rows.iter().map(|r| value(r) * weight(r) as f64).sum::<f64>() / total as f64 }
}

/// Merges the segment runs at `inputs` into `out` (CSV prefix `prefix`).
pub fn merge(inputs: &[PathBuf], out: &Path, prefix: &str) -> Result<Merged, MergeError> {
    let runs = inputs.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
    let count = check(&runs)?;
    let mut runs = runs;
    runs.sort_by_key(|(_, r)| r.segment.map_or(0, |s| s.index));
    let mut total: BTreeMap<EndpointKey, Stats> = BTreeMap::new();
    let mut per_stage: BTreeMap<(usize, EndpointKey), Stats> = BTreeMap::new();
    for (path, run) in &runs {
        for record in &run.endpoints {
            let stats = stats_of(path, record)?;
            total.entry((record.method.clone(), record.name.clone())).or_default().merge(&stats);
        }
        for record in &run.stage_endpoints {
            let stats = stats_of(path, record)?;
            let key = (record.stage.unwrap_or(0), (record.method.clone(), record.name.clone()));
            per_stage.entry(key).or_default().merge(&stats);
        }
    }
    let histories: Vec<&[SecondRow]> = runs.iter().map(|(_, r)| r.time_series.as_slice()).collect();
    let snapshot = Snapshot {
        total,
        per_stage,
        failures: combine_failures(runs.iter().flat_map(|(_, r)| r.failures.iter().cloned()), true),
        history: merge_history(&histories),
        schedule: runs.iter().fold(Schedule::default(), |sum, (_, r)| Schedule {
            scheduled: sum.scheduled + r.schedule.scheduled,
            late: sum.late + r.schedule.late,
            dropped: sum.dropped + r.schedule.dropped,
        }),
    };
    let first = &runs[0].1;
    let engine = sum_engines(&runs.iter().map(|(_, r)| &r.engine).collect::<Vec<_>>());
    let cpu = CpuReport {
        cores: runs.iter().map(|(_, r)| r.generator_cpu.cores).sum(),
        max_fraction: runs.iter().map(|(_, r)| r.generator_cpu.max_fraction).fold(0.0, f64::max),
        saturated_seconds: runs.iter().map(|(_, r)| r.generator_cpu.saturated_seconds).max().unwrap_or(0),
        saturated: runs.iter().any(|(_, r)| r.generator_cpu.saturated),
        // Per stage, the busiest segment's (and the most busy seconds of any): any segment's
        // distortion is the merged run's.
        stages: runs.iter().flat_map(|(_, r)| r.generator_cpu.stages.iter()).fold(Vec::new(), |mut all, s| {
            match all.iter_mut().find(|k: &&mut crate::monitor::StageCpu| k.stage == s.stage) {
                Some(k) => {
                    let busy_samples = k.busy_samples.max(s.busy_samples);
                    if k.mean_fraction < s.mean_fraction {
                        *k = *s;
                    }
                    k.busy_samples = busy_samples;
                }
                None => all.push(*s),
            }
            all
        }),
    };
    let mut resources = Vec::new();
    for (_, run) in &runs {
        for r in &run.resources {
            if !resources.iter().any(|k: &crate::resources::ResourceSeries| k.kind == r.kind && k.id == r.id) {
                resources.push(r.clone());
            }
        }
    }
    let segments = runs
        .iter()
        .map(|(path, r)| SegmentSource {
            segment: r.segment.unwrap_or(Segment::WHOLE),
            source: path.display().to_string(),
            started_at: r.started_at,
            requests: r.aggregate.requests,
            failures: r.aggregate.failures,
            generator_cpu: r.generator_cpu.clone(),
        })
        .collect();
    let merged = RunFile::new(RunParts {
        scenario: first.scenario.clone(),
        description: first.description.clone(),
        targets: first.targets.clone(),
        http2: first.http2.clone(),
        plan: sum_plans(&runs.iter().map(|(_, r)| &r.plan).collect::<Vec<_>>()),
        snapshot: &snapshot,
        engine,
        started_at: runs.iter().map(|(_, r)| r.started_at).fold(f64::INFINITY, f64::min),
        seed: first.seed,
        cpu,
        lag: crate::monitor::busiest(runs.iter().map(|(_, r)| r.generator_lag.as_slice())),
        segment: None,
        segments,
        resources,
        resource_notes: Vec::new(),
        thresholds: first.thresholds.clone(),
        // Each segment read the same targets over overlapping windows: their changes do not add.
        target_counters: BTreeMap::new(),
    });
    let run_json = crate::output::write_run(out, prefix, &snapshot, &merged)
        .map_err(|(path, source)| MergeError::Write { path: path.display().to_string(), source })?;
    let aggregate = snapshot.aggregate();
    Ok(Merged { run_json, requests: aggregate.count, failures: aggregate.failures, segments: count })
}
