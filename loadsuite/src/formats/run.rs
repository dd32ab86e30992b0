//! `run.json`: everything a run measured, in a versioned format (see `loadsuite/RUN_FORMAT.md`).
//! Histograms are serialized (HdrHistogram V2, base64) so runs can be merged and re-analysed.
//!
//! [`RunFile::new`] is the one place the engine's types become the file; [`read`] is the one way
//! any command reads a run back (merge, baselines, verdicts, the HTML report).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::InputError;
use super::histogram::{decode, encode, quantile_map};
use crate::engine::EngineReport;
use crate::monitor::{CpuReport, StageLag};
use crate::plan::Plan;
use crate::resources::ResourceSeries;
use crate::segment::Segment;
use crate::stats::{FailureGroup, Schedule, SecondRow, Snapshot, Stats};

/// Format identifier of `run.json`.
pub const FORMAT: &str = "loadsuite-run";
/// Current version. 2: latency figures are those of successful requests (failed ones apart),
/// failures are grouped per stage, unfinished requests are failures, the arrival schedule is one
/// object, and the engine reports class usage and warnings.
pub const VERSION: u32 = 2;

/// Numbers of one endpoint (overall or in one stage).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Row method.
    pub method: String,
    /// Row name.
    pub name: String,
    /// Stage index; absent for the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// Requests.
    pub requests: u64,
    /// Failures.
    pub failures: u64,
    /// Requests per second over the stage or run.
    pub requests_per_second: f64,
    /// Mean bytes per response.
    pub average_bytes: f64,
    /// Response bytes in all.
    #[serde(default)]
    pub bytes: u64,
    /// Latency percentiles of the successful requests in ms, keyed `p50` ... `p100`.
    pub latency_ms: BTreeMap<String, f64>,
    /// Mean latency of the successful requests in ms.
    pub mean_ms: f64,
    /// Serialized latency histogram of the successful requests (µs).
    pub histogram: String,
    /// Latency percentiles of the failed requests in ms (absent when none failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_latency_ms: Option<BTreeMap<String, f64>>,
    /// Serialized latency histogram of the failed requests (µs; absent when none failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_histogram: Option<String>,
    /// Streams: time to first token percentiles in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<BTreeMap<String, f64>>,
    /// Streams: inter-token latency percentiles in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_token_ms: Option<BTreeMap<String, f64>>,
    /// Streams: mean tokens per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Streams: serialized histograms (µs; tokens/s × 1000) so merged runs stay exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_histograms: Option<StreamHistograms>,
    /// Tasks made of steps (agent turns): steps of each kind per iteration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps_per_iteration: BTreeMap<String, StepCounts>,
}

/// The distribution of one kind of step per iteration (model calls per agent turn, say).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepCounts {
    /// Mean per iteration.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// Most in one iteration.
    pub max: u64,
    /// Serialized histogram, so merged runs stay exact.
    pub histogram: String,
}

/// Serialized stream histograms of one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamHistograms {
    /// Time to first token (µs).
    pub ttft: String,
    /// Inter-token latency (µs).
    pub inter_token: String,
    /// Tokens per second × 1000.
    pub tokens_per_second: String,
}

impl EndpointRecord {
    /// The record of `stats` over `seconds`.
    pub fn new(method: &str, name: &str, stage: Option<usize>, stats: &Stats, seconds: f64) -> Self {
        let streamed = !stats.ttft.is_empty();
        let failed = !stats.failed_latency.is_empty();
        EndpointRecord {
            method: method.to_owned(),
            name: name.to_owned(),
            stage,
            requests: stats.count,
            failures: stats.failures,
            requests_per_second: stats.count as f64 / seconds.max(1e-9),
            average_bytes: if stats.count == 0 { 0.0 } else { stats.bytes as f64 / stats.count as f64 },
            bytes: stats.bytes,
            latency_ms: quantile_map(&stats.latency, 1000.0),
            mean_ms: if stats.latency.is_empty() { 0.0 } else { stats.latency.mean() / 1000.0 },
            histogram: encode(&stats.latency),
            failed_latency_ms: failed.then(|| quantile_map(&stats.failed_latency, 1000.0)),
            failed_histogram: failed.then(|| encode(&stats.failed_latency)),
            ttft_ms: streamed.then(|| quantile_map(&stats.ttft, 1000.0)),
            inter_token_ms: (!stats.inter_token.is_empty()).then(|| quantile_map(&stats.inter_token, 1000.0)),
            tokens_per_second: (!stats.tokens_per_second.is_empty()).then(|| stats.tokens_per_second.mean() / 1000.0),
            stream_histograms: streamed.then(|| StreamHistograms {
                ttft: encode(&stats.ttft),
                inter_token: encode(&stats.inter_token),
                tokens_per_second: encode(&stats.tokens_per_second),
            }),
            steps_per_iteration: stats
                .steps_per_iteration
                .iter()
                .map(|(kind, h)| {
                    let counts = StepCounts {
                        mean: h.mean(),
                        p50: h.value_at_quantile(0.5),
                        p95: h.value_at_quantile(0.95),
                        max: h.max(),
                        histogram: encode(h),
                    };
                    (kind.clone(), counts)
                })
                .collect(),
        }
    }

    /// The statistics this record was made from (exact: histograms decoded); `None` when a
    /// histogram is missing or unreadable.
    pub fn to_stats(&self) -> Option<Stats> {
        let mut stats = Stats {
            latency: decode(&self.histogram)?,
            count: self.requests,
            failures: self.failures,
            ..Stats::default()
        };
        if let Some(failed) = &self.failed_histogram {
            stats.failed_latency = decode(failed)?;
        }
        stats.bytes = self.bytes;
        if let Some(h) = &self.stream_histograms {
            stats.ttft = decode(&h.ttft)?;
            stats.inter_token = decode(&h.inter_token)?;
            stats.tokens_per_second = decode(&h.tokens_per_second)?;
        }
        for (kind, counts) in &self.steps_per_iteration {
            stats.steps_per_iteration.insert(kind.clone(), decode(&counts.histogram)?);
        }
        Some(stats)
    }
}

/// One segment of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentSource {
    /// Which share it ran.
    pub segment: Segment,
    /// Its `run.json`.
    pub source: String,
    /// Unix seconds when its stages started.
    pub started_at: f64,
    /// Its requests.
    pub requests: u64,
    /// Its failures.
    pub failures: u64,
    /// Its generator's CPU.
    pub generator_cpu: CpuReport,
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// This run's identity (unique per run; a merge gets its own): baselines keep the ids of their
    /// runs, so a run is never compared with a baseline made from itself.
    pub run_id: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Unix seconds at the start.
    pub started_at: f64,
    /// Seconds the run lasted.
    pub duration_s: f64,
    /// Seed used.
    pub seed: u64,
    /// The share of the plan this run ran (`--segment I/N`); absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// The segments a merged run came from (`loadsuite merge`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentSource>,
    /// Target name -> URL.
    pub targets: BTreeMap<String, String>,
    /// The targets spoken to over HTTP/2 (h2c); absent: every target over HTTP/1.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http2: Vec<String>,
    /// The plan that ran.
    pub plan: Plan,
    /// Stage timings, class usage, warnings.
    pub engine: EngineReport,
    /// Per endpoint, whole run.
    pub endpoints: Vec<EndpointRecord>,
    /// Per endpoint and stage.
    pub stage_endpoints: Vec<EndpointRecord>,
    /// All endpoints together.
    pub aggregate: EndpointRecord,
    /// Failures by stage, endpoint and kind.
    pub failures: Vec<FailureGroup>,
    /// Open plans: how the arrival schedule was kept.
    pub schedule: Schedule,
    /// The 1-second series.
    pub time_series: Vec<SecondRow>,
    /// The generator's own CPU.
    pub generator_cpu: CpuReport,
    /// How late the generator's timers fired, per stage (a busier machine fires them later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generator_lag: Vec<StageLag>,
    /// CPU and memory of the watched containers and processes (see `resources`).
    #[serde(default)]
    pub resources: Vec<ResourceSeries>,
    /// Why resource sampling was partial, when it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_notes: Vec<String>,
    /// The scenario's own verdict thresholds (`[thresholds]`), which `report` and `compare` use
    /// unless given `--thresholds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<crate::verdict::Thresholds>,
    /// What each target counted itself over the run (targets exposing `/__admin/counters` or
    /// `/metrics`): the change from the run's start to its end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_counters: BTreeMap<String, crate::counters::TargetCounters>,
    /// The other files of the run (its CSVs), with their size and hash: what a reader checks to
    /// know they belong to this run.
    #[serde(default)]
    pub files: BTreeMap<String, FileMark>,
}

/// A file's size and content hash (FNV-1a, 64-bit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    /// Bytes.
    pub bytes: u64,
    /// FNV-1a of the content, hex.
    pub fnv1a: String,
}

impl FileMark {
    /// The mark of `content`.
    pub fn of(content: &[u8]) -> Self {
        FileMark { bytes: content.len() as u64, fnv1a: format!("{:016x}", common::fnv1a(content)) }
    }
}

/// Everything a run file is made of, as the engine and the run produce it.
pub struct RunParts<'a> {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Target name -> URL.
    pub targets: BTreeMap<String, String>,
    /// The targets spoken to over HTTP/2.
    pub http2: Vec<String>,
    /// The plan that ran (this segment's share for a segment run).
    pub plan: Plan,
    /// What was recorded.
    pub snapshot: &'a Snapshot,
    /// How the engine ran the plan.
    pub engine: EngineReport,
    /// Unix seconds at the start.
    pub started_at: f64,
    /// Seed used.
    pub seed: u64,
    /// The generator's own CPU.
    pub cpu: CpuReport,
    /// How late the generator's timers fired, per stage.
    pub lag: Vec<StageLag>,
    /// The share of the plan, for a segment run.
    pub segment: Option<Segment>,
    /// The segments of a merged run.
    pub segments: Vec<SegmentSource>,
    /// Watched containers and processes.
    pub resources: Vec<ResourceSeries>,
    /// Why resource sampling was partial.
    pub resource_notes: Vec<String>,
    /// The scenario's own verdict thresholds.
    pub thresholds: Option<crate::verdict::Thresholds>,
    /// The targets' own counters' change over the run.
    pub target_counters: BTreeMap<String, crate::counters::TargetCounters>,
}

impl RunFile {
    /// The file of a run (or of the sum of segments).
    pub fn new(parts: RunParts<'_>) -> RunFile {
        let RunParts { snapshot, engine, .. } = &parts;
        let seconds = engine.duration_s;
        let stage_seconds = |i: usize| engine.stages.get(i).map_or(seconds, |s| s.duration_s);
        RunFile {
            format: FORMAT.into(),
            version: VERSION,
            run_id: new_run_id(&parts.scenario, parts.started_at, parts.seed),
            endpoints: snapshot.total.iter().map(|((m, n), s)| EndpointRecord::new(m, n, None, s, seconds)).collect(),
            stage_endpoints: snapshot
                .per_stage
                .iter()
                .map(|((stage, (m, n)), s)| EndpointRecord::new(m, n, Some(*stage), s, stage_seconds(*stage)))
                .collect(),
            aggregate: EndpointRecord::new("", "Aggregated", None, &snapshot.aggregate(), seconds),
            failures: snapshot.failures.clone(),
            schedule: snapshot.schedule,
            time_series: snapshot.history.clone(),
            duration_s: seconds,
            scenario: parts.scenario,
            description: parts.description,
            started_at: parts.started_at,
            seed: parts.seed,
            segment: parts.segment,
            segments: parts.segments,
            targets: parts.targets,
            http2: parts.http2,
            plan: parts.plan,
            generator_cpu: parts.cpu,
            generator_lag: parts.lag,
            resources: parts.resources,
            resource_notes: parts.resource_notes,
            thresholds: parts.thresholds,
            target_counters: parts.target_counters,
            engine: parts.engine,
            files: BTreeMap::new(),
        }
    }

    /// Whether the run was stopped before its plan's end.
    pub fn interrupted(&self) -> bool {
        self.engine.interrupted
    }

    /// Failure groups summed over stages: per (method, name, kind), the earliest message kept.
    pub fn failures_by_endpoint(&self) -> Vec<FailureGroup> {
        crate::stats::combine_failures(self.failures.iter().cloned(), false)
    }
}

/// A run id: the scenario, start time, seed, process and a counter, hashed; unique per run.
fn new_run_id(scenario: &str, started_at: f64, seed: u64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let key = format!("{scenario}|{started_at}|{seed}|{}|{n}|{now}", std::process::id());
    format!("{:016x}", common::fnv1a(key.as_bytes()))
}

/// The `run.json` of a results directory, or the path itself when it names a file.
pub fn path_of(input: &Path) -> PathBuf {
    if input.is_dir() { input.join("run.json") } else { input.to_owned() }
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

/// Reads a run (a results directory or its `run.json`), refusing other formats and versions
/// with a message that says what to do.
pub fn read(input: &Path) -> Result<RunFile, InputError> {
    let file = path_of(input);
    let shown = file.display().to_string();
    let text = super::read_text(&file)?;
    let header: Header = serde_json::from_str(&text).map_err(|e| {
        InputError::invalid(&shown, format!("not JSON ({e}); give a results directory or its run.json"))
    })?;
    match (header.format.as_deref(), header.version) {
        (Some(FORMAT), Some(VERSION)) => {}
        (Some(FORMAT), Some(version)) if version < VERSION => {
            return Err(InputError::invalid(
                &shown,
                format!(
                    "run format {version} was written by an earlier loadsuite; this one reads format {VERSION} (latencies of successful requests, per-stage failures): run the scenario again"
                ),
            ));
        }
        (Some(FORMAT), Some(version)) => {
            return Err(InputError::invalid(
                &shown,
                format!("run format {version} is newer than this loadsuite reads ({VERSION}): use a newer loadsuite"),
            ));
        }
        _ => {
            return Err(InputError::invalid(
                &shown,
                format!(
                    "not a loadsuite run.json (format `{FORMAT}` expected); give a results directory or its run.json"
                ),
            ));
        }
    }
    let run: RunFile =
        serde_json::from_str(&text).map_err(|e| InputError::invalid(&shown, format!("damaged run.json: {e}")))?;
    // The CSVs beside run.json must be the ones this run wrote (a crash between two runs, or a
    // file copied in, would otherwise pass for one run).
    if let Some(dir) = file.parent() {
        for (name, mark) in &run.files {
            let Ok(content) = std::fs::read(dir.join(name)) else { continue };
            if FileMark::of(&content) != *mark {
                return Err(InputError::invalid(
                    &shown,
                    format!(
                        "{name} beside it does not belong to run {} (changed, or written by another run): the directory mixes runs; run the scenario again into an empty --out",
                        run.run_id
                    ),
                ));
            }
        }
    }
    for record in run.endpoints.iter().chain(&run.stage_endpoints) {
        if record.failures > record.requests {
            return Err(InputError::invalid(
                &shown,
                format!(
                    "`{} {}` has more failures ({}) than requests ({})",
                    record.method, record.name, record.failures, record.requests
                ),
            ));
        }
    }
    Ok(run)
}
