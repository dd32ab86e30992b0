//! The self-test's findings: one row per mode (what had to be flagged, what was), the A/A
//! figure, and the detection matrix written as Markdown and JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// One row of the detection matrix.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    /// Mode name (`clean #2` for the A/A runs).
    pub mode: String,
    /// What had to be flagged.
    pub expected: Vec<String>,
    /// Rows (`stage N endpoint`) or run checks the verdict failed.
    pub flagged: Vec<String>,
    /// Whether the diagnosis named the expected kind.
    pub diagnosed: bool,
    /// Overall verdict.
    pub verdict: String,
    /// Whether the row is right.
    pub ok: bool,
}

/// The A/A part's figure: clean runs judged, and how many raised an alarm.
#[derive(Debug, Serialize)]
pub(crate) struct FalseAlarms {
    /// Clean runs judged against the baseline.
    pub runs: usize,
    /// Of those, runs with any failing row or run check.
    pub alarms: usize,
    /// Runs judged inconclusive overall.
    pub inconclusive: usize,
}

/// Everything the self-test found.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// The detection matrix.
    pub rows: Vec<Row>,
    /// The A/A figure (absent when a single mode ran).
    pub false_alarms: Option<FalseAlarms>,
}

impl Outcome {
    /// Whether every row is right.
    pub(crate) fn ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }
}

/// The matrix as Markdown.
pub(crate) fn matrix(outcome: &Outcome) -> String {
    let mut out = String::from(
        "| failure mode | expected to flag | flagged | diagnosis | verdict | result |\n|---|---|---|---|---|---|\n",
    );
    for r in &outcome.rows {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.mode,
            list(&r.expected),
            list(&r.flagged),
            if r.diagnosed { "ok" } else { "missing" },
            r.verdict,
            if r.ok {
                "detected"
            } else if r.expected.is_empty() {
                "FALSE ALARM"
            } else {
                "MISSED"
            }
        ));
    }
    if let Some(f) = &outcome.false_alarms {
        out.push_str(&format!(
            "\nA/A: {} of {} clean runs raised an alarm ({} inconclusive). This measures the self-test's setup only; the calibrated false-alarm rate is in bench/results/verdicts.md.\n",
            f.alarms, f.runs, f.inconclusive
        ));
    }
    out
}

/// Writes the matrix as `detection-matrix.md` and `.json` into `out`; returns the Markdown and
/// the `.md` path.
pub(crate) fn write_matrix(outcome: &Outcome, out: &Path) -> std::io::Result<(String, PathBuf)> {
    let table = matrix(outcome);
    let md = out.join("detection-matrix.md");
    crate::output::write_text_atomic(&md, &table)?;
    crate::output::write_json_atomic(&out.join("detection-matrix.json"), outcome)?;
    Ok((table, md))
}
