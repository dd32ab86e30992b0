//! Completeness: nothing that did not run may pass. The run as a whole (interrupted, a user class
//! without users, the arrival schedule not kept, nothing measured), each stage's load against the
//! baseline's (a different load is not comparable), and every baselined endpoint or stage that
//! this run did not measure.

use std::collections::BTreeMap;

use super::compare::Thresholds;
use super::measures::RunMeasures;
use super::model::{Check, CheckKind, Detectable, EndpointVerdict, Numbers, Severity, TargetStatus, Verdict};
use crate::engine::WarningKind;
use crate::formats::baseline::{EndpointMeasure, ScenarioBaseline};
use crate::plan::Plan;

/// The `[[counters]]` expectations against what the targets counted: missed when the change is
/// outside the bounds; not demonstrable when the target exposed no counters (or, from Prometheus,
/// not this one). A mock's event that never happened is absent from its counters: 0.
fn counter_checks(run: &RunMeasures, t: &Thresholds) -> Vec<Check> {
    t.counters
        .iter()
        .map(|c| {
            let bounds = match (c.min, c.max) {
                (Some(min), Some(max)) => format!("between {min} and {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => "anything".to_owned(),
            };
            let mut check = match run.target_counters.get(&c.target) {
                None => Check::new(
                    CheckKind::TargetCounter,
                    format!(
                        "`{}` on {}: the target exposed no counters (/__admin/counters or /metrics), so {bounds} cannot be shown",
                        c.counter, c.target
                    ),
                    Verdict::Inconclusive,
                ),
                Some(counters) => match counters.delta.get(&c.counter).copied().or((counters.source == "admin").then_some(0.0)) {
                    None => Check::new(
                        CheckKind::TargetCounter,
                        format!("`{}` on {}: not among the target's metrics, so {bounds} cannot be shown", c.counter, c.target),
                        Verdict::Inconclusive,
                    ),
                    Some(change) => {
                        let ok = c.min.is_none_or(|min| change >= min) && c.max.is_none_or(|max| change <= max);
                        Check::new(
                            CheckKind::TargetCounter,
                            format!("`{}` on {} changed by {change} during the run (expected {bounds})", c.counter, c.target),
                            if ok { Verdict::Pass } else { Verdict::TargetMissed },
                        )
                    }
                },
            };
            check.target = Some(match check.verdict {
                Verdict::Pass => TargetStatus::Met,
                Verdict::TargetMissed => TargetStatus::Missed,
                _ => TargetStatus::NotDemonstrable,
            });
            check
        })
        .collect()
}

/// Checks of the run as a whole (the targets' counter expectations first).
pub fn run_checks(run: &RunMeasures, t: &Thresholds) -> Vec<Check> {
    let mut checks = counter_checks(run, t);
    let requests: u64 = run.stages.values().flat_map(|s| s.values()).map(|m| m.requests).sum();
    if requests == 0 {
        checks.push(Check::new(
            CheckKind::RunCompleted,
            "the run has no requests: nothing was measured",
            Verdict::Inconclusive,
        ));
    }
    if run.interrupted {
        let why = run
            .warnings
            .iter()
            .find(|w| w.kind == WarningKind::Interrupted)
            .map_or("the run was stopped before its plan's end".to_owned(), |w| w.message.clone());
        checks.push(Check::new(CheckKind::RunCompleted, why, Verdict::Inconclusive));
    } else if requests > 0 {
        checks.push(Check::new(CheckKind::RunCompleted, "ran its whole plan", Verdict::Pass));
    }
    let idle: Vec<&str> =
        run.warnings.iter().filter(|w| w.kind == WarningKind::ClassWithoutUsers).map(|w| w.message.as_str()).collect();
    if !idle.is_empty() {
        checks.push(Check::new(CheckKind::ClassesRan, idle.join("; "), Verdict::Inconclusive));
    }
    let s = run.schedule;
    if s.scheduled > 0 {
        let missed = s.missed_fraction();
        let kept = missed <= t.max_missed_iterations;
        let meaning = match (s.dropped + s.late, kept) {
            (0, _) => "the offered load was delivered",
            (_, true) => "within the allowance",
            (_, false) => "the offered load was not delivered",
        };
        let detail = format!(
            "{} of {} scheduled iterations dropped (max in flight reached), {} started late: {:.1}% missed (at most {:.1}% allowed); {meaning}",
            s.dropped,
            s.scheduled,
            s.late,
            missed * 100.0,
            t.max_missed_iterations * 100.0
        );
        let verdict = if kept { Verdict::Pass } else { Verdict::Regression(Severity::Major) };
        checks.push(Check::new(CheckKind::ScheduleKept, detail, verdict));
    }
    checks
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// The protocols of a run in words, from the targets it spoke HTTP/2 to: a run over HTTP/2
/// multiplexes every user on one connection, so its latencies are not those of HTTP/1.1.
pub(crate) fn protocols(http2: &[String]) -> String {
    if http2.is_empty() {
        "HTTP/1.1 to every target".into()
    } else {
        let named: Vec<String> = sorted(http2).iter().map(|n| format!("`{n}`")).collect();
        format!("HTTP/2 to {}", named.join(", "))
    }
}

/// The load of one stage of a plan, in words and as a number to compare.
fn load_of(plan: &Plan, stage: usize) -> Option<(f64, String)> {
    match plan {
        Plan::Closed { stages } => stages.get(stage).map(|s| (f64::from(s.users), format!("{} users", s.users))),
        Plan::Open { stages, .. } => stages.get(stage).map(|s| (s.rate, format!("{} iterations/s", s.rate))),
    }
}

/// Whether stage `stage` of the run can be compared with the baseline's: `Err` with the reason when
/// its load differs, or when the run did not reach the stage's load.
pub fn comparable(base: &ScenarioBaseline, run: &RunMeasures, stage: usize) -> Result<(), String> {
    if let Some(w) =
        run.warnings.iter().find(|w| w.kind == WarningKind::StageTargetNotReached && w.stage == Some(stage))
    {
        return Err(format!("not comparable: {}", w.message));
    }
    let (Some(bp), Some(rp)) = (&base.plan, &run.plan) else { return Ok(()) };
    if sorted(&base.http2) != sorted(&run.http2) {
        return Err(format!(
            "not comparable: the baseline spoke {} and this run {}",
            protocols(&base.http2),
            protocols(&run.http2)
        ));
    }
    if std::mem::discriminant(bp) != std::mem::discriminant(rp) {
        return Err("not comparable: the baseline ran a closed plan and this run an open one (or the reverse)".into());
    }
    match (load_of(bp, stage), load_of(rp, stage)) {
        (Some((b, bw)), Some((r, rw))) if (b - r).abs() > 0.01 * b.max(r) => {
            Err(format!("not comparable: the baseline's stage {} ran {bw}, this run {rw}", stage + 1))
        }
        (None, Some(_)) => Err(format!("not comparable: the baseline's plan has no stage {}", stage + 1)),
        _ => Ok(()),
    }
}

/// The false-alarm level at which a missing endpoint counts as a regression: the chance that an
/// endpoint with the baseline's share of its stage drew no request at all in this run's stage.
fn absence_is_chance(base_share: f64, run_stage_requests: u64) -> f64 {
    (-base_share * run_stage_requests as f64).exp()
}

/// Rows for what the baseline measured and this run did not: a whole stage that did not run, or an
/// endpoint absent from a stage that did (a regression unless the baseline saw it too rarely for
/// its absence to mean anything). A stage this run's plan does not have, or a plan of another
/// model, is not comparable rather than missing.
pub fn missing(base: &ScenarioBaseline, run: &RunMeasures, alpha: f64) -> Vec<EndpointVerdict> {
    let mut rows = Vec::new();
    let planned = |stage: usize| match (&run.plan, &base.plan) {
        (Some(rp), Some(bp)) if std::mem::discriminant(rp) != std::mem::discriminant(bp) => false,
        (Some(rp), _) => stage < rp.stage_count(),
        (None, _) => true,
    };
    for (stage, endpoints) in &base.stages {
        let run_stage = run.stages.get(stage);
        let run_requests: u64 = run_stage.map_or(0, |s| s.values().map(|m| m.requests).sum());
        let base_requests: u64 = endpoints.values().map(|m| m.requests).sum();
        for (key, measure) in endpoints.iter().filter(|(_, m)| m.requests > 0) {
            if run_stage.and_then(|s| s.get(key)).is_some_and(|m| m.requests > 0) {
                continue;
            }
            let (kind, detail, verdict) = if !planned(*stage) {
                (
                    CheckKind::Comparable,
                    format!("not comparable: this run's plan has no stage {} like the baseline's", stage + 1),
                    Verdict::Inconclusive,
                )
            } else if run_requests == 0 {
                (
                    CheckKind::Present,
                    format!(
                        "stage {} did not run (the baseline measured {} requests of `{key}` in it)",
                        stage + 1,
                        measure.requests
                    ),
                    Verdict::Regression(Severity::Major),
                )
            } else {
                let share = measure.requests as f64 / base_requests.max(1) as f64;
                let chance = absence_is_chance(share, run_requests);
                let detail = format!(
                    "no requests in this run; the baseline had {} ({:.1}% of its stage), so {} of this stage's {run_requests} requests were expected (absence by chance: p = {chance:.1e})",
                    measure.requests,
                    share * 100.0,
                    (share * run_requests as f64).round()
                );
                let verdict = if chance < alpha { Verdict::Regression(Severity::Major) } else { Verdict::Inconclusive };
                (CheckKind::Present, detail, verdict)
            };
            rows.push(missing_row(*stage, key, measure, Check::new(kind, detail, verdict)));
        }
    }
    rows
}

fn missing_row(stage: usize, key: &str, base: &EndpointMeasure, check: Check) -> EndpointVerdict {
    EndpointVerdict {
        stage,
        endpoint: key.to_owned(),
        verdict: check.verdict,
        checks: vec![check],
        baseline: Some(super::numbers(base)),
        current: Numbers::default(),
        detectable: Detectable::default(),
        failure_kinds: BTreeMap::new(),
        failure_messages: BTreeMap::new(),
        baseline_failure_kinds: base.failure_kinds.clone(),
    }
}
