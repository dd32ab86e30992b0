//! What a verdict is made of: the verdict scale, the kinds of checks (each with the label reports
//! and JUnit show), one check's finding, and the judgement of one endpoint in one stage.
//!
//! Three questions stay apart, each with its own check kinds: *regression* (this run against the
//! baseline at the same load), *targets* (absolute SLOs and the load-degradation allowance:
//! met, missed or not demonstrable), and *completeness* (did what the verdict is about run).

use std::collections::BTreeMap;

use serde::Serialize;

/// How bad a regression is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; fails the pipeline.
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
    /// Not enough data to say, or not comparable: never a pass.
    Inconclusive,
    /// An absolute target (SLO) or the load-degradation allowance was demonstrably missed.
    #[serde(rename = "target_missed")]
    TargetMissed,
    /// Worse than the baseline, or broken.
    Regression(Severity),
}

impl Verdict {
    /// `pass`, `target missed`, `regression (major)` ...
    pub fn label(&self) -> String {
        match self {
            Verdict::Improvement => "improvement".into(),
            Verdict::Pass => "pass".into(),
            Verdict::Inconclusive => "inconclusive".into(),
            Verdict::TargetMissed => "target missed".into(),
            Verdict::Regression(s) => format!("regression ({})", format!("{s:?}").to_lowercase()),
        }
    }

    /// True for the verdicts that fail a pipeline.
    pub fn fails(&self) -> bool {
        matches!(self, Verdict::TargetMissed | Verdict::Regression(_))
    }
}

/// What a check looks at. Each kind has one label, used in every report and as the JUnit test name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The run finished its plan (not interrupted).
    RunCompleted,
    /// Every user class got users.
    ClassesRan,
    /// Open plans: the arrival schedule was kept (few dropped or late iterations).
    ScheduleKept,
    /// The endpoint (or stage) the baseline has was measured in this run.
    Present,
    /// The stage ran the same load as the baseline's.
    Comparable,
    /// Enough samples on both sides to compare.
    EnoughSamples,
    /// Not (nearly) every request failed.
    NotBroken,
    /// The error rate did not rise beyond the material and statistical bounds.
    ErrorRate,
    /// No failure kind rose beyond those bounds.
    FailureKinds,
    /// The p95 of successful requests did not rise beyond the allowance and the noise.
    LatencyP95,
    /// Streams: the p95 of the time to first token did not rise beyond the allowance and the noise.
    TtftP95,
    /// Open plans: requests/s did not drop.
    Throughput,
    /// Absolute target: p95 under the SLO.
    TargetP95,
    /// Absolute target: p99 under the SLO (set per endpoint).
    TargetP99,
    /// Absolute target: error rate under the SLO.
    TargetErrorRate,
    /// Capacity: p95 at this load level within its allowance over the unloaded p95.
    LoadDegradation,
    /// A target's own counter changed within the expectation (`[[counters]]`).
    TargetCounter,
}

impl CheckKind {
    /// The label shown in reports and used as the JUnit test name.
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::RunCompleted => "run completed its plan",
            CheckKind::ClassesRan => "every user class ran",
            CheckKind::ScheduleKept => "arrival schedule kept",
            CheckKind::Present => "measured in this run",
            CheckKind::Comparable => "same load as the baseline",
            CheckKind::EnoughSamples => "enough samples",
            CheckKind::NotBroken => "failure rate below the critical limit",
            CheckKind::ErrorRate => "error rate not higher than the baseline's",
            CheckKind::FailureKinds => "no failure kind risen",
            CheckKind::LatencyP95 => "p95 not slower than the baseline's",
            CheckKind::TtftP95 => "TTFT p95 not slower than the baseline's",
            CheckKind::Throughput => "throughput not dropped",
            CheckKind::TargetP95 => "p95 target",
            CheckKind::TargetP99 => "p99 target",
            CheckKind::TargetErrorRate => "error-rate target",
            CheckKind::LoadDegradation => "p95 degradation under load",
            CheckKind::TargetCounter => "target counter within its expectation",
        }
    }
}

/// How an absolute target fared, with its confidence bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Met with confidence: the upper bound is under the target.
    Met,
    /// Missed with confidence: the lower bound is over the target.
    Missed,
    /// The interval straddles the target: the run cannot show either.
    NotDemonstrable,
}

/// One check of one endpoint (or of the whole run).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// Its label (the kind's).
    pub name: &'static str,
    /// What it found, with the numbers.
    pub detail: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// For targets: met, missed or not demonstrable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetStatus>,
}

impl Check {
    /// A check of `kind`.
    pub fn new(kind: CheckKind, detail: impl Into<String>, verdict: Verdict) -> Self {
        Check { kind, name: kind.label(), detail: detail.into(), verdict, target: None }
    }

    /// A target check with its status.
    pub fn target(kind: CheckKind, detail: impl Into<String>, verdict: Verdict, status: TargetStatus) -> Self {
        Check { target: Some(status), ..Check::new(kind, detail, verdict) }
    }
}

/// Side-by-side numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Numbers {
    /// Requests.
    pub requests: u64,
    /// Failure rate.
    pub error_rate: f64,
    /// p95 of successful requests, ms.
    pub p95_ms: Option<f64>,
    /// p99 of successful requests, ms.
    pub p99_ms: Option<f64>,
    /// p95 of failed requests, ms (apart: a fast failure must not read as a fast endpoint).
    pub failed_p95_ms: Option<f64>,
    /// Requests/s.
    pub requests_per_second: f64,
    /// Streams: p95 of the time to first token, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
}

/// What this comparison could have detected for an endpoint: the smallest changes it would flag.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Detectable {
    /// Smallest p95 rise flagged, as a fraction (1.0 = +100%); absent when none could be.
    pub p95_rise: Option<f64>,
    /// Smallest error-rate rise flagged, in absolute terms (0.01 = +1 percentage point); absent
    /// when none could be.
    pub error_rate_rise: Option<f64>,
}

impl Detectable {
    /// "p95 +58% or more, errors +1.2 points or more", or why nothing could be detected.
    pub fn describe(&self) -> String {
        let p95 = self.p95_rise.map_or("no p95 change".to_owned(), |r| format!("p95 +{:.0}%", r * 100.0));
        let errors = self
            .error_rate_rise
            .map_or("no error-rate rise".to_owned(), |r| format!("errors +{:.2} points", r * 100.0));
        format!("could detect {p95}, {errors}")
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
    /// The smallest changes this comparison would have flagged.
    pub detectable: Detectable,
    /// Failures by kind in the current run (this stage).
    pub failure_kinds: BTreeMap<String, u64>,
    /// A sample message per kind.
    pub failure_messages: BTreeMap<String, String>,
    /// Failures by kind in the baseline (this stage).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline_failure_kinds: BTreeMap<String, u64>,
}

/// The worst of some verdicts; improvement only when nothing is worse than pass.
pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let all: Vec<Verdict> = verdicts.into_iter().collect();
    let worst = all.iter().copied().max().unwrap_or(Verdict::Inconclusive);
    if worst <= Verdict::Pass && all.contains(&Verdict::Improvement) { Verdict::Improvement } else { worst }
}
