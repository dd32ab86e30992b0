//! Diagnosis: what the numbers say happened, in words a report reader can act on. Failures grouped
//! by kind; for `model_not_found` the model asked for and the models served; and patterns across
//! stages: errors growing with users, a latency knee, the level where timeouts appear.

use super::compare::EndpointVerdict;

fn model_diagnosis(message: &str) -> Option<String> {
    let asked = message.split('`').nth(1)?;
    let served = message.split("serves: ").nth(1).map(|s| s.trim_end_matches('.').to_owned());
    Some(match served {
        Some(served) => {
            format!("requests asked for model `{asked}`, which the gateway does not serve (it serves: {served})")
        }
        None => format!("requests asked for model `{asked}`, which the gateway does not serve"),
    })
}

/// Lines of diagnosis for a compared (or single) run.
pub fn diagnose(endpoints: &[EndpointVerdict]) -> Vec<String> {
    let mut lines = Vec::new();
    for e in endpoints {
        for (kind, count) in &e.failure_kinds {
            let message = e.failure_messages.get(kind).cloned().unwrap_or_default();
            lines.push(format!("{} (stage {}): {count} x `{kind}`: {message}", e.endpoint, e.stage + 1));
            if kind == "model_not_found"
                && let Some(model) = model_diagnosis(&message)
            {
                lines.push(format!("{}: {model}. Fix the model name in the load test (or serve it); this is not an infrastructure slowdown.", e.endpoint));
            }
        }
    }
    let mut names: Vec<&str> = endpoints.iter().map(|e| e.endpoint.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut stages: Vec<&EndpointVerdict> = endpoints.iter().filter(|e| e.endpoint == name).collect();
        stages.sort_by_key(|e| e.stage);
        if stages.len() < 2 {
            continue;
        }
        let rates: Vec<f64> = stages.iter().map(|e| e.current.error_rate).collect();
        if rates.windows(2).all(|w| w[1] >= w[0])
            && rates.last() > rates.first()
            && rates.last().is_some_and(|r| *r > 0.0)
        {
            let shown: Vec<String> = rates.iter().map(|r| format!("{:.1}%", r * 100.0)).collect();
            lines.push(format!("{name}: errors grow with users across stages ({})", shown.join(" -> ")));
        }
        for w in stages.windows(2) {
            if let (Some(a), Some(b)) = (w[0].current.p95_ms, w[1].current.p95_ms)
                && a > 0.0
                && b > 2.0 * a
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

/// The informational score our users' reports used (never the verdict): p95 40 points, error
/// rate 30, throughput 20, p99/p95 consistency 10.
pub fn score(endpoints: &[EndpointVerdict]) -> (f64, &'static str) {
    if endpoints.is_empty() {
        return (0.0, "Critical");
    }
    let mut total = 0.0;
    for e in endpoints {
        let c = &e.current;
        let p95 = c.p95_ms.unwrap_or(f64::INFINITY);
        let latency = 40.0 * (1.0 - ((p95 - 500.0) / 1500.0).clamp(0.0, 1.0));
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
        total += latency + errors + throughput + consistency;
    }
    let score = total / endpoints.len() as f64;
    let grade = match score {
        s if s >= 90.0 => "Excellent",
        s if s >= 75.0 => "Good",
        s if s >= 60.0 => "Acceptable",
        s if s >= 40.0 => "Poor",
        _ => "Critical",
    };
    (score, grade)
}
