//! A run as verdicts see it: per stage and endpoint an [`EndpointMeasure`], plus what the run says
//! about its own completeness (plan, interruption, arrival schedule, warnings). Read from a
//! loadsuite run (through `formats::run`) or from Locust's `_stats.csv` and `_failures.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::RunWarning;
use crate::formats::InputError;
use crate::formats::baseline::{EndpointMeasure, RunFigures, StageMeasures, key};
use crate::formats::run::RunFile;
use crate::monitor::StageLag;
use crate::plan::Plan;
use crate::resources::ResourceSeries;
use crate::stats::Schedule;

/// A run's measurements.
#[derive(Debug, Clone, Default)]
pub struct RunMeasures {
    /// Scenario name.
    pub scenario: String,
    /// The run's id (absent for Locust CSVs).
    pub run_id: Option<String>,
    /// Stages.
    pub stages: StageMeasures,
    /// The plan that ran (absent for Locust CSVs).
    pub plan: Option<Plan>,
    /// The targets spoken to over HTTP/2.
    pub http2: Vec<String>,
    /// Whether the load was an open (arrival-rate) plan: only then is throughput a verdict.
    pub open_model: bool,
    /// Stopped before the plan's end.
    pub interrupted: bool,
    /// Open plans: how the schedule was kept.
    pub schedule: Schedule,
    /// Where the run fell short of its plan.
    pub warnings: Vec<RunWarning>,
    /// CPU and memory of the watched containers and processes (without the readings).
    pub resources: Vec<ResourceSeries>,
    /// What the targets counted themselves over the run.
    pub target_counters: BTreeMap<String, crate::counters::TargetCounters>,
    /// Seconds the generator's own CPU was saturated (its latencies then include its queueing).
    pub generator_saturated_s: u64,
    /// The whole run's streamed rows: time to first token, inter-token latency, tokens/s.
    pub streams: Vec<StreamFigures>,
    /// Whether latencies come with histograms (runs) or as rounded percentiles (Locust).
    pub has_histograms: bool,
    /// How late the generator's timers fired, per stage (empty for Locust CSVs).
    pub lag: Vec<StageLag>,
}

/// Reads a results directory, a `run.json` or a Locust `_stats.csv`.
pub fn read(path: &Path) -> Result<RunMeasures, InputError> {
    if path.to_string_lossy().ends_with(".csv") {
        return read_locust(path);
    }
    Ok(from_run(crate::formats::run::read(path)?))
}

/// A streamed row's figures over the whole run (ms; tokens/s).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamFigures {
    /// `METHOD name`.
    pub endpoint: String,
    /// Time to first token, p50 and p95.
    pub ttft_ms: (f64, f64),
    /// Inter-token latency, p50 and p95.
    pub inter_token_ms: (f64, f64),
    /// Mean tokens/s.
    pub tokens_per_second: f64,
}

/// The measures of a loadsuite run.
pub fn from_run(run: RunFile) -> RunMeasures {
    let mut stages = StageMeasures::new();
    for e in &run.stage_endpoints {
        let mut measure = EndpointMeasure {
            method: e.method.clone(),
            name: e.name.clone(),
            requests: e.requests,
            failures: e.failures,
            requests_per_second: e.requests_per_second,
            latency_ms: e.latency_ms.clone(),
            histogram: Some(e.histogram.clone()),
            failed_p95_ms: e.failed_latency_ms.as_ref().and_then(|m| m.get("p95").copied()),
            ..EndpointMeasure::default()
        };
        let p95 = measure.percentile("p95", 0.95);
        measure.ttft_histogram = e.stream_histograms.as_ref().map(|h| h.ttft.clone());
        let ttft_p95 =
            measure.ttft_decoded().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(0.95) as f64 / 1000.0);
        measure.runs =
            vec![RunFigures { requests: e.requests, failures: e.failures, p95_ms: p95, ttft_p95_ms: ttft_p95 }];
        stages.entry(e.stage.unwrap_or(0)).or_default().insert(key(&e.method, &e.name), measure);
    }
    for f in &run.failures {
        if let Some(m) = stages.get_mut(&f.stage).and_then(|s| s.get_mut(&key(&f.method, &f.name))) {
            *m.failure_kinds.entry(f.kind.clone()).or_default() += f.count;
            m.failure_messages.entry(f.kind.clone()).or_insert_with(|| f.message.clone());
        }
    }
    let resources = run.resources.into_iter().map(|r| ResourceSeries { samples: Vec::new(), ..r }).collect();
    let q = |m: &Option<BTreeMap<String, f64>>, k: &str| m.as_ref().and_then(|m| m.get(k).copied()).unwrap_or(0.0);
    let streams = run
        .endpoints
        .iter()
        .filter(|e| e.ttft_ms.is_some())
        .map(|e| StreamFigures {
            endpoint: format!("{} {}", e.method, e.name),
            ttft_ms: (q(&e.ttft_ms, "p50"), q(&e.ttft_ms, "p95")),
            inter_token_ms: (q(&e.inter_token_ms, "p50"), q(&e.inter_token_ms, "p95")),
            tokens_per_second: e.tokens_per_second.unwrap_or(0.0),
        })
        .collect();
    RunMeasures {
        scenario: run.scenario,
        run_id: Some(run.run_id),
        stages,
        open_model: matches!(run.plan, Plan::Open { .. }),
        plan: Some(run.plan),
        http2: run.http2,
        interrupted: run.engine.interrupted,
        schedule: run.schedule,
        warnings: run.engine.warnings,
        resources,
        target_counters: run.target_counters,
        streams,
        generator_saturated_s: if run.generator_cpu.saturated { run.generator_cpu.saturated_seconds.max(1) } else { 0 },
        has_histograms: true,
        lag: run.generator_lag,
    }
}

/// Splits one CSV line the way Python's csv module writes it (quotes around fields with commas).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// A Locust error text as a failure kind: loadsuite's own `kind: message`, an HTTP status, or the
/// transport failure it names.
fn locust_kind(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    if let Some((kind, _)) = error.split_once(": ")
        && !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return kind.to_owned();
    }
    for code in ["model_not_found", "rate_limit_exceeded", "server_busy", "invalid_api_key"] {
        if lower.contains(code) {
            return code.to_owned();
        }
    }
    if let Some(status) =
        lower.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 3 && (w.starts_with('4') || w.starts_with('5')))
        && (lower.contains("error") || lower.contains("status"))
    {
        return format!("http_{status}");
    }
    if lower.contains("refused") {
        "connect_refused".into()
    } else if lower.contains("timeout") || lower.contains("timed out") {
        "timeout".into()
    } else if lower.contains("reset") || lower.contains("disconnected") || lower.contains("aborted") {
        "connection_reset".into()
    } else {
        "locust_error".into()
    }
}

/// The `_failures.csv` beside a Locust `_stats.csv`.
fn failures_path(stats: &Path) -> Option<PathBuf> {
    let name = stats.file_name()?.to_str()?;
    Some(stats.with_file_name(format!("{}_failures.csv", name.strip_suffix("_stats.csv")?)))
}

/// A Locust `_stats.csv` (and its `_failures.csv` when present): one stage; percentiles from the
/// CSV columns (every request's, Locust's convention); no histogram.
fn read_locust(path: &Path) -> Result<RunMeasures, InputError> {
    let shown = path.display().to_string();
    let text = crate::formats::read_text(path)?;
    let invalid = |message: String| InputError::invalid(&shown, message);
    let mut lines = text.lines();
    let header = csv_fields(lines.next().unwrap_or(""));
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
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
                .map(|p| (i, crate::formats::histogram::quantile_key(p / 100.0)))
        })
        .collect();
    let mut stage = BTreeMap::new();
    for (number, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields = csv_fields(line);
        let at = |i: usize| fields.get(i).map_or("", String::as_str);
        if at(n) == "Aggregated" {
            continue;
        }
        let count = |i: usize| {
            at(i).parse::<u64>().map_err(|_| {
                invalid(format!("line {}: `{}` is not a count (column `{}`)", number + 2, at(i), header[i]))
            })
        };
        let (requests, failures) = (count(rc)?, count(fc)?);
        if failures > requests {
            return Err(invalid(format!("line {}: more failures ({failures}) than requests ({requests})", number + 2)));
        }
        let requests_per_second =
            at(rps).parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0).ok_or_else(|| {
                invalid(format!("line {}: `{}` is not a rate (column `Requests/s`)", number + 2, at(rps)))
            })?;
        let measure = EndpointMeasure {
            method: at(t).to_owned(),
            name: at(n).to_owned(),
            requests,
            failures,
            requests_per_second,
            latency_ms: quantiles
                .iter()
                .filter_map(|(i, k)| at(*i).parse::<f64>().ok().map(|v| (k.clone(), v)))
                .collect(),
            runs: vec![RunFigures {
                requests,
                failures,
                p95_ms: at(column("95%")?).parse::<f64>().ok(),
                ttft_p95_ms: None,
            }],
            ..EndpointMeasure::default()
        };
        stage.insert(key(at(t), at(n)), measure);
    }
    if let Some(failures) = failures_path(path).filter(|p| p.exists()) {
        let text = crate::formats::read_text(&failures)?;
        let mut rows = text.lines();
        let header = csv_fields(rows.next().unwrap_or(""));
        let col = |name: &str| header.iter().position(|h| h == name);
        if let (Some(m), Some(nm), Some(err), Some(occ)) =
            (col("Method"), col("Name"), col("Error"), col("Occurrences"))
        {
            for row in rows.filter(|l| !l.trim().is_empty()) {
                let f = csv_fields(row);
                let at = |i: usize| f.get(i).map_or("", String::as_str);
                if let Some(measure) = stage.get_mut(&key(at(m), at(nm))) {
                    let kind = locust_kind(at(err));
                    *measure.failure_kinds.entry(kind.clone()).or_default() += at(occ).parse::<u64>().unwrap_or(0);
                    measure.failure_messages.entry(kind).or_insert_with(|| at(err).to_owned());
                }
            }
        }
    }
    let scenario =
        path.file_name().and_then(|f| f.to_str()).unwrap_or("locust").trim_end_matches("_stats.csv").to_owned();
    Ok(RunMeasures {
        scenario,
        run_id: None,
        stages: BTreeMap::from([(0, stage)]),
        plan: None,
        http2: Vec::new(),
        open_model: false,
        interrupted: false,
        schedule: Schedule::default(),
        warnings: Vec::new(),
        resources: Vec::new(),
        target_counters: BTreeMap::new(),
        generator_saturated_s: 0,
        streams: Vec::new(),
        has_histograms: false,
        lag: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_python_quoting() {
        assert_eq!(csv_fields("a,\"b,c\",\"d\"\"e\""), ["a", "b,c", "d\"e"]);
    }

    #[test]
    fn locust_errors_become_kinds() {
        assert_eq!(locust_kind("HTTPError('404 Client Error: NOT FOUND for url: /v1/models/x')"), "http_404");
        assert_eq!(locust_kind("model_not_found: The model `x` does not exist"), "model_not_found");
        assert_eq!(locust_kind("ConnectionRefusedError(111, 'Connection refused')"), "connect_refused");
        assert_eq!(
            locust_kind("CatchResponseError('{\"error\": {\"code\": \"model_not_found\"}}')"),
            "model_not_found"
        );
    }
}
