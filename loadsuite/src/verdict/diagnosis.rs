//! Diagnosis: what the numbers say happened, in words a report reader can act on. Failures by
//! stage and kind; for `model_not_found` the model asked for and the models served, and whether the
//! gateway stopped serving a model the baseline used; patterns across stages (errors growing with
//! users, a material latency knee, the level where timeouts appear). And the informational score,
//! which never reads well when the verdict does not.

use super::compare::Thresholds;
use super::model::{EndpointVerdict, Severity, TargetStatus, Verdict};

fn model_diagnosis(message: &str) -> Option<(String, Option<String>)> {
    let asked = message.split('`').nth(1)?;
    let served = message.split("serves: ").nth(1).map(|s| s.trim_end_matches('.').to_owned());
    Some((asked.to_owned(), served))
}

fn model_lines(e: &EndpointVerdict, message: &str) -> Option<String> {
    let (asked, served) = model_diagnosis(message)?;
    let serves = served.map(|s| format!(" (it serves: {s})")).unwrap_or_default();
    let baseline_used_it = e.baseline.as_ref().is_some_and(|b| b.requests > 0 && b.error_rate < 1.0)
        && !e.baseline_failure_kinds.contains_key("model_not_found");
    Some(if baseline_used_it {
        format!(
            "{}: the gateway stopped serving model `{asked}`{serves}: the baseline's requests to this endpoint succeeded. Check the gateway's deployment or routing; the load test did not change.",
            e.endpoint
        )
    } else {
        format!(
            "{}: requests asked for model `{asked}`, which the gateway does not serve{serves}. Fix the model name in the load test (or serve it); this is not an infrastructure slowdown.",
            e.endpoint
        )
    })
}

/// A composite row's latency regression explained by its steps: for a task made of steps (an agent
/// turn, whose step rows share its method), the step whose p95 rose most in the same stage. `None`
/// when no step rose.
fn step_explanation(turn: &EndpointVerdict, endpoints: &[EndpointVerdict]) -> Option<String> {
    let (method, name) = turn.endpoint.split_once(' ')?;
    if method != "AGENT" || crate::tasks::is_agent_step(name) {
        return None;
    }
    let rise = |e: &EndpointVerdict| Some((e.baseline.as_ref()?.p95_ms?, e.current.p95_ms?));
    let (turn_before, turn_now) = rise(turn)?;
    let (step, (before, now)) = endpoints
        .iter()
        .filter(|e| e.stage == turn.stage)
        .filter_map(|e| Some((e.endpoint.strip_prefix("AGENT ")?, e)))
        .filter(|(step, _)| crate::tasks::is_agent_step(step))
        .filter_map(|(step, e)| Some((step, rise(e)?)))
        .max_by(|a, b| (a.1.1 - a.1.0).total_cmp(&(b.1.1 - b.1.0)))?;
    (now > before).then(|| {
        format!(
            "{} (stage {}): p95 {:+.0}% ({turn_before:.0} -> {turn_now:.0} ms): the step `{step}` went from {before:.0} to {now:.0} ms (p95), the largest rise of its steps",
            turn.endpoint,
            turn.stage + 1,
            (turn_now / turn_before.max(1e-9) - 1.0) * 100.0
        )
    })
}

/// Each endpoint measured in two stages or more, with its rows in stage order: what patterns
/// across stages are read from.
fn measured_stages(endpoints: &[EndpointVerdict]) -> Vec<(&str, Vec<&EndpointVerdict>)> {
    let mut names: Vec<&str> = endpoints.iter().map(|e| e.endpoint.as_str()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let mut stages: Vec<&EndpointVerdict> =
                endpoints.iter().filter(|e| e.endpoint == name && e.current.requests > 0).collect();
            stages.sort_by_key(|e| e.stage);
            (name, stages)
        })
        .filter(|(_, stages)| stages.len() >= 2)
        .collect()
}

/// Lines of diagnosis for a compared (or single) run.
pub fn diagnose(endpoints: &[EndpointVerdict], t: &Thresholds) -> Vec<String> {
    let mut lines = Vec::new();
    let mut models_said = std::collections::BTreeSet::new();
    for e in endpoints {
        for (kind, count) in &e.failure_kinds {
            let message = e.failure_messages.get(kind).cloned().unwrap_or_default();
            lines.push(format!("{} (stage {}): {count} x `{kind}`: {message}", e.endpoint, e.stage + 1));
            if kind == "model_not_found"
                && models_said.insert(e.endpoint.clone())
                && let Some(line) = model_lines(e, &message)
            {
                lines.push(line);
            }
        }
    }
    for e in endpoints {
        let slower = e.checks.iter().any(|c| c.kind == super::model::CheckKind::LatencyP95 && c.verdict.fails());
        if slower && let Some(line) = step_explanation(e, endpoints) {
            lines.push(line);
        }
    }
    for (name, stages) in measured_stages(endpoints) {
        let rates: Vec<f64> = stages.iter().map(|e| e.current.error_rate).collect();
        let (first, last) = (rates[0], rates[rates.len() - 1]);
        if rates.windows(2).all(|w| w[1] >= w[0]) && last - first >= t.min_error_rate_increase {
            let shown: Vec<String> = rates.iter().map(|r| format!("{:.1}%", r * 100.0)).collect();
            lines.push(format!("{name}: errors grow with users across stages ({})", shown.join(" -> ")));
        }
        let enough =
            |e: &EndpointVerdict| e.current.requests as f64 * (1.0 - e.current.error_rate) >= t.min_samples as f64;
        for w in stages.windows(2) {
            if let (Some(a), Some(b)) = (w[0].current.p95_ms, w[1].current.p95_ms)
                && enough(w[0])
                && enough(w[1])
                && a > 0.0
                && b >= 2.0 * a
                && b - a >= t.min_latency_change_ms
            {
                lines.push(format!("{name}: latency knee at stage {}: p95 {a:.0} -> {b:.0} ms", w[1].stage + 1));
                break;
            }
        }
        if let Some(first) = stages.iter().find(|e| e.failure_kinds.contains_key("timeout")) {
            lines.push(format!("{name}: timeouts appear at stage {}", first.stage + 1));
        }
    }
    lines
}

/// Failure kinds that mean a resource ran out, and what running out of it means.
const EXHAUSTION: &[(&str, &str)] = &[
    ("server_busy", "the service runs out of concurrency slots"),
    ("rate_limit_exceeded", "a rate limit is reached"),
    ("http_429", "a rate limit is reached"),
    ("connect_refused", "the service stops accepting connections (accept queue or connection cap full)"),
    ("connection_reset", "connections are dropped under load"),
    ("http_503", "the service sheds load"),
    ("timeout", "requests queue beyond the timeout"),
];

/// Resource exhaustion where it shows: exhaustion failures growing with users (stage by stage), a
/// watched container or process at its CPU limit, the generator at its own.
pub fn bottlenecks(endpoints: &[EndpointVerdict], run: &super::measures::RunMeasures) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, stages) in measured_stages(endpoints) {
        for (kind, meaning) in EXHAUSTION {
            let counts: Vec<u64> = stages.iter().map(|e| e.failure_kinds.get(*kind).copied().unwrap_or(0)).collect();
            let (first, last) = (counts[0], counts[counts.len() - 1]);
            if counts.windows(2).all(|w| w[1] >= w[0]) && last > first && last >= 5 {
                let shown: Vec<String> =
                    stages.iter().zip(&counts).map(|(e, n)| format!("stage {}: {n}", e.stage + 1)).collect();
                lines.push(format!("{name}: `{kind}` grows with users ({}): {meaning}", shown.join(", ")));
            }
        }
    }
    for r in &run.resources {
        if let Some(limit) = r.cpu_limit_cores.filter(|l| *l > 0.0 && r.cpu_max_cores >= 0.9 * l) {
            lines.push(format!(
                "{} `{}` reached its CPU limit ({:.2} of {limit:.2} cores, mean {:.2}): it is CPU-bound at this load",
                r.kind, r.name, r.cpu_max_cores, r.cpu_mean_cores
            ));
        }
    }
    if run.generator_saturated_s > 0 {
        lines.push(format!(
            "the load generator was at its CPU limit for {} s: latencies include its own queueing there, a bottleneck of the test, not of the service",
            run.generator_saturated_s
        ));
    }
    lines
}

/// The informational score our users' reports used (never the verdict): per endpoint p95 of
/// successful requests 40 points, error rate 30, throughput 20, p99/p95 consistency 10, weighted by
/// requests. It is capped so it never reads well when the verdict does not: a 100%-failing
/// endpoint or a missed error target gives the bottom grade, a failing verdict at most "Poor", an
/// inconclusive one no grade.
pub fn score(endpoints: &[EndpointVerdict], overall: Verdict) -> (f64, &'static str) {
    let weight: u64 = endpoints.iter().map(|e| e.current.requests).sum();
    if weight == 0 {
        return (0.0, "Critical");
    }
    let mut total = 0.0;
    for e in endpoints {
        let c = &e.current;
        let latency = c.p95_ms.map_or(0.0, |p95| 40.0 * (1.0 - ((p95 - 500.0) / 1500.0).clamp(0.0, 1.0)));
        let errors = 30.0 * (1.0 - (c.error_rate / 0.05).clamp(0.0, 1.0));
        let throughput = match &e.baseline {
            Some(b) if b.requests_per_second > 0.0 => {
                20.0 * (c.requests_per_second / b.requests_per_second).clamp(0.0, 1.0)
            }
            _ => 20.0,
        };
        let consistency = match (c.p95_ms, c.p99_ms) {
            (Some(p95), Some(p99)) if p95 > 0.0 => 10.0 * (1.0 - ((p99 / p95 - 1.5) / 1.5).clamp(0.0, 1.0)),
            _ => 0.0,
        };
        total += (latency + errors + throughput + consistency) * c.requests as f64;
    }
    let mut score = total / weight as f64;
    let broken = endpoints.iter().any(|e| {
        e.checks.iter().any(|c| c.verdict == Verdict::Regression(Severity::Critical))
            || e.checks
                .iter()
                .any(|c| c.kind == super::model::CheckKind::TargetErrorRate && c.target == Some(TargetStatus::Missed))
    });
    if broken {
        score = score.min(39.0);
    } else if overall.fails() {
        score = score.min(59.0);
    }
    let grade = match score {
        _ if broken => "Critical",
        _ if overall == Verdict::Inconclusive => "not graded (inconclusive)",
        s if s >= 90.0 => "Excellent",
        s if s >= 75.0 => "Good",
        s if s >= 60.0 => "Acceptable",
        s if s >= 40.0 => "Poor",
        _ => "Critical",
    };
    (score, grade)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceSeries;

    fn series(kind: &str, max: f64, limit: f64) -> ResourceSeries {
        ResourceSeries {
            name: "gateway".into(),
            kind: kind.into(),
            id: "aistack-gateway-1".into(),
            cpu_mean_cores: max * 0.8,
            cpu_max_cores: max,
            cpu_limit_cores: Some(limit),
            memory_start_bytes: 0,
            memory_peak_bytes: 0,
            memory_end_bytes: 0,
            leak: None,
            growth_with_writes: None,
            note: None,
            samples: Vec::new(),
        }
    }

    #[test]
    fn a_container_at_its_cpu_limit_and_a_saturated_generator_are_named() {
        let run = super::super::measures::RunMeasures {
            resources: vec![series("container", 0.98, 1.0), series("process", 0.5, 2.0)],
            generator_saturated_s: 4,
            ..Default::default()
        };
        let lines = bottlenecks(&[], &run);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("container `gateway` reached its CPU limit (0.98 of 1.00 cores"), "{lines:?}");
        assert!(lines[1].contains("load generator was at its CPU limit for 4 s"), "{lines:?}");
    }
}
