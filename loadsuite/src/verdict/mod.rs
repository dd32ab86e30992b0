//! Baselines and verdicts: `loadsuite baseline` keeps what runs measured; `loadsuite compare`
//! judges a run against it; `loadsuite report` judges a single run on its targets alone.
//!
//! A verdict answers three questions apart (see `model`): completeness (did it run), regression
//! (against the baseline at the same load) and targets (SLOs, load degradation).

pub mod baseline;
pub mod busy;
pub mod compare;
pub mod completeness;
pub mod diagnosis;
pub mod github;
pub mod html;
pub mod measures;
pub mod model;
pub mod recommend;
pub mod report;
pub mod targets;
pub mod tests_stat;

use std::collections::BTreeMap;
use std::path::Path;

pub use compare::Thresholds;
pub use model::{Severity, Verdict};
pub use report::Report;

use crate::formats::InputError;
use crate::formats::baseline::{Baseline, EndpointMeasure, ScenarioBaseline};
use compare::Budget;
use measures::RunMeasures;
use model::{Check, CheckKind, EndpointVerdict, Numbers, worst};

/// Reads a thresholds file (TOML, every key optional) and checks every value's range.
pub fn load_thresholds(path: &Path) -> Result<Thresholds, InputError> {
    let text = crate::formats::read_text(path)?;
    let thresholds: Thresholds = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| common::locate::line_of(&text, s.start)).unwrap_or(0);
        InputError::invalid(path.display(), format!("line {line}: {}", e.message().trim()))
    })?;
    let problems = thresholds.problems();
    if !problems.is_empty() {
        return Err(InputError::invalid(path.display(), problems.join("; ")));
    }
    Ok(thresholds)
}

/// Side-by-side numbers of a measure.
pub fn numbers(m: &EndpointMeasure) -> Numbers {
    Numbers {
        requests: m.requests,
        error_rate: m.failure_rate(),
        p95_ms: m.percentile("p95", 0.95),
        p99_ms: m.percentile("p99", 0.99),
        failed_p95_ms: m.failed_p95_ms,
        requests_per_second: m.requests_per_second,
        ttft_p95_ms: m.ttft_decoded().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(0.95) as f64 / 1000.0),
    }
}

/// What every row of one judgement shares.
struct Judging<'a> {
    thresholds: &'a Thresholds,
    base: Option<&'a ScenarioBaseline>,
    unloaded: Option<&'a BTreeMap<String, EndpointMeasure>>,
    run: &'a RunMeasures,
    budget: Budget,
    target_z: f64,
}

impl Judging<'_> {
    fn row(&self, stage: usize, key: &str, current: &EndpointMeasure) -> EndpointVerdict {
        let t = self.thresholds;
        let mut checks = vec![targets::not_broken(current, t, self.target_z)];
        let base = self.base.and_then(|b| b.stages.get(&stage)).and_then(|s| s.get(key));
        let mut detectable = model::Detectable::default();
        if let Some(scenario) = self.base {
            match (completeness::comparable(scenario, self.run, stage), base) {
                (Err(reason), _) => checks.push(Check::new(CheckKind::Comparable, reason, Verdict::Inconclusive)),
                (Ok(()), None) => checks.push(Check::new(
                    CheckKind::Comparable,
                    "new: the baseline has no such endpoint in this stage",
                    Verdict::Inconclusive,
                )),
                (Ok(()), Some(b)) => {
                    let (mut found, could) = compare::regression(b, current, t, self.budget, self.run.open_model);
                    busy::discount(&mut found, stage, b, current, (&scenario.generator_lag, &self.run.lag));
                    busy::distrust_streams(&mut found, stage, &self.run.warnings, &scenario.warnings);
                    checks.extend(found);
                    detectable = could;
                }
            }
        }
        let row_targets = t.for_row(stage, key);
        checks.extend(targets::p95(current, &row_targets, self.target_z));
        checks.extend(targets::p99(current, &row_targets, self.target_z));
        checks.extend(targets::error_rate(current, &row_targets, self.target_z));
        if let Some(reference) = self.unloaded.and_then(|u| u.get(key)) {
            checks.extend(targets::load_degradation(stage, current, reference, t, self.target_z));
        }
        EndpointVerdict {
            stage,
            endpoint: key.to_owned(),
            verdict: worst(checks.iter().map(|c| c.verdict)),
            checks,
            baseline: base.map(numbers),
            current: numbers(current),
            detectable,
            failure_kinds: current.failure_kinds.clone(),
            failure_messages: current.failure_messages.clone(),
            baseline_failure_kinds: base.map(|b| b.failure_kinds.clone()).unwrap_or_default(),
        }
    }
}

/// Judges the run at `run` against `baseline` (or on its targets alone when `None`).
pub fn judge(baseline: Option<(&Path, &Baseline)>, run: &Path, thresholds: Thresholds) -> Result<Report, InputError> {
    let current = measures::read(run)?;
    let base = baseline.and_then(|(_, b)| b.scenarios.get(&current.scenario));
    if let (Some((path, _)), None) = (baseline, base) {
        return Err(InputError::invalid(
            path.display(),
            format!(
                "the baseline has no scenario `{}`; record one with `loadsuite baseline --from RUN`",
                current.scenario
            ),
        ));
    }
    if let (Some((path, _)), Some(scenario), Some(id)) = (baseline, base, &current.run_id)
        && scenario.run_ids.contains(id)
    {
        return Err(InputError::invalid(
            run.display(),
            format!(
                "this run ({id}) is one of the runs baseline {} was made from: comparing a run with itself proves nothing. Compare a later run, or record the baseline from other runs",
                path.display()
            ),
        ));
    }
    let unloaded = baseline
        .filter(|_| current.scenario != thresholds.unloaded_scenario)
        .and_then(|(_, b)| b.scenarios.get(&thresholds.unloaded_scenario))
        .and_then(|s| s.stages.get(&0));
    let rows: usize = current.stages.values().map(BTreeMap::len).sum::<usize>().max(1);
    let judging = Judging {
        thresholds: &thresholds,
        base,
        unloaded,
        run: &current,
        budget: Budget::for_rows(thresholds.significance, rows),
        target_z: tests_stat::z_for(thresholds.significance / (2.0 * rows as f64)),
    };
    let mut endpoints: Vec<EndpointVerdict> = current
        .stages
        .iter()
        .flat_map(|(stage, rows)| rows.iter().map(move |(key, m)| (*stage, key, m)))
        .map(|(stage, key, m)| judging.row(stage, key, m))
        .collect();
    if let Some(scenario) = base {
        endpoints.extend(completeness::missing(scenario, &current, thresholds.significance / rows as f64));
        endpoints.sort_by(|a, b| (a.stage, &a.endpoint).cmp(&(b.stage, &b.endpoint)));
    }
    let run_checks = completeness::run_checks(&current, &thresholds);
    let overall = worst(endpoints.iter().map(|e| e.verdict).chain(run_checks.iter().map(|c| c.verdict)));
    let (score, grade) = diagnosis::score(&endpoints, overall);
    let mut diagnosis = diagnosis::diagnose(&endpoints, &thresholds);
    diagnosis.extend(diagnosis::bottlenecks(&endpoints, &current));
    diagnosis.extend(
        current
            .resources
            .iter()
            .filter(|r| r.leak.is_some() || r.growth_with_writes.is_some())
            .map(crate::resources::describe),
    );
    let recommendations = recommend::recommend(&endpoints, &run_checks, &diagnosis);
    Ok(Report {
        format: report::FORMAT,
        version: report::VERSION,
        scenario: current.scenario.clone(),
        baseline: baseline.map(|(p, _)| p.display().to_string()),
        baseline_runs: base.map(|b| b.runs),
        run: run.display().to_string(),
        overall,
        run_checks,
        diagnosis,
        recommendations,
        target_counters: current.target_counters,
        streams: current.streams,
        resources: current.resources,
        endpoints,
        score,
        grade,
        thresholds,
    })
}

/// What `compare` and `report` produced: the judgement, its Markdown, and where the reports went.
pub struct Written {
    /// The judgement.
    pub report: Report,
    /// `summary.md`'s text.
    pub markdown: String,
    /// The directory the reports were written to.
    pub out: std::path::PathBuf,
}

/// Judges `run` (against the baseline file at `baseline`, when given) with the thresholds file at
/// `thresholds` (the defaults when absent), and writes the reports into `out` (the run's
/// directory by default).
pub fn judge_and_write(
    baseline: Option<&Path>,
    run: &Path,
    thresholds: Option<&Path>,
    out: Option<std::path::PathBuf>,
) -> Result<Written, InputError> {
    // A thresholds file wins; else the scenario's own `[thresholds]` as the run recorded them.
    let thresholds = match thresholds {
        Some(path) => load_thresholds(path)?,
        None => crate::formats::run::read(run).ok().and_then(|r| r.thresholds).unwrap_or_default(),
    };
    let loaded = baseline.map(crate::formats::baseline::read).transpose()?;
    let report = judge(baseline.zip(loaded.as_ref()), run, thresholds)?;
    let out = out.unwrap_or_else(|| {
        if run.is_dir() { run.to_owned() } else { run.parent().map(Path::to_owned).unwrap_or_default() }
    });
    write_reports(&report, &out)
        .map_err(|e| InputError::invalid(out.display(), format!("cannot write the reports: {e}")))?;
    let mut text = Vec::new();
    let _ = report::write_markdown(&mut text, &report);
    Ok(Written { report, markdown: String::from_utf8_lossy(&text).into_owned(), out })
}

/// Writes `verdict.json`, `summary.md`, `junit.xml` and `report.html` into `out`.
pub fn write_reports(report: &Report, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let view = html::run_view(Path::new(&report.run));
    crate::output::write_atomic(&out.join("report.html"), |w| html::write(w, report, &view))?;
    crate::output::write_json_atomic(&out.join("verdict.json"), report)?;
    crate::output::write_atomic(&out.join("summary.md"), |w| report::write_markdown(w, report))?;
    crate::output::write_atomic(&out.join("junit.xml"), |w| report::write_junit(w, report))
}

/// Exit code of a verdict: 0 pass (or improvement), 1 regression or a missed target, 3
/// inconclusive.
pub fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass | Verdict::Improvement => 0,
        Verdict::Regression(_) | Verdict::TargetMissed => 1,
        Verdict::Inconclusive => 3,
    }
}
