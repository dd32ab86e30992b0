//! `loadsuite baseline`: builds a baseline from runs (results directories, `run.json` files) or a
//! Locust `_stats.csv`, and says what it is blessing. Several runs of one scenario merge exactly
//! (histograms add) and keep each run's own figures, so comparisons know the run-to-run spread.
//!
//! It refuses what would make every later verdict meaningless: runs of different plans under one
//! scenario, inputs with and without histograms mixed, and (unless `allow_failing`) an endpoint
//! that failed every request. It warns, and records in the file, endpoints under the minimum
//! samples or over the error target, and runs that were interrupted or fell short of their plan.

use std::path::Path;

use super::Thresholds;
use super::measures::{self, RunMeasures};
use crate::engine::WarningKind;
use crate::formats::InputError;
use crate::formats::baseline::{Baseline, BaselineWarning, BaselineWarningKind, ScenarioBaseline};

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Keep endpoints that failed every request (normally refused).
    pub allow_failing: bool,
    /// The thresholds later comparisons will use (minimum samples, error target).
    pub thresholds: Thresholds,
}

fn add_run(
    target: &mut ScenarioBaseline,
    first: &mut Option<(String, bool)>,
    input: &Path,
    run: RunMeasures,
) -> Result<(), InputError> {
    let shown = input.display().to_string();
    match first {
        None => {
            *first = Some((shown.clone(), run.has_histograms));
            target.plan = run.plan.clone();
            target.http2 = run.http2.clone();
        }
        Some((first_path, histograms)) => {
            if *histograms != run.has_histograms {
                return Err(InputError::invalid(
                    &shown,
                    format!(
                        "cannot merge a Locust CSV (rounded percentiles, no histograms) with loadsuite runs (histograms) into one baseline of `{}` ({first_path} is the other kind): record them as separate baselines",
                        run.scenario
                    ),
                ));
            }
            if target.http2 != run.http2 {
                return Err(InputError::invalid(
                    &shown,
                    format!(
                        "spoke {} where {first_path} spoke {} for scenario `{}`: runs of one baseline must share their protocol",
                        super::completeness::protocols(&run.http2),
                        super::completeness::protocols(&target.http2),
                        run.scenario
                    ),
                ));
            }
            if target.plan != run.plan {
                return Err(InputError::invalid(
                    &shown,
                    format!(
                        "ran a different plan than {first_path} for scenario `{}`: runs of one baseline must share their plan (same users, rates and durations)",
                        run.scenario
                    ),
                ));
            }
        }
    }
    // Distorted stream timing is recorded apart, per stage (below): the run did run its plan.
    let short: Vec<&str> = run
        .warnings
        .iter()
        .filter(|w| w.kind != WarningKind::StreamTimingDistorted)
        .map(|w| w.message.as_str())
        .collect();
    if run.interrupted || !short.is_empty() {
        target.warnings.push(BaselineWarning {
            kind: BaselineWarningKind::IncompleteRun,
            stage: None,
            endpoint: None,
            message: format!("{shown}: {}", if short.is_empty() { "interrupted".to_owned() } else { short.join("; ") }),
        });
    }
    for w in run.warnings.iter().filter(|w| w.kind == WarningKind::StreamTimingDistorted) {
        target.warnings.push(BaselineWarning {
            kind: BaselineWarningKind::StreamTimingDistorted,
            stage: w.stage,
            endpoint: None,
            message: format!("{shown}: {}", w.message),
        });
    }
    target.runs += 1;
    target.run_ids.extend(run.run_id.clone());
    target.generator_lag = crate::monitor::busiest([target.generator_lag.as_slice(), run.lag.as_slice()]);
    for (stage, endpoints) in run.stages {
        let into = target.stages.entry(stage).or_default();
        for (k, m) in endpoints {
            match into.get_mut(&k) {
                Some(existing) => existing.merge(&m),
                None => {
                    into.insert(k, m);
                }
            }
        }
    }
    Ok(())
}

/// Warnings about what a scenario's baseline holds; `Err` when an endpoint failed every request
/// and that is not allowed.
fn inspect(name: &str, scenario: &mut ScenarioBaseline, options: &BuildOptions) -> Result<(), String> {
    let t = &options.thresholds;
    let mut refused = Vec::new();
    for (stage, endpoints) in &scenario.stages {
        for (key, m) in endpoints {
            let mut warn = |kind, message: String| {
                scenario.warnings.push(BaselineWarning {
                    kind,
                    stage: Some(*stage),
                    endpoint: Some(key.clone()),
                    message,
                })
            };
            if m.requests > 0 && m.failures == m.requests {
                refused.push(format!("`{key}` (stage {})", stage + 1));
                warn(BaselineWarningKind::AllFailing, format!("all {} requests failed", m.requests));
            } else if m.failure_rate() > t.max_error_rate {
                warn(
                    BaselineWarningKind::FailuresAboveTarget,
                    format!(
                        "{:.2}% failed, over the {:.2}% target: later runs are compared with a failing service",
                        m.failure_rate() * 100.0,
                        t.max_error_rate * 100.0
                    ),
                );
            }
            if m.requests < t.min_samples {
                warn(
                    BaselineWarningKind::FewSamples,
                    format!(
                        "{} requests, under the {} comparisons need: every check against it will be inconclusive",
                        m.requests, t.min_samples
                    ),
                );
            }
        }
    }
    if !refused.is_empty() && !options.allow_failing {
        return Err(format!(
            "scenario `{name}`: {} failed every request; a baseline of a broken endpoint would bless it. Fix the run, or keep it knowingly with --allow-failing",
            refused.join(", ")
        ));
    }
    Ok(())
}

/// Builds (and merges) a baseline from several inputs.
pub fn build(inputs: &[&Path], options: &BuildOptions) -> Result<Baseline, InputError> {
    let mut baseline = Baseline::new();
    let mut firsts: std::collections::BTreeMap<String, Option<(String, bool)>> = Default::default();
    for input in inputs {
        let run = measures::read(input)?;
        baseline.sources.push(input.display().to_string());
        let first = firsts.entry(run.scenario.clone()).or_default();
        let target = baseline.scenarios.entry(run.scenario.clone()).or_default();
        add_run(target, first, input, run)?;
    }
    for (name, scenario) in &mut baseline.scenarios {
        inspect(name, scenario, options).map_err(|message| {
            InputError::invalid(inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), message)
        })?;
    }
    Ok(baseline)
}

/// Writes a baseline atomically.
pub fn write(baseline: &Baseline, out: &Path) -> std::io::Result<()> {
    crate::output::write_json_atomic(out, baseline)
}

/// `loadsuite baseline`: builds the baseline of `inputs`, writes it to `out`, and returns it with
/// one line per warning it recorded.
pub fn record(inputs: &[&Path], out: &Path, options: &BuildOptions) -> Result<(Baseline, Vec<String>), InputError> {
    let baseline = build(inputs, options)?;
    write(&baseline, out).map_err(|e| InputError::invalid(out.display(), format!("cannot write: {e}")))?;
    let mut lines = Vec::new();
    for (name, scenario) in &baseline.scenarios {
        for w in &scenario.warnings {
            let at = match (w.stage, &w.endpoint) {
                (Some(stage), Some(e)) => format!(" stage {} `{e}`", stage + 1),
                _ => String::new(),
            };
            lines.push(format!("baseline `{name}`{at}: {}", w.message));
        }
    }
    Ok((baseline, lines))
}
