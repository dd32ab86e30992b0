//! Verdict reports: `verdict.json` (versioned), `summary.md` (GitHub-flavoured, fits a CI job
//! summary) and `junit.xml` (one test case per check), each written against `impl Write`.

use std::io::{self, Write};

use serde::Serialize;

use super::compare::{EndpointVerdict, Thresholds, Verdict};

/// The whole judgement, as `verdict.json` holds it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `loadsuite-verdict`.
    pub format: &'static str,
    /// 1.
    pub version: u32,
    /// Scenario name.
    pub scenario: String,
    /// The baseline file (absent for a single-run report).
    pub baseline: Option<String>,
    /// The judged run.
    pub run: String,
    /// Overall verdict.
    pub overall: Verdict,
    /// Per stage and endpoint.
    pub endpoints: Vec<EndpointVerdict>,
    /// Diagnosis lines.
    pub diagnosis: Vec<String>,
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

/// `summary.md`.
pub fn write_markdown(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(out, "# Load test verdict: {} — **{}**\n", r.scenario, r.overall.label())?;
    match &r.baseline {
        Some(b) => writeln!(out, "Run `{}` against baseline `{}`.\n", r.run, b)?,
        None => writeln!(out, "Run `{}` (no baseline: absolute targets only).\n", r.run)?,
    }
    writeln!(out, "| stage | endpoint | verdict | requests | errors | p95 ms (baseline -> now) | req/s |")?;
    writeln!(out, "|---:|---|---|---:|---:|---|---:|")?;
    for e in &r.endpoints {
        let base_p95 = e.baseline.as_ref().and_then(|b| b.p95_ms);
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.2}% | {} -> {} | {:.1} |",
            e.stage + 1,
            e.endpoint,
            e.verdict.label(),
            e.current.requests,
            e.current.error_rate * 100.0,
            fmt_ms(base_p95),
            fmt_ms(e.current.p95_ms),
            e.current.requests_per_second
        )?;
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
                s.leak.as_ref().map_or("steady".to_owned(), |l| format!("**possible leak**: {}", l.describe()))
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
    let checks: usize = r.endpoints.iter().map(|e| e.checks.len()).sum();
    let failures: usize =
        r.endpoints.iter().flat_map(|e| &e.checks).filter(|c| matches!(c.verdict, Verdict::Regression(_))).count();
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(out, "<testsuites name=\"loadsuite {}\" tests=\"{checks}\" failures=\"{failures}\">", xml(&r.scenario))?;
    for e in &r.endpoints {
        let suite_failures = e.checks.iter().filter(|c| matches!(c.verdict, Verdict::Regression(_))).count();
        writeln!(
            out,
            "  <testsuite name=\"stage {} {}\" tests=\"{}\" failures=\"{suite_failures}\">",
            e.stage + 1,
            xml(&e.endpoint),
            e.checks.len()
        )?;
        for c in &e.checks {
            write!(
                out,
                "    <testcase classname=\"stage{}.{}\" name=\"{}\">",
                e.stage + 1,
                xml(&e.endpoint),
                xml(&c.name)
            )?;
            match c.verdict {
                Verdict::Regression(_) => {
                    write!(out, "<failure message=\"{}\">{}</failure>", xml(&c.verdict.label()), xml(&c.detail))?
                }
                Verdict::Inconclusive => write!(out, "<skipped message=\"{}\"/>", xml(&c.detail))?,
                _ => write!(out, "<system-out>{}</system-out>", xml(&c.detail))?,
            }
            writeln!(out, "</testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}
