//! Verdict reports: `verdict.json` (versioned), `summary.md` (GitHub-flavoured, fits a CI job
//! summary) and `junit.xml` (one test case per check), each written against `impl Write`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::compare::Thresholds;
use super::model::{Check, EndpointVerdict, Verdict};

/// Format identifier of `verdict.json`.
pub const FORMAT: &str = "loadsuite-verdict";
/// Current version. 2: `target_missed` verdicts, check kinds, run checks, what each row could
/// detect.
pub const VERSION: u32 = 2;

/// The whole judgement, as `verdict.json` holds it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: &'static str,
    /// [`VERSION`].
    pub version: u32,
    /// Scenario name.
    pub scenario: String,
    /// The baseline file (absent for a single-run report).
    pub baseline: Option<String>,
    /// How many runs the baseline's scenario was made from.
    pub baseline_runs: Option<u32>,
    /// The judged run.
    pub run: String,
    /// Overall verdict.
    pub overall: Verdict,
    /// Checks of the run as a whole (completed, classes ran, arrival schedule kept).
    pub run_checks: Vec<Check>,
    /// Per stage and endpoint.
    pub endpoints: Vec<EndpointVerdict>,
    /// Diagnosis lines.
    pub diagnosis: Vec<String>,
    /// What to look at next, one line per kind of finding.
    pub recommendations: Vec<String>,
    /// The run's streamed rows: TTFT, inter-token latency, tokens/s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<super::measures::StreamFigures>,
    /// What the targets counted themselves over the run.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target_counters: BTreeMap<String, crate::counters::TargetCounters>,
    /// Informational score 0-100 (never the verdict).
    pub score: f64,
    /// Its grade.
    pub grade: &'static str,
    /// Thresholds used.
    pub thresholds: Thresholds,
    /// CPU and memory of the watched containers and processes during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<crate::resources::ResourceSeries>,
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// The counters worth a report line: the mocks' totals (injected faults apart from genuine
/// errors), events and rules that changed; from Prometheus the first 20 metrics that changed.
pub fn notable_counters(counters: &crate::counters::TargetCounters) -> Vec<(&str, f64)> {
    let totals = ["total_requests", "injected_faults", "genuine_errors", "client_aborts"];
    let mut out: Vec<(&str, f64)> = Vec::new();
    if counters.source == "admin" {
        out.extend(totals.iter().filter_map(|k| counters.delta.get(*k).map(|v| (*k, *v))));
        out.extend(
            counters
                .delta
                .iter()
                .filter(|(k, v)| {
                    **v != 0.0
                        && (k.starts_with("faults.") || (k.starts_with("events.") && k.matches('.').count() == 1))
                })
                .map(|(k, v)| (k.as_str(), *v)),
        );
    } else {
        out.extend(counters.delta.iter().filter(|(_, v)| **v != 0.0).take(20).map(|(k, v)| (k.as_str(), *v)));
    }
    out
}

/// `summary.md`.
pub fn write_markdown(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(out, "# Load test verdict: {} — **{}**\n", r.scenario, r.overall.label())?;
    match (&r.baseline, r.baseline_runs) {
        (Some(b), Some(n)) => writeln!(out, "Run `{}` against baseline `{b}` ({n} runs).\n", r.run)?,
        (Some(b), None) => writeln!(out, "Run `{}` against baseline `{b}`.\n", r.run)?,
        (None, _) => writeln!(out, "Run `{}` (no baseline: absolute targets only).\n", r.run)?,
    }
    let run_findings: Vec<&Check> = r.run_checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive).collect();
    if !run_findings.is_empty() {
        writeln!(out, "## The run\n")?;
        for c in run_findings {
            writeln!(out, "- **{}** — {}: {}", c.verdict.label(), c.name, c.detail)?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Latencies are those of successful requests; failed requests' p95 is shown apart.\n\n| stage | endpoint | verdict | requests | errors | p95 ms (baseline -> now) | failed p95 ms | req/s | could detect |"
    )?;
    writeln!(out, "|---:|---|---|---:|---:|---|---:|---:|---|")?;
    for e in &r.endpoints {
        let base_p95 = e.baseline.as_ref().and_then(|b| b.p95_ms);
        let detect = if r.baseline.is_some() { e.detectable.describe() } else { "-".to_owned() };
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.2}% | {} -> {} | {} | {:.1} | {detect} |",
            e.stage + 1,
            e.endpoint,
            e.verdict.label(),
            e.current.requests,
            e.current.error_rate * 100.0,
            fmt_ms(base_p95),
            fmt_ms(e.current.p95_ms),
            fmt_ms(e.current.failed_p95_ms),
            e.current.requests_per_second
        )?;
    }
    let streams: Vec<&EndpointVerdict> = r.endpoints.iter().filter(|e| e.current.ttft_p95_ms.is_some()).collect();
    if !streams.is_empty() {
        writeln!(out, "\n| stage | stream | TTFT p95 ms (baseline -> now) |\n|---:|---|---|")?;
        for e in streams {
            let base = e.baseline.as_ref().and_then(|b| b.ttft_p95_ms);
            writeln!(
                out,
                "| {} | `{}` | {} -> {} |",
                e.stage + 1,
                e.endpoint,
                fmt_ms(base),
                fmt_ms(e.current.ttft_p95_ms)
            )?;
        }
    }
    if !r.streams.is_empty() {
        writeln!(
            out,
            "\n| stream (whole run) | TTFT p50 ms | TTFT p95 ms | ITL p50 ms | ITL p95 ms | tokens/s |\n|---|---:|---:|---:|---:|---:|"
        )?;
        for s in &r.streams {
            writeln!(
                out,
                "| `{}` | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} |",
                s.endpoint, s.ttft_ms.0, s.ttft_ms.1, s.inter_token_ms.0, s.inter_token_ms.1, s.tokens_per_second
            )?;
        }
    }
    let flagged: Vec<_> = r.endpoints.iter().filter(|e| e.verdict >= Verdict::Inconclusive).collect();
    if !flagged.is_empty() {
        writeln!(out, "\n## Findings\n")?;
        for e in flagged {
            for c in e.checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive) {
                writeln!(
                    out,
                    "- stage {} `{}`: **{}** — {}: {}",
                    e.stage + 1,
                    e.endpoint,
                    c.verdict.label(),
                    c.name,
                    c.detail
                )?;
            }
        }
    }
    if !r.diagnosis.is_empty() {
        writeln!(out, "\n## Diagnosis\n")?;
        for line in &r.diagnosis {
            writeln!(out, "- {line}")?;
        }
    }
    if !r.target_counters.is_empty() {
        writeln!(out, "\n## Target counters\n")?;
        writeln!(out, "What each target counted itself during the run (the change from start to end).\n")?;
        writeln!(out, "| target | counter | change |\n|---|---|---:|")?;
        for (target, counters) in &r.target_counters {
            for (name, change) in notable_counters(counters) {
                writeln!(out, "| {target} | `{name}` | {change} |")?;
            }
        }
    }
    if !r.recommendations.is_empty() {
        writeln!(out, "\n## Recommendations\n")?;
        for line in &r.recommendations {
            writeln!(out, "- {line}")?;
        }
    }
    if !r.resources.is_empty() {
        writeln!(out, "\n## Resources\n")?;
        writeln!(out, "| what | kind | CPU mean / max (cores) | memory start -> end (peak) | leak check |")?;
        writeln!(out, "|---|---|---:|---|---|")?;
        for s in &r.resources {
            use crate::resources::mib;
            writeln!(
                out,
                "| `{}` ({}) | {} | {:.2} / {:.2} | {} -> {} ({}) | {} |",
                s.name,
                s.id,
                s.kind,
                s.cpu_mean_cores,
                s.cpu_max_cores,
                mib(s.memory_start_bytes),
                mib(s.memory_end_bytes),
                mib(s.memory_peak_bytes),
                match &s.leak {
                    Some(leak) => format!("**possible leak**: {}", leak.describe()),
                    None => s.leak_check(),
                }
            )?;
        }
    }
    writeln!(out, "\nInformational score (not the verdict): {:.0}/100, {}.", r.score, r.grade)
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// `junit.xml`: a test suite per stage and endpoint, a test case per check; regressions are
/// failures, inconclusive checks are skipped.
pub fn write_junit(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let suites: Vec<(String, String, &[Check])> =
        std::iter::once(("run".to_owned(), "run".to_owned(), r.run_checks.as_slice()))
            .filter(|(_, _, c)| !c.is_empty())
            .chain(r.endpoints.iter().map(|e| {
                (
                    format!("stage {} {}", e.stage + 1, e.endpoint),
                    format!("stage{}.{}", e.stage + 1, e.endpoint),
                    e.checks.as_slice(),
                )
            }))
            .collect();
    let checks: usize = suites.iter().map(|(_, _, c)| c.len()).sum();
    let failures: usize = suites.iter().flat_map(|(_, _, c)| c.iter()).filter(|c| c.verdict.fails()).count();
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(out, "<testsuites name=\"loadsuite {}\" tests=\"{checks}\" failures=\"{failures}\">", xml(&r.scenario))?;
    for (name, class, checks) in &suites {
        let suite_failures = checks.iter().filter(|c| c.verdict.fails()).count();
        writeln!(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\">", xml(name), checks.len())?;
        for c in checks.iter() {
            write!(out, "    <testcase classname=\"{}\" name=\"{}\">", xml(class), xml(c.name))?;
            match c.verdict {
                v if v.fails() => write!(out, "<failure message=\"{}\">{}</failure>", xml(&v.label()), xml(&c.detail))?,
                Verdict::Inconclusive => write!(out, "<skipped message=\"{}\"/>", xml(&c.detail))?,
                _ => write!(out, "<system-out>{}</system-out>", xml(&c.detail))?,
            }
            writeln!(out, "</testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}
