//! Judging a run against a baseline: per (stage, endpoint) and overall, with configurable
//! thresholds (a TOML file, every key optional; defaults documented in README "Verdicts").
//!
//! A latency change counts only when it exceeds the allowed degradation AND Mann-Whitney U on the
//! two histograms is significant; an error-rate rise only when the two-proportion test is. Too few
//! samples is inconclusive, never pass. A 100% (or above-critical) failure rate is critical
//! whatever else holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::baseline::{EndpointMeasure, ScenarioMeasures};
use super::tests_stat::{error_rate_increase, mann_whitney};

/// Verdict thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Absolute p95 target in ms.
    pub p95_ms: f64,
    /// Absolute error-rate target (success rate is its complement).
    pub max_error_rate: f64,
    /// Allowed p95 degradation `(current - baseline) / baseline` for the first, second, third ...
    /// stage (the last value holds beyond).
    pub p95_degradation: Vec<f64>,
    /// Smallest p95 change in ms that counts at all (sub-millisecond endpoints jitter by more
    /// than 50% on a busy machine without anything having changed).
    pub min_latency_change_ms: f64,
    /// Significance level of the statistical tests.
    pub significance: f64,
    /// Fewest requests on either side for any verdict but inconclusive.
    pub min_samples: u64,
    /// Error rate from which an endpoint is critical.
    pub critical_error_rate: f64,
    /// Requests/s drop (fraction) that counts as a regression.
    pub throughput_drop: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            p95_ms: 2000.0,
            max_error_rate: 0.01,
            p95_degradation: vec![0.5, 1.0, 1.5],
            min_latency_change_ms: 5.0,
            significance: 0.01,
            min_samples: 30,
            critical_error_rate: 0.5,
            throughput_drop: 0.3,
        }
    }
}

/// How bad a regression is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Minor,
    /// Fails the pipeline.
    Major,
    /// Broken.
    Critical,
}

/// A verdict, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "verdict", content = "severity", rename_all = "lowercase")]
pub enum Verdict {
    /// Measurably better.
    Improvement,
    /// Within every threshold.
    Pass,
    /// Not enough data to say.
    Inconclusive,
    /// Worse.
    Regression(Severity),
}

impl Verdict {
    /// `pass`, `regression (major)` ...
    pub fn label(&self) -> String {
        match self {
            Verdict::Improvement => "improvement".into(),
            Verdict::Pass => "pass".into(),
            Verdict::Inconclusive => "inconclusive".into(),
            Verdict::Regression(s) => format!("regression ({})", format!("{s:?}").to_lowercase()),
        }
    }
}

/// One check of one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// What it found.
    pub detail: String,
    /// Its verdict.
    pub verdict: Verdict,
}

/// Side-by-side numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Numbers {
    /// Requests.
    pub requests: u64,
    /// Failure rate.
    pub error_rate: f64,
    /// p95 ms.
    pub p95_ms: Option<f64>,
    /// p99 ms.
    pub p99_ms: Option<f64>,
    /// Requests/s.
    pub requests_per_second: f64,
}

impl Numbers {
    fn of(m: &EndpointMeasure) -> Self {
        Numbers {
            requests: m.requests,
            error_rate: m.failure_rate(),
            p95_ms: m.percentile("p95", 0.95),
            p99_ms: m.percentile("p99", 0.99),
            requests_per_second: m.requests_per_second,
        }
    }
}

/// The judgement of one endpoint in one stage.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointVerdict {
    /// Stage index.
    pub stage: usize,
    /// `METHOD name`.
    pub endpoint: String,
    /// Worst of its checks.
    pub verdict: Verdict,
    /// The checks.
    pub checks: Vec<Check>,
    /// Baseline numbers (absent when the baseline lacks the endpoint).
    pub baseline: Option<Numbers>,
    /// Current numbers.
    pub current: Numbers,
    /// Failures by kind in the current run.
    pub failure_kinds: BTreeMap<String, u64>,
    /// A sample message per kind.
    pub failure_messages: BTreeMap<String, String>,
}

/// Judges one endpoint. Throughput is a verdict only in open (arrival-rate) runs, where the
/// offered load is fixed; in closed runs it follows latency and think time, so it is reported but
/// judged through latency and errors.
pub fn judge(
    stage: usize,
    endpoint: &str,
    base: Option<&EndpointMeasure>,
    current: &EndpointMeasure,
    t: &Thresholds,
    open_model: bool,
) -> EndpointVerdict {
    let mut checks = Vec::new();
    let mut check =
        |name: &str, detail: String, verdict: Verdict| checks.push(Check { name: name.into(), detail, verdict });
    let rate = current.failure_rate();
    let critical = current.requests > 0 && (current.failures == current.requests || rate >= t.critical_error_rate);
    check(
        "failure rate below the critical limit",
        format!(
            "{:.1}% of {} requests failed (critical at {:.0}% or 100%)",
            rate * 100.0,
            current.requests,
            t.critical_error_rate * 100.0
        ),
        if critical { Verdict::Regression(Severity::Critical) } else { Verdict::Pass },
    );
    let enough = |m: &EndpointMeasure| m.requests >= t.min_samples;
    match base {
        None => check("present in the baseline", "the baseline has no such endpoint".into(), Verdict::Inconclusive),
        Some(b) if !enough(b) || !enough(current) => check(
            "enough samples",
            format!(
                "baseline {} / current {} requests; at least {} each are needed",
                b.requests, current.requests, t.min_samples
            ),
            Verdict::Inconclusive,
        ),
        Some(_) => {}
    }
    if enough(current) {
        if let Some(p95) = current.percentile("p95", 0.95) {
            let over = p95 >= t.p95_ms;
            check(
                "p95 under the absolute target",
                format!("p95 {p95:.1} ms (target < {:.0} ms)", t.p95_ms),
                if over { Verdict::Regression(Severity::Major) } else { Verdict::Pass },
            );
        }
        let over = rate >= t.max_error_rate;
        check(
            "error rate under the absolute target",
            format!(
                "{:.2}% (target < {:.2}%, success > {:.2}%)",
                rate * 100.0,
                t.max_error_rate * 100.0,
                (1.0 - t.max_error_rate) * 100.0
            ),
            if over { Verdict::Regression(Severity::Major) } else { Verdict::Pass },
        );
    }
    if let Some(b) = base.filter(|b| enough(b) && enough(current)) {
        let p = error_rate_increase(b.failures, b.requests, current.failures, current.requests);
        let rose = p < t.significance && rate > b.failure_rate();
        check(
            "error rate not significantly higher",
            format!(
                "{:.2}% -> {:.2}% (two-proportion test p = {p:.4}, significant below {})",
                b.failure_rate() * 100.0,
                rate * 100.0,
                t.significance
            ),
            if rose { Verdict::Regression(Severity::Major) } else { Verdict::Pass },
        );
        let new_kinds: Vec<&String> =
            current.failure_kinds.keys().filter(|k| !b.failure_kinds.contains_key(*k)).collect();
        if !new_kinds.is_empty() {
            let list = new_kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
            check("no new failure kinds", format!("new failure kinds: {list}"), Verdict::Regression(Severity::Minor));
        }
        let allowed = t.p95_degradation.get(stage).or(t.p95_degradation.last()).copied().unwrap_or(0.5);
        match (b.decoded(), current.decoded(), b.percentile("p95", 0.95), current.percentile("p95", 0.95)) {
            (Some(hb), Some(hc), Some(pb), Some(pc)) if pb > 0.0 => {
                let change = (pc - pb) / pb;
                let (_, p_slower) = mann_whitney(&hb, &hc);
                let (_, p_faster) = mann_whitney(&hc, &hb);
                let material = (pc - pb).abs() >= t.min_latency_change_ms;
                let verdict = if material && change > allowed && p_slower < t.significance {
                    Verdict::Regression(if change > 2.0 * allowed { Severity::Major } else { Severity::Minor })
                } else if material && change < -allowed.min(0.2) && p_faster < t.significance {
                    Verdict::Improvement
                } else {
                    Verdict::Pass
                };
                check(
                    "p95 degradation within the allowed level",
                    format!(
                        "p95 {pb:.1} -> {pc:.1} ms ({:+.0}%, allowed +{:.0}% at level {}); Mann-Whitney p = {p_slower:.4}",
                        change * 100.0,
                        allowed * 100.0,
                        stage + 1
                    ),
                    verdict,
                );
            }
            _ => check(
                "p95 degradation within the allowed level",
                "no histogram on one side (e.g. a Locust baseline): the change cannot be tested".into(),
                Verdict::Inconclusive,
            ),
        }
        if b.requests_per_second > 0.0 {
            let drop = 1.0 - current.requests_per_second / b.requests_per_second;
            let dropped = open_model && drop > t.throughput_drop;
            let note = if open_model { "" } else { " (closed-model run: informational)" };
            let detail = format!(
                "{:.1} -> {:.1} requests/s ({:+.0}%){note}",
                b.requests_per_second,
                current.requests_per_second,
                -drop * 100.0
            );
            check(
                "throughput not dropped",
                detail,
                if dropped { Verdict::Regression(Severity::Minor) } else { Verdict::Pass },
            );
        }
    }
    let verdict = checks.iter().map(|c| c.verdict).max().unwrap_or(Verdict::Inconclusive);
    // An improvement only stands when nothing else is worse than pass.
    let verdict = if verdict == Verdict::Pass && checks.iter().any(|c| c.verdict == Verdict::Improvement) {
        Verdict::Improvement
    } else {
        verdict
    };
    EndpointVerdict {
        stage,
        endpoint: endpoint.to_owned(),
        verdict,
        checks,
        baseline: base.map(Numbers::of),
        current: Numbers::of(current),
        failure_kinds: current.failure_kinds.clone(),
        failure_messages: current.failure_messages.clone(),
    }
}

/// Judges every endpoint of every stage of the current run.
pub fn judge_all(
    base: Option<&ScenarioMeasures>,
    current: &ScenarioMeasures,
    t: &Thresholds,
    open_model: bool,
) -> Vec<EndpointVerdict> {
    let mut out = Vec::new();
    for (stage, endpoints) in current {
        for (key, measure) in endpoints {
            let b = base.and_then(|b| b.get(stage)).and_then(|s| s.get(key));
            out.push(judge(*stage, key, b, measure, t, open_model));
        }
    }
    out
}

/// The overall verdict: the worst endpoint; improvement only when nothing is worse than pass.
pub fn overall(endpoints: &[EndpointVerdict]) -> Verdict {
    let worst = endpoints.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Inconclusive);
    if worst <= Verdict::Pass && endpoints.iter().any(|e| e.verdict == Verdict::Improvement) {
        Verdict::Improvement
    } else {
        worst
    }
}
