//! Targets: absolute SLOs (p95 under `p95_ms`, error rate under `max_error_rate`, both and a p99
//! settable per endpoint and stage through `[[targets]]`) and the
//! load-degradation allowance (p95 at each load level within its allowance over the unloaded p95).
//! Each is judged with a confidence bound: **met** when the bound shows it, **missed** when the
//! bound shows that (a failed pipeline, but not a "regression": nothing is compared with a
//! baseline), **not demonstrable** otherwise: a pass when the estimate is within the target, and
//! inconclusive when only the estimate is over it.

use super::compare::{RowTargets, Thresholds};
use super::model::{Check, CheckKind, Severity, TargetStatus, Verdict};
use super::tests_stat::{quantile_interval, wilson};
use crate::formats::baseline::EndpointMeasure;

/// The verdict of a target given its status and whether the estimate is within it.
fn verdict_of(status: TargetStatus, estimate_within: bool) -> Verdict {
    match status {
        TargetStatus::Met => Verdict::Pass,
        TargetStatus::Missed => Verdict::TargetMissed,
        TargetStatus::NotDemonstrable if estimate_within => Verdict::Pass,
        TargetStatus::NotDemonstrable => Verdict::Inconclusive,
    }
}

fn status(lower: f64, upper: f64, target: f64) -> TargetStatus {
    if upper < target {
        TargetStatus::Met
    } else if lower >= target {
        TargetStatus::Missed
    } else {
        TargetStatus::NotDemonstrable
    }
}

fn describe(status: TargetStatus) -> &'static str {
    match status {
        TargetStatus::Met => "met",
        TargetStatus::Missed => "missed",
        TargetStatus::NotDemonstrable => "not demonstrable",
    }
}

/// Where a row's targets came from, for the check's detail.
fn source(t: &RowTargets) -> String {
    if t.from.is_empty() { String::new() } else { format!(" (set by [[targets]] `{}`)", t.from.join("`, `")) }
}

/// The p95 target, on successful requests; `None` when nothing succeeded (the failure checks
/// speak for that endpoint).
pub fn p95(current: &EndpointMeasure, t: &RowTargets, z: f64) -> Option<Check> {
    quantile_target(current, 0.95, t.p95_ms, t, z)
}

/// The p99 target, when one was set for the row.
pub fn p99(current: &EndpointMeasure, t: &RowTargets, z: f64) -> Option<Check> {
    quantile_target(current, 0.99, t.p99_ms?, t, z)
}

fn quantile_target(current: &EndpointMeasure, q: f64, target: f64, t: &RowTargets, z: f64) -> Option<Check> {
    let name = if q >= 0.99 { "p99" } else { "p95" };
    let (estimate, lower, upper) = match current.decoded() {
        Some(h) if !h.is_empty() => {
            let (lo, hi) = quantile_interval(&h, q, z)?;
            (h.value_at_quantile(q) as f64 / 1000.0, lo, hi)
        }
        Some(_) => return None,
        // A Locust CSV: its rounded percentile is all there is.
        None => {
            let p = current.percentile(name, q)?;
            (p, p, p)
        }
    };
    let s = status(lower, upper, target);
    let detail = format!(
        "{name} {estimate:.1} ms, interval [{lower:.1}, {upper:.1}] ms, target < {target:.0} ms{}: {}",
        source(t),
        describe(s)
    );
    let kind = if q >= 0.99 { CheckKind::TargetP99 } else { CheckKind::TargetP95 };
    Some(Check::target(kind, detail, verdict_of(s, estimate < target), s))
}

/// The error-rate target.
pub fn error_rate(current: &EndpointMeasure, t: &RowTargets, z: f64) -> Option<Check> {
    if current.requests == 0 {
        return None;
    }
    let rate = current.failure_rate();
    let (lower, upper) = wilson(current.failures, current.requests, z);
    let s = status(lower, upper, t.max_error_rate);
    let detail = format!(
        "{:.2}% of {} ({} failed), interval [{:.2}%, {:.2}%], target < {:.2}% (success > {:.2}%){}: {}",
        rate * 100.0,
        current.requests,
        current.failures,
        lower * 100.0,
        upper * 100.0,
        t.max_error_rate * 100.0,
        (1.0 - t.max_error_rate) * 100.0,
        source(t),
        describe(s)
    );
    Some(Check::target(CheckKind::TargetErrorRate, detail, verdict_of(s, rate < t.max_error_rate), s))
}

/// Load degradation of stage `stage` against the unloaded p95 of the same endpoint.
pub fn load_degradation(
    stage: usize,
    current: &EndpointMeasure,
    unloaded: &EndpointMeasure,
    t: &Thresholds,
    z: f64,
) -> Option<Check> {
    let reference = unloaded.percentile("p95", 0.95)?;
    let h = current.decoded().filter(|h| !h.is_empty())?;
    let (lower, upper) = quantile_interval(&h, 0.95, z)?;
    let estimate = h.value_at_quantile(0.95) as f64 / 1000.0;
    let allowed = t.degradation_at(stage);
    let limit = reference * (1.0 + allowed);
    let s = status(lower, upper, limit);
    let detail = format!(
        "p95 {estimate:.1} ms (interval [{lower:.1}, {upper:.1}]) at level {} vs unloaded {reference:.1} ms: allowed +{:.0}% (< {limit:.1} ms): {}",
        stage + 1,
        allowed * 100.0,
        describe(s)
    );
    Some(Check::target(CheckKind::LoadDegradation, detail, verdict_of(s, estimate < limit), s))
}

/// Whether (nearly) every request failed: critical whatever else holds. 100% failing always is;
/// a rate at the critical limit is when the Wilson lower bound reaches it.
pub fn not_broken(current: &EndpointMeasure, t: &Thresholds, z: f64) -> Check {
    let rate = current.failure_rate();
    let (lower, _) = wilson(current.failures, current.requests, z);
    let broken = current.requests > 0 && (current.failures == current.requests || lower >= t.critical_error_rate);
    let detail = format!(
        "{:.1}% of {} requests failed (critical at {:.0}% or when all fail)",
        rate * 100.0,
        current.requests,
        t.critical_error_rate * 100.0
    );
    Check::new(
        CheckKind::NotBroken,
        detail,
        if broken { Verdict::Regression(Severity::Critical) } else { Verdict::Pass },
    )
}
