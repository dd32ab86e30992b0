//! Baselines and verdicts: `loadsuite baseline` keeps what runs measured; `loadsuite compare`
//! judges a run against it; `loadsuite report` judges a single run on absolute targets.

pub mod baseline;
pub mod compare;
pub mod diagnosis;
pub mod github;
pub mod html;
pub mod report;
pub mod tests_stat;

use std::path::Path;

pub use compare::{Severity, Thresholds, Verdict};
pub use report::Report;

use baseline::InputError;

/// Reads a thresholds file (TOML, every key optional).
pub fn load_thresholds(path: &Path) -> Result<Thresholds, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| InputError::Read { path: path.display().to_string(), source })?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| mocks::config::locate::line_of(&text, s.start)).unwrap_or(0);
        InputError::Invalid {
            path: path.display().to_string(),
            message: format!("line {line}: {}", e.message().trim()),
        }
    })
}

/// Judges the run at `run` against `baseline` (or absolute targets alone when `None`).
pub fn judge(
    baseline: Option<(&Path, &baseline::Baseline)>,
    run: &Path,
    thresholds: Thresholds,
) -> Result<Report, InputError> {
    let baseline::RunMeasures { scenario, stages: current, open_model, resources } = baseline::read_run(run)?;
    let base = baseline.and_then(|(_, b)| b.scenarios.get(&scenario));
    if let (Some((path, _)), None) = (baseline, base) {
        return Err(InputError::Invalid {
            path: path.display().to_string(),
            message: format!(
                "the baseline has no scenario `{scenario}`; record one with `loadsuite baseline --from RUN`"
            ),
        });
    }
    let endpoints = compare::judge_all(base, &current, &thresholds, open_model);
    let (score, grade) = diagnosis::score(&endpoints);
    let mut diagnosis = diagnosis::diagnose(&endpoints);
    diagnosis.extend(resources.iter().filter(|r| r.leak.is_some()).map(crate::resources::describe));
    Ok(Report {
        format: "loadsuite-verdict",
        version: 1,
        scenario,
        baseline: baseline.map(|(p, _)| p.display().to_string()),
        run: run.display().to_string(),
        overall: compare::overall(&endpoints),
        diagnosis,
        resources,
        endpoints,
        score,
        grade,
        thresholds,
    })
}

/// Writes `verdict.json`, `summary.md`, `junit.xml` and `report.html` into `out`.
pub fn write_reports(report: &Report, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let series = html::aggregate_series(Path::new(&report.run));
    crate::output::write_atomic(&out.join("report.html"), |w| html::write(w, report, &series))?;
    crate::output::write_atomic(&out.join("verdict.json"), |w| {
        serde_json::to_writer_pretty(w, report).map_err(std::io::Error::other)
    })?;
    crate::output::write_atomic(&out.join("summary.md"), |w| report::write_markdown(w, report))?;
    crate::output::write_atomic(&out.join("junit.xml"), |w| report::write_junit(w, report))
}

/// Exit code of a verdict: 0 pass (or improvement), 1 regression, 3 inconclusive.
pub fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass | Verdict::Improvement => 0,
        Verdict::Regression(_) => 1,
        Verdict::Inconclusive => 3,
    }
}
