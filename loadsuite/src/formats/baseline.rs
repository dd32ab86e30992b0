//! Baseline files (format `loadsuite-baseline`, see `loadsuite/BASELINE_FORMAT.md`): what earlier
//! runs measured, per scenario, stage and endpoint, with the plan they ran, each run's own figures
//! (so the run-to-run spread is known), and what the baseline was warned about when recorded.
//!
//! [`EndpointMeasure`] is also how the verdict sees the run it judges, so both sides of a
//! comparison are the same type.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::InputError;
use super::histogram::{decode, encode, quantiles_ms};
use crate::plan::Plan;

/// Format identifier.
pub const FORMAT: &str = "loadsuite-baseline";
/// Current version. 2: latencies of successful requests, per-run figures, the plan, warnings.
pub const VERSION: u32 = 2;

/// One run's own figures for an endpoint in a stage: what the run-to-run spread is made of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Requests.
    pub requests: u64,
    /// Failures.
    pub failures: u64,
    /// p95 of the successful requests in ms (absent when none succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// Streams: p95 of the time to first token in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
}

/// Measurements of one endpoint in one stage (of a baseline, or of the run being judged).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointMeasure {
    /// Row method.
    pub method: String,
    /// Row name.
    pub name: String,
    /// Requests.
    pub requests: u64,
    /// Failures.
    pub failures: u64,
    /// Failures by kind.
    #[serde(default)]
    pub failure_kinds: BTreeMap<String, u64>,
    /// First failure message per kind.
    #[serde(default)]
    pub failure_messages: BTreeMap<String, String>,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Percentiles of the successful requests in ms (`p50` ... `p100`).
    pub latency_ms: BTreeMap<String, f64>,
    /// The successful requests' latency histogram (µs, HdrHistogram V2, base64), when the source
    /// had one (runs do, Locust CSVs do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    /// p95 of the failed requests in ms (shown apart from the successful ones; absent when none
    /// failed or the source does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_p95_ms: Option<f64>,
    /// Each source run's own figures, in the order the runs were given.
    #[serde(default)]
    pub runs: Vec<RunFigures>,
    /// Streams: the time-to-first-token histogram (µs, like `histogram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_histogram: Option<String>,
}

impl EndpointMeasure {
    /// The histogram, decoded.
    pub fn decoded(&self) -> Option<Histogram<u64>> {
        decode(self.histogram.as_deref()?)
    }

    /// The time-to-first-token histogram, decoded (streams only).
    pub fn ttft_decoded(&self) -> Option<Histogram<u64>> {
        decode(self.ttft_histogram.as_deref()?)
    }

    /// The spread of the runs' TTFT p95, as [`EndpointMeasure::run_spread`] for latency.
    pub fn ttft_run_spread(&self) -> Option<f64> {
        log_spread(self.runs.iter().filter_map(|r| r.ttft_p95_ms))
    }

    /// Failure rate, 0..=1.
    pub fn failure_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failures as f64 / self.requests as f64 }
    }

    /// Successful requests.
    pub fn successes(&self) -> u64 {
        self.requests.saturating_sub(self.failures)
    }

    /// A latency percentile of the successful requests in ms (`p95` ...), from the histogram when
    /// present; `None` when nothing succeeded.
    pub fn percentile(&self, key: &str, q: f64) -> Option<f64> {
        match self.decoded() {
            Some(h) if !h.is_empty() => Some(h.value_at_quantile(q) as f64 / 1000.0),
            Some(_) => None,
            None if self.successes() == 0 => None,
            None => self.latency_ms.get(key).copied(),
        }
    }

    /// The spread of the runs' p95 (standard deviation of its logarithm) when at least two runs
    /// had one: how much this endpoint's p95 moves between identical runs.
    pub fn run_spread(&self) -> Option<f64> {
        log_spread(self.runs.iter().filter_map(|r| r.p95_ms))
    }

    /// Adds another run's measurement of the same endpoint and stage. Both must have histograms
    /// or neither (the caller refuses a mix).
    pub fn merge(&mut self, other: &EndpointMeasure) {
        let seconds = |m: &EndpointMeasure| {
            if m.requests_per_second > 0.0 { m.requests as f64 / m.requests_per_second } else { 0.0 }
        };
        let total_seconds = seconds(self) + seconds(other);
        self.requests += other.requests;
        self.failures += other.failures;
        for (k, v) in &other.failure_kinds {
            *self.failure_kinds.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.failure_messages {
            self.failure_messages.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.requests_per_second = if total_seconds > 0.0 { self.requests as f64 / total_seconds } else { 0.0 };
        if let (Some(mut a), Some(b)) = (self.decoded(), other.decoded()) {
            let _ = a.add(&b);
            self.latency_ms = quantiles_ms(&a);
            self.histogram = Some(encode(&a));
        }
        self.ttft_histogram = match (self.ttft_decoded(), other.ttft_decoded()) {
            (Some(mut a), Some(b)) => {
                let _ = a.add(&b);
                Some(encode(&a))
            }
            // A baseline judges TTFT only when every one of its runs measured it.
            _ => None,
        };
        self.runs.extend(other.runs.iter().copied());
        // Failed latencies are shown, never judged: the slower of the two is a fair summary.
        self.failed_p95_ms = match (self.failed_p95_ms, other.failed_p95_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The standard deviation of the logarithms of some p95s (at least two, all positive).
fn log_spread(p95s: impl Iterator<Item = f64>) -> Option<f64> {
    let logs: Vec<f64> = p95s.filter(|p| *p > 0.0).map(f64::ln).collect();
    if logs.len() < 2 {
        return None;
    }
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    let variance = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (logs.len() - 1) as f64;
    Some(variance.sqrt())
}

/// One scenario's measurements: stage -> endpoint key (`METHOD name`) -> measure.
pub type StageMeasures = BTreeMap<usize, BTreeMap<String, EndpointMeasure>>;

/// What a baseline was warned about when it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineWarningKind {
    /// Fewer requests than comparisons need: checks against it are inconclusive.
    FewSamples,
    /// More failures than the error target allows.
    FailuresAboveTarget,
    /// Every request failed (kept only with `--allow-failing`).
    AllFailing,
    /// A source run was stopped early or fell short of its plan.
    IncompleteRun,
    /// A source run's stream timing (TTFT, gaps) in this stage carried the generator's own delay:
    /// TTFT checks of the stage against this baseline are inconclusive.
    StreamTimingDistorted,
}

/// One warning recorded in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineWarning {
    /// What kind.
    pub kind: BaselineWarningKind,
    /// The stage, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// The endpoint, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What it means.
    pub message: String,
}

/// One scenario of a baseline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScenarioBaseline {
    /// The plan its runs ran (absent for a Locust CSV, which does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The targets its runs spoke HTTP/2 to (absent: HTTP/1.1 to every target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http2: Vec<String>,
    /// How many runs it was made from.
    pub runs: u32,
    /// The ids of those runs (`run_id` in their run.json): a run among them is not compared with it.
    #[serde(default)]
    pub run_ids: Vec<String>,
    /// Its measurements.
    pub stages: StageMeasures,
    /// Per stage, the latest the generator's timers fired in any of its runs: how busy the machine
    /// was when it was recorded (absent for Locust CSVs and baselines recorded before it existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generator_lag: Vec<crate::monitor::StageLag>,
    /// What it was warned about when recorded.
    #[serde(default)]
    pub warnings: Vec<BaselineWarning>,
}

/// A baseline file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The inputs it was built from.
    pub sources: Vec<String>,
    /// Scenario -> its baseline.
    pub scenarios: BTreeMap<String, ScenarioBaseline>,
}

impl Baseline {
    /// An empty baseline.
    pub fn new() -> Self {
        Baseline { format: FORMAT.into(), version: VERSION, sources: Vec::new(), scenarios: BTreeMap::new() }
    }
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline::new()
    }
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

/// Reads a baseline file, refusing other formats and versions with what to do instead.
pub fn read(path: &Path) -> Result<Baseline, InputError> {
    let text = super::read_text(path)?;
    let header: Header = serde_json::from_str(&text)
        .map_err(|e| InputError::invalid(path.display(), format!("not a baseline file: {e}")))?;
    match (header.format.as_deref(), header.version) {
        (Some(FORMAT), Some(VERSION)) => {}
        (Some(FORMAT), Some(v)) if v < VERSION => {
            return Err(InputError::invalid(
                path.display(),
                format!(
                    "baseline format {v} was recorded by an earlier loadsuite; this one reads format {VERSION} (latencies of successful requests, the plan, per-run spread): record it again with `loadsuite baseline --from RUN...`"
                ),
            ));
        }
        (Some(FORMAT), Some(v)) => {
            return Err(InputError::invalid(
                path.display(),
                format!("baseline format {v} is newer than this loadsuite reads ({VERSION}): use a newer loadsuite"),
            ));
        }
        _ => {
            return Err(InputError::invalid(
                path.display(),
                format!("not a baseline file (format `{FORMAT}` expected); record one with `loadsuite baseline`"),
            ));
        }
    }
    serde_json::from_str(&text).map_err(|e| InputError::invalid(path.display(), format!("damaged baseline: {e}")))
}

/// The key of an endpoint inside a stage.
pub fn key(method: &str, name: &str) -> String {
    if method.is_empty() { name.to_owned() } else { format!("{method} {name}") }
}
