//! Baselines: what runs measured, per scenario, stage and endpoint, kept to judge later runs.
//!
//! A baseline is built from results directories, `run.json` files (histograms included, so
//! several runs merge exactly) or Locust `_stats.csv` files (counts and percentiles only, stage 0).
//! Format `loadsuite-baseline`, version 1 (see `loadsuite/BASELINE_FORMAT.md`).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde::{Deserialize, Serialize};

use crate::output::run_json::encode;

/// Format identifier.
pub const FORMAT: &str = "loadsuite-baseline";
/// Current version.
pub const VERSION: u32 = 1;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a file this command understands.
    #[error("{path}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// Measurements of one endpoint in one stage.
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
    /// Percentiles in ms (`p50` ... `p100`).
    pub latency_ms: BTreeMap<String, f64>,
    /// The latency histogram (µs, HdrHistogram V2, base64), when the source had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

impl EndpointMeasure {
    /// The histogram, decoded.
    pub fn decoded(&self) -> Option<Histogram<u64>> {
        decode(self.histogram.as_deref()?)
    }

    /// Failure rate, 0..=1.
    pub fn failure_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failures as f64 / self.requests as f64 }
    }

    /// A latency percentile in ms (`p95` ...), from the histogram when present.
    pub fn percentile(&self, key: &str, q: f64) -> Option<f64> {
        match self.decoded() {
            Some(h) if !h.is_empty() => Some(h.value_at_quantile(q) as f64 / 1000.0),
            _ => self.latency_ms.get(key).copied(),
        }
    }

    fn merge(&mut self, other: &EndpointMeasure) {
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
        match (self.decoded(), other.decoded()) {
            (Some(mut a), Some(b)) => {
                let _ = a.add(&b);
                self.latency_ms = crate::output::run_json::quantiles(&a);
                self.histogram = Some(encode(&a));
            }
            _ => {
                self.histogram = None;
                self.latency_ms = other.latency_ms.clone();
            }
        }
    }
}

/// Decodes a base64 V2 histogram.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// One scenario's measurements: stage -> endpoint key (`METHOD name`) -> measure.
pub type ScenarioMeasures = BTreeMap<usize, BTreeMap<String, EndpointMeasure>>;

/// A baseline file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The inputs it was built from.
    pub sources: Vec<String>,
    /// Scenario -> measures.
    pub scenarios: BTreeMap<String, ScenarioMeasures>,
}

/// The key of an endpoint inside a stage.
pub fn key(method: &str, name: &str) -> String {
    if method.is_empty() { name.to_owned() } else { format!("{method} {name}") }
}

#[derive(Deserialize)]
struct RunEndpoint {
    method: String,
    name: String,
    #[serde(default)]
    stage: Option<usize>,
    requests: u64,
    failures: u64,
    requests_per_second: f64,
    latency_ms: BTreeMap<String, f64>,
    histogram: Option<String>,
}

#[derive(Deserialize)]
struct RunFailure {
    method: String,
    name: String,
    kind: String,
    count: u64,
    message: String,
}

#[derive(Deserialize)]
struct PlanModel {
    model: String,
}

#[derive(Deserialize)]
struct RunRead {
    format: String,
    version: u32,
    scenario: String,
    plan: PlanModel,
    stage_endpoints: Vec<RunEndpoint>,
    failures: Vec<RunFailure>,
    #[serde(default)]
    resources: Vec<crate::resources::ResourceSeries>,
}

/// A run's measurements.
#[derive(Debug, Clone)]
pub struct RunMeasures {
    /// Scenario name.
    pub scenario: String,
    /// Stages.
    pub stages: ScenarioMeasures,
    /// Whether the load was an open (arrival-rate) plan: only then is throughput a verdict.
    pub open_model: bool,
    /// CPU and memory of the watched containers and processes (without the readings).
    pub resources: Vec<crate::resources::ResourceSeries>,
}

/// A run's measurements (the `scenario` name and its stages).
pub fn read_run(path: &Path) -> Result<RunMeasures, InputError> {
    let shown = path.display().to_string();
    let file = if path.is_dir() { path.join("run.json") } else { path.to_owned() };
    let text = std::fs::read_to_string(&file)
        .map_err(|source| InputError::Read { path: file.display().to_string(), source })?;
    if file.to_string_lossy().ends_with(".csv") {
        return read_locust(&text, &shown);
    }
    let run: RunRead = serde_json::from_str(&text).map_err(|e| InputError::Invalid {
        path: shown.clone(),
        message: format!("not a loadsuite run.json ({e}); give a results directory, a run.json or a Locust _stats.csv"),
    })?;
    if run.format != crate::output::run_json::FORMAT || run.version != crate::output::run_json::VERSION {
        return Err(InputError::Invalid {
            path: shown,
            message: format!(
                "format {} version {} is not supported (expected loadsuite-run 1)",
                run.format, run.version
            ),
        });
    }
    let mut stages = ScenarioMeasures::new();
    for e in run.stage_endpoints {
        let stage = e.stage.unwrap_or(0);
        let measure = EndpointMeasure {
            method: e.method.clone(),
            name: e.name.clone(),
            requests: e.requests,
            failures: e.failures,
            failure_kinds: BTreeMap::new(),
            failure_messages: BTreeMap::new(),
            requests_per_second: e.requests_per_second,
            latency_ms: e.latency_ms,
            histogram: e.histogram,
        };
        stages.entry(stage).or_default().insert(key(&e.method, &e.name), measure);
    }
    // Failure groups are per run, not per stage: attach them to the stage with the most failures.
    for f in run.failures {
        let k = key(&f.method, &f.name);
        let target =
            stages.values_mut().filter_map(|s| s.get_mut(&k)).filter(|m| m.failures > 0).max_by_key(|m| m.failures);
        if let Some(m) = target {
            *m.failure_kinds.entry(f.kind.clone()).or_default() += f.count;
            m.failure_messages.entry(f.kind).or_insert(f.message);
        }
    }
    let resources = run.resources.into_iter().map(|r| crate::resources::ResourceSeries { samples: Vec::new(), ..r });
    Ok(RunMeasures {
        scenario: run.scenario,
        stages,
        open_model: run.plan.model == "open",
        resources: resources.collect(),
    })
}

/// A Locust `_stats.csv`: one stage; percentiles from the CSV columns; no histogram.
fn read_locust(text: &str, path: &str) -> Result<RunMeasures, InputError> {
    let invalid = |message: String| InputError::Invalid { path: path.to_owned(), message };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| invalid(format!("no `{name}` column: not a Locust _stats.csv")))
    };
    let (t, n, rc, fc, rps) =
        (column("Type")?, column("Name")?, column("Request Count")?, column("Failure Count")?, column("Requests/s")?);
    let quantiles: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.strip_suffix('%')
                .and_then(|p| p.parse::<f64>().ok())
                .map(|p| (i, format!("p{}", (p * 100.0).round() / 100.0)))
        })
        .collect();
    let mut stage = BTreeMap::new();
    for (number, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let at = |i: usize| fields.get(i).copied().unwrap_or("");
        if at(n) == "Aggregated" {
            continue;
        }
        let parse = |i: usize| {
            at(i).parse::<f64>().map_err(|_| invalid(format!("line {}: `{}` is not a number", number + 2, at(i))))
        };
        let measure = EndpointMeasure {
            method: at(t).to_owned(),
            name: at(n).to_owned(),
            requests: parse(rc)? as u64,
            failures: parse(fc)? as u64,
            requests_per_second: parse(rps)?,
            latency_ms: quantiles
                .iter()
                .filter_map(|(i, k)| at(*i).parse::<f64>().ok().map(|v| (k.clone(), v)))
                .collect(),
            ..EndpointMeasure::default()
        };
        stage.insert(key(at(t), at(n)), measure);
    }
    let scenario = Path::new(path)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("locust")
        .trim_end_matches("_stats.csv")
        .to_owned();
    Ok(RunMeasures { scenario, stages: BTreeMap::from([(0, stage)]), open_model: false, resources: Vec::new() })
}

/// Builds (and merges) a baseline from several inputs.
pub fn build(inputs: &[&Path]) -> Result<Baseline, InputError> {
    let mut baseline =
        Baseline { format: FORMAT.into(), version: VERSION, sources: Vec::new(), scenarios: BTreeMap::new() };
    for input in inputs {
        let RunMeasures { scenario, stages, .. } = read_run(input)?;
        baseline.sources.push(input.display().to_string());
        let target = baseline.scenarios.entry(scenario).or_default();
        for (stage, endpoints) in stages {
            let into = target.entry(stage).or_default();
            for (k, m) in endpoints {
                match into.get_mut(&k) {
                    Some(existing) => existing.merge(&m),
                    None => {
                        into.insert(k, m);
                    }
                }
            }
        }
    }
    Ok(baseline)
}

/// Reads a baseline file.
pub fn load(path: &Path) -> Result<Baseline, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| InputError::Read { path: path.display().to_string(), source })?;
    let baseline: Baseline = serde_json::from_str(&text).map_err(|e| InputError::Invalid {
        path: path.display().to_string(),
        message: format!("not a baseline file: {e}"),
    })?;
    if baseline.format != FORMAT || baseline.version != VERSION {
        return Err(InputError::Invalid {
            path: path.display().to_string(),
            message: "unsupported baseline format or version".into(),
        });
    }
    Ok(baseline)
}
