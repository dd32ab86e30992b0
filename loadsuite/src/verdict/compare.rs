//! Regression: this run against the baseline, per (stage, endpoint), at the same load.
//!
//! The rule, one allowance for every stage:
//! - **Latency**: the p95 of successful requests is a regression when its rise exceeds all of: the
//!   allowance (`p95_regression`, +50%), the material floor (`min_latency_change_ms`), and the noise
//!   bound `z * sqrt(se_base² + se_run² + spread²)` on the log scale, where the `se` come from each
//!   side's distribution-free p95 interval and `spread` is the run-to-run spread the baseline
//!   measured (several runs) or `run_spread` (one run). Samples inside a run are not independent,
//!   so the run, not the request, is the unit of that spread.
//! - **Streams**: the p95 of the time to first token is judged by the same rule (the row's latency
//!   level split between the two tests).
//! - **Errors**: a rise is a regression when it is material (`min_error_rate_increase` points) and
//!   an exact conditional binomial test says it is not chance. Only then are the failure kinds
//!   tested the same way (hierarchically, to say which kind rose), so a rare kind the baseline
//!   happened not to see is no alarm by itself.
//! - `significance` is the family-wise level of the statistical tests of a whole comparison
//!   (Bonferroni over its rows, half to latency, half to errors). The material floors come on top,
//!   so the measured false-alarm rate is lower still: `loadsuite calibrate` measures it.
//! - Too few samples is inconclusive, never pass; every row states the smallest change it could
//!   have flagged.

use common::glob::matches as glob;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::model::{Check, CheckKind, Detectable, Severity, Verdict};
use super::tests_stat::{error_rate_increase, log_quantile_se, z_for};
use crate::formats::baseline::EndpointMeasure;

/// Verdict thresholds (a TOML file, every key optional; defaults in README "Verdicts").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Absolute p95 target in ms (an SLO: met / missed / not demonstrable).
    pub p95_ms: f64,
    /// Absolute error-rate target (an SLO; success rate is its complement).
    pub max_error_rate: f64,
    /// Allowed p95 rise over the baseline at the same load, every stage alike (0.5 = +50%).
    pub p95_regression: f64,
    /// Load degradation allowed per level (stage) over the unloaded p95 (the seed's 50/100/150%
    /// rule); the last value holds beyond.
    pub p95_degradation: Vec<f64>,
    /// The baseline scenario whose p95 is the unloaded reference for load degradation.
    pub unloaded_scenario: String,
    /// Smallest p95 change in ms that counts at all.
    pub min_latency_change_ms: f64,
    /// Smallest error-rate rise (absolute, 0.01 = one percentage point) that counts at all.
    pub min_error_rate_increase: f64,
    /// Run-to-run spread of the p95 (sd of its log) assumed when the baseline has one run.
    pub run_spread: f64,
    /// Family-wise level of the statistical tests of one comparison (the material floors come on
    /// top; `loadsuite calibrate` measures the resulting false-alarm rate).
    pub significance: f64,
    /// Fewest requests on either side for any comparison but inconclusive.
    pub min_samples: u64,
    /// Error rate from which an endpoint is critical.
    pub critical_error_rate: f64,
    /// Requests/s drop (fraction) that counts as a regression in open-model runs.
    pub throughput_drop: f64,
    /// Dropped or late arrival-rate iterations (fraction of the scheduled) that fail the run.
    pub max_missed_iterations: f64,
    /// Targets of particular endpoints and stages (`[[targets]]`), over the global ones; the
    /// last that matches a row sets each value it gives.
    pub targets: Vec<EndpointTarget>,
    /// Expectations on what the targets count themselves over the run (`[[counters]]`), e.g.
    /// `events.sandbox_violation` at most 0 on `mcp`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<CounterExpectation>,
}

/// An expectation on a target's own counter: its change over the run within `min`..=`max`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterExpectation {
    /// The target's name in the scenario (`mcp`).
    pub target: String,
    /// The counter (`events.sandbox_violation`, `genuine_errors`, a Prometheus metric name).
    pub counter: String,
    /// Most it may rise during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Least it must rise during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// Targets for the endpoints a pattern names, optionally only at some stages: "query p95 under
/// 3 s while the API's is 2 s", "success above 99% at 10 users, 95% at 100".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointTarget {
    /// The endpoint as reports name it (`POST /v1/query`, `MCP tools/call read_file`), `*`
    /// standing for any run of characters (`AGENT *`, `*/v1/query`).
    pub endpoint: String,
    /// Stage numbers (1-based, as reports show them); every stage when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<usize>,
    /// p95 target, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// p99 target, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Error-rate target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// Success-rate target (another way to give the error rate: `1 - max_error_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_success_rate: Option<f64>,
}

/// The targets that apply to one row, and where each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RowTargets {
    /// p95 target, ms.
    pub p95_ms: f64,
    /// p99 target, ms, when one was set.
    pub p99_ms: Option<f64>,
    /// Error-rate target.
    pub max_error_rate: f64,
    /// `[[targets]] endpoint` patterns that set any of them (empty: the global targets).
    pub from: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            p95_ms: 2000.0,
            max_error_rate: 0.01,
            p95_regression: 0.5,
            p95_degradation: vec![0.5, 1.0, 1.5],
            unloaded_scenario: "baseline".into(),
            min_latency_change_ms: 10.0,
            min_error_rate_increase: 0.01,
            run_spread: 0.10,
            significance: 0.05,
            min_samples: 30,
            critical_error_rate: 0.5,
            throughput_drop: 0.3,
            max_missed_iterations: 0.01,
            targets: Vec::new(),
            counters: Vec::new(),
        }
    }
}

impl Thresholds {
    /// Every out-of-range value, as `field: problem` (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |field: &str, value: f64, ok: bool, want: &str| {
            if !(value.is_finite() && ok) {
                out.push(format!("{field} = {value}: must be {want}"));
            }
        };
        check("p95_ms", self.p95_ms, self.p95_ms > 0.0, "a positive number of milliseconds");
        let fraction = "a fraction between 0 and 1";
        check("max_error_rate", self.max_error_rate, (0.0..=1.0).contains(&self.max_error_rate), fraction);
        check("p95_regression", self.p95_regression, self.p95_regression > 0.0, "a positive fraction (0.5 = +50%)");
        check("min_latency_change_ms", self.min_latency_change_ms, self.min_latency_change_ms >= 0.0, "0 or more");
        let rise = self.min_error_rate_increase;
        check("min_error_rate_increase", rise, (0.0..=1.0).contains(&rise), fraction);
        check("run_spread", self.run_spread, self.run_spread >= 0.0, "0 or more");
        check(
            "significance",
            self.significance,
            self.significance > 0.0 && self.significance < 0.5,
            "between 0 and 0.5",
        );
        let critical = self.critical_error_rate;
        check("critical_error_rate", critical, critical > 0.0 && critical <= 1.0, "a fraction above 0, at most 1");
        check("throughput_drop", self.throughput_drop, (0.0..=1.0).contains(&self.throughput_drop), fraction);
        let missed = self.max_missed_iterations;
        check("max_missed_iterations", missed, (0.0..=1.0).contains(&missed), fraction);
        if self.p95_degradation.is_empty() {
            out.push("p95_degradation = []: give at least one allowance (e.g. [0.5, 1.0, 1.5])".into());
        }
        for (i, d) in self.p95_degradation.iter().enumerate() {
            if !(d.is_finite() && *d >= 0.0) {
                out.push(format!("p95_degradation[{i}] = {d}: must be 0 or more"));
            }
        }
        for (i, target) in self.targets.iter().enumerate() {
            let at = |field: &str| format!("targets[{i}].{field}");
            if target.endpoint.trim().is_empty() {
                out.push(format!("{}: name an endpoint (`POST /v1/query`, `AGENT *`)", at("endpoint")));
            }
            for (field, value) in [("p95_ms", target.p95_ms), ("p99_ms", target.p99_ms)] {
                if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                    out.push(format!("{} = {v}: must be a positive number of milliseconds", at(field)));
                }
            }
            for (field, value) in
                [("max_error_rate", target.max_error_rate), ("min_success_rate", target.min_success_rate)]
            {
                if let Some(v) = value.filter(|v| !(0.0..=1.0).contains(v)) {
                    out.push(format!("{} = {v}: must be a fraction between 0 and 1", at(field)));
                }
            }
            if target.max_error_rate.is_some() && target.min_success_rate.is_some() {
                out.push(format!("targets[{i}]: give max_error_rate or min_success_rate, not both"));
            }
            if target.stages.contains(&0) {
                out.push(format!("{}: stages are numbered from 1, as reports show them", at("stages")));
            }
        }
        for (i, c) in self.counters.iter().enumerate() {
            if c.target.trim().is_empty() || c.counter.trim().is_empty() {
                out.push(format!("counters[{i}]: name the `target` and the `counter`"));
            }
            if c.max.is_none() && c.min.is_none() {
                out.push(format!("counters[{i}]: give `max`, `min` or both"));
            }
            for (field, value) in [("max", c.max), ("min", c.min)] {
                if let Some(v) = value.filter(|v| !v.is_finite()) {
                    out.push(format!("counters[{i}].{field} = {v}: must be a number"));
                }
            }
        }
        out
    }

    /// The targets of the row `endpoint` in stage `stage` (0-based): the global ones, overridden
    /// by every `[[targets]]` entry that matches, in order.
    pub fn for_row(&self, stage: usize, endpoint: &str) -> RowTargets {
        let mut row =
            RowTargets { p95_ms: self.p95_ms, p99_ms: None, max_error_rate: self.max_error_rate, from: Vec::new() };
        for target in &self.targets {
            let stage_ok = target.stages.is_empty() || target.stages.contains(&(stage + 1));
            if !(stage_ok && glob(&target.endpoint, endpoint)) {
                continue;
            }
            row.p95_ms = target.p95_ms.unwrap_or(row.p95_ms);
            row.p99_ms = target.p99_ms.or(row.p99_ms);
            row.max_error_rate =
                target.max_error_rate.or(target.min_success_rate.map(|s| 1.0 - s)).unwrap_or(row.max_error_rate);
            row.from.push(target.endpoint.clone());
        }
        row
    }

    /// The load-degradation allowance of stage `index`.
    pub fn degradation_at(&self, index: usize) -> f64 {
        self.p95_degradation.get(index).or(self.p95_degradation.last()).copied().unwrap_or(0.5)
    }
}

/// What one row's regression checks are judged with.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Level of this row's latency check.
    pub latency: f64,
    /// Of its error-rate check (and, only once that rejects, of its failure-kind checks together).
    pub errors: f64,
}

impl Budget {
    /// The row's share of the comparison's `significance` when `rows` rows are compared.
    pub fn for_rows(significance: f64, rows: usize) -> Self {
        let row = significance / rows.max(1) as f64;
        Budget { latency: row / 2.0, errors: row / 2.0 }
    }
}

/// The error-rate check and the smallest rise it could flag.
fn error_rate(base: &EndpointMeasure, current: &EndpointMeasure, t: &Thresholds, alpha: f64) -> (Check, Option<f64>) {
    let (rb, rc) = (base.failure_rate(), current.failure_rate());
    let p = error_rate_increase(base.failures, base.requests, current.failures, current.requests);
    let material = rc - rb >= t.min_error_rate_increase;
    let verdict = if material && p < alpha { Verdict::Regression(Severity::Major) } else { Verdict::Pass };
    let detail = format!(
        "{:.2}% -> {:.2}% ({:+.2} points; counts {}/{} -> {}/{}, exact test mid-p = {p:.2e}, flagged below {alpha:.1e} when the rise is at least {:.2} points)",
        rb * 100.0,
        rc * 100.0,
        (rc - rb) * 100.0,
        base.failures,
        base.requests,
        current.failures,
        current.requests,
        t.min_error_rate_increase * 100.0
    );
    (Check::new(CheckKind::ErrorRate, detail, verdict), smallest_error_rise(base, current.requests, t, alpha))
}

/// The smallest error-rate rise a run of `n` requests would have had flagged against `base`.
fn smallest_error_rise(base: &EndpointMeasure, n: u64, t: &Thresholds, alpha: f64) -> Option<f64> {
    let rb = base.failure_rate();
    let flagged = |c: u64| {
        c as f64 / n as f64 - rb >= t.min_error_rate_increase
            && error_rate_increase(base.failures, base.requests, c, n) < alpha
    };
    if n == 0 || !flagged(n) {
        return None;
    }
    // The test's p-value falls as the count rises: bisect for the first flagged count.
    let (mut lo, mut hi) = (0u64, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if flagged(mid) { hi = mid } else { lo = mid }
    }
    Some(hi as f64 / n as f64 - rb)
}

/// Per failure kind, the same test as the error rate (minor), run once the error rate itself rose:
/// which kinds (new or not) rose beyond the material floor and chance.
fn failure_kinds(base: &EndpointMeasure, current: &EndpointMeasure, t: &Thresholds, alpha: f64) -> Option<Check> {
    let kinds: Vec<&String> = current.failure_kinds.keys().collect();
    if kinds.is_empty() {
        return None;
    }
    let alpha = alpha / kinds.len() as f64;
    let mut risen = Vec::new();
    for kind in kinds {
        let (b, c) = (base.failure_kinds.get(kind).copied().unwrap_or(0), current.failure_kinds[kind]);
        let (rb, rc) = (b as f64 / base.requests.max(1) as f64, c as f64 / current.requests.max(1) as f64);
        let p = error_rate_increase(b, base.requests, c, current.requests);
        if rc - rb >= t.min_error_rate_increase && p < alpha {
            let new = if b == 0 { " (new)" } else { "" };
            risen.push(format!("`{kind}`{new} {:.2}% -> {:.2}% (p = {p:.2e})", rb * 100.0, rc * 100.0));
        }
    }
    Some(if risen.is_empty() {
        Check::new(CheckKind::FailureKinds, "no kind rose beyond chance and the material floor", Verdict::Pass)
    } else {
        Check::new(
            CheckKind::FailureKinds,
            format!("risen: {}", risen.join(", ")),
            Verdict::Regression(Severity::Minor),
        )
    })
}

/// The latency check and the smallest p95 rise it could flag.
fn latency(base: &EndpointMeasure, current: &EndpointMeasure, t: &Thresholds, alpha: f64) -> (Check, Option<f64>) {
    let (Some(hb), Some(hc)) = (base.decoded(), current.decoded()) else {
        let detail = "no histogram on one side (e.g. a Locust baseline): the change cannot be tested";
        return (Check::new(CheckKind::LatencyP95, detail, Verdict::Inconclusive), None);
    };
    p95_rise(CheckKind::LatencyP95, "p95", (&hb, &hc), base.run_spread(), t, alpha)
}

/// Streams: the time-to-first-token check, when both sides measured it.
fn ttft(base: &EndpointMeasure, current: &EndpointMeasure, t: &Thresholds, alpha: f64) -> Option<Check> {
    let (hb, hc) = (base.ttft_decoded()?, current.ttft_decoded()?);
    if hb.is_empty() || hc.is_empty() {
        return None;
    }
    Some(p95_rise(CheckKind::TtftP95, "TTFT p95", (&hb, &hc), base.ttft_run_spread(), t, alpha).0)
}

/// The p95 of `now` against that of `was` under the regression rule (see the module docs), and the
/// smallest rise it could flag.
fn p95_rise(
    kind: CheckKind,
    what: &str,
    (hb, hc): (&Histogram<u64>, &Histogram<u64>),
    base_spread: Option<f64>,
    t: &Thresholds,
    alpha: f64,
) -> (Check, Option<f64>) {
    if hb.len() < t.min_samples || hc.len() < t.min_samples {
        let detail = format!(
            "{} / {} successful requests; at least {} each are needed to compare {what}",
            hb.len(),
            hc.len(),
            t.min_samples
        );
        return (Check::new(kind, detail, Verdict::Inconclusive), None);
    }
    let pb = hb.value_at_quantile(0.95) as f64 / 1000.0;
    let pc = hc.value_at_quantile(0.95) as f64 / 1000.0;
    let spread = base_spread.map_or(t.run_spread, |s| s.max(t.run_spread));
    let noise = (log_quantile_se(hb, 0.95).powi(2) + log_quantile_se(hc, 0.95).powi(2) + spread.powi(2)).sqrt();
    let z = z_for(alpha);
    let floor = (1.0 + t.min_latency_change_ms / pb.max(0.001)).ln();
    let threshold = (1.0 + t.p95_regression).ln().max(z * noise).max(floor);
    let observed = (pc.max(0.001) / pb.max(0.001)).ln();
    let change = pc / pb.max(0.001) - 1.0;
    let verdict = if observed > threshold {
        let major = change >= 2.0 * t.p95_regression;
        Verdict::Regression(if major { Severity::Major } else { Severity::Minor })
    } else if observed < -threshold {
        Verdict::Improvement
    } else {
        Verdict::Pass
    };
    let bound = threshold.exp() - 1.0;
    let which = if bound <= t.p95_regression + 1e-9 {
        "the allowance".to_owned()
    } else if threshold <= floor + 1e-9 {
        format!("the {:.0} ms material floor", t.min_latency_change_ms)
    } else {
        format!("the noise (run-to-run spread {spread:.2}, z {z:.2})")
    };
    let detail = format!(
        "{what} {pb:.1} -> {pc:.1} ms ({:+.0}%); flagged above +{:.0}%, set by {which}",
        change * 100.0,
        bound * 100.0
    );
    (Check::new(kind, detail, verdict), Some(bound))
}

fn throughput(base: &EndpointMeasure, current: &EndpointMeasure, t: &Thresholds, open_model: bool) -> Option<Check> {
    if base.requests_per_second <= 0.0 {
        return None;
    }
    let drop = 1.0 - current.requests_per_second / base.requests_per_second;
    let dropped = open_model && drop > t.throughput_drop;
    let note = if open_model { "" } else { " (closed-model run: informational)" };
    let detail = format!(
        "{:.1} -> {:.1} requests/s ({:+.0}%){note}",
        base.requests_per_second,
        current.requests_per_second,
        -drop * 100.0
    );
    Some(Check::new(
        CheckKind::Throughput,
        detail,
        if dropped { Verdict::Regression(Severity::Minor) } else { Verdict::Pass },
    ))
}

/// The regression checks of one row against its baseline measure, and what they could detect.
pub fn regression(
    base: &EndpointMeasure,
    current: &EndpointMeasure,
    t: &Thresholds,
    budget: Budget,
    open_model: bool,
) -> (Vec<Check>, Detectable) {
    if base.requests < t.min_samples || current.requests < t.min_samples {
        let detail = format!(
            "baseline {} / current {} requests; at least {} each are needed, so this comparison could detect nothing",
            base.requests, current.requests, t.min_samples
        );
        return (vec![Check::new(CheckKind::EnoughSamples, detail, Verdict::Inconclusive)], Detectable::default());
    }
    let mut checks = Vec::new();
    let (errors, error_rise) = error_rate(base, current, t, budget.errors);
    let rose = errors.verdict.fails();
    checks.push(errors);
    if rose {
        checks.extend(failure_kinds(base, current, t, budget.errors));
    }
    let p95_rise = if current.successes() == 0 {
        None
    } else {
        // A stream's TTFT is a second latency test of the row: the row's latency level is shared.
        let streamed = base.ttft_histogram.is_some() && current.ttft_histogram.is_some();
        let level = if streamed { budget.latency / 2.0 } else { budget.latency };
        let (check, rise) = latency(base, current, t, level);
        checks.push(check);
        checks.extend(ttft(base, current, t, level));
        rise
    };
    checks.extend(throughput(base, current, t, open_model));
    (checks, Detectable { p95_rise, error_rate_rise: error_rise })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_targets_override_earlier_ones_value_by_value() {
        let t = Thresholds {
            targets: vec![
                EndpointTarget { endpoint: "POST *".into(), p95_ms: Some(3000.0), ..EndpointTarget::default() },
                EndpointTarget {
                    endpoint: "POST /v1/query".into(),
                    stages: vec![3],
                    min_success_rate: Some(0.95),
                    ..EndpointTarget::default()
                },
            ],
            ..Thresholds::default()
        };
        let early = t.for_row(0, "POST /v1/query");
        assert_eq!((early.p95_ms, early.max_error_rate), (3000.0, 0.01));
        let late = t.for_row(2, "POST /v1/query");
        assert!((late.max_error_rate - 0.05).abs() < 1e-12 && late.p95_ms == 3000.0);
        assert_eq!(late.from, ["POST *", "POST /v1/query"]);
        assert_eq!(t.for_row(0, "GET /health").from, Vec::<String>::new());
    }
}
