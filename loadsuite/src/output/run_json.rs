//! `run.json`: everything a run measured, in a versioned format (see `loadsuite/RUN_FORMAT.md`).
//! Histograms are serialized (HdrHistogram V2, base64) so runs can be merged and re-analysed.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use crate::engine::EngineReport;
use crate::monitor::CpuReport;
use crate::plan::Plan;
use crate::segment::Segment;
use crate::stats::{FailureGroup, QUANTILES, SecondRow, Snapshot, Stats};

/// Format identifier and version of `run.json`.
pub const FORMAT: &str = "loadsuite-run";
/// Current version.
pub const VERSION: u32 = 1;

/// Base64 of the V2 serialization of a histogram.
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(histogram, &mut bytes).expect("serializing to memory succeeds");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram serialized by [`encode`], decoded.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    use hdrhistogram::serialization::Deserializer;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// Numbers of one endpoint (overall or in one stage).
#[derive(Debug, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Row method.
    pub method: String,
    /// Row name.
    pub name: String,
    /// Stage index; absent for the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    /// Latency percentiles in ms, keyed `p50` ... `p100`.
    pub latency_ms: BTreeMap<String, f64>,
    /// Mean latency in ms.
    pub mean_ms: f64,
    /// Serialized latency histogram (µs).
    pub histogram: String,
    /// Streams: time to first token percentiles in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<BTreeMap<String, f64>>,
    /// Streams: inter-token latency percentiles in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_token_ms: Option<BTreeMap<String, f64>>,
    /// Streams: mean tokens per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Streams: serialized histograms (µs; tokens/s × 1000) so merged runs stay exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_histograms: Option<StreamHistograms>,
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

/// Percentiles `p50` ... `p100` of a histogram, divided by `scale`.
pub fn quantile_map(h: &Histogram<u64>, scale: f64) -> BTreeMap<String, f64> {
    QUANTILES
        .iter()
        .map(|q| (format!("p{}", (q * 100.0 * 100.0).round() / 100.0), h.value_at_quantile(*q) as f64 / scale))
        .collect()
}

impl EndpointRecord {
    /// The record of `stats` over `seconds`.
    pub fn new(method: &str, name: &str, stage: Option<usize>, stats: &Stats, seconds: f64) -> Self {
        let streamed = !stats.ttft.is_empty();
        EndpointRecord {
            method: method.to_owned(),
            name: name.to_owned(),
            stage,
            requests: stats.count,
            failures: stats.failures,
            requests_per_second: stats.count as f64 / seconds.max(1e-9),
            average_bytes: if stats.count == 0 { 0.0 } else { stats.bytes as f64 / stats.count as f64 },
            latency_ms: quantile_map(&stats.latency, 1000.0),
            mean_ms: stats.latency.mean() / 1000.0,
            histogram: encode(&stats.latency),
            ttft_ms: streamed.then(|| quantile_map(&stats.ttft, 1000.0)),
            inter_token_ms: (!stats.inter_token.is_empty()).then(|| quantile_map(&stats.inter_token, 1000.0)),
            tokens_per_second: (!stats.tokens_per_second.is_empty()).then(|| stats.tokens_per_second.mean() / 1000.0),
            bytes: stats.bytes,
            stream_histograms: streamed.then(|| StreamHistograms {
                ttft: encode(&stats.ttft),
                inter_token: encode(&stats.inter_token),
                tokens_per_second: encode(&stats.tokens_per_second),
            }),
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
        stats.bytes = self.bytes;
        if let Some(h) = &self.stream_histograms {
            stats.ttft = decode(&h.ttft)?;
            stats.inter_token = decode(&h.inter_token)?;
            stats.tokens_per_second = decode(&h.tokens_per_second)?;
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
#[derive(Debug, Serialize, Deserialize)]
pub struct RunFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
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
    /// The plan that ran.
    pub plan: Plan,
    /// Stage timings.
    pub engine: EngineReport,
    /// Per endpoint, whole run.
    pub endpoints: Vec<EndpointRecord>,
    /// Per endpoint and stage.
    pub stage_endpoints: Vec<EndpointRecord>,
    /// All endpoints together.
    pub aggregate: EndpointRecord,
    /// Failures by endpoint and kind.
    pub failures: Vec<FailureGroup>,
    /// Arrival-rate: iterations started late / dropped.
    pub late_iterations: u64,
    /// Dropped iterations.
    pub dropped_iterations: u64,
    /// The 1-second series.
    pub time_series: Vec<SecondRow>,
    /// The generator's own CPU.
    pub generator_cpu: CpuReport,
    /// CPU and memory of the watched containers and processes (see `resources`).
    #[serde(default)]
    pub resources: Vec<crate::resources::ResourceSeries>,
    /// Why resource sampling was partial, when it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_notes: Vec<String>,
}

/// Builds a run file from what was recorded: a run's scenario and numbers, or the sum of segments'.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    scenario: String,
    description: String,
    targets: BTreeMap<String, String>,
    plan: Plan,
    snapshot: &Snapshot,
    engine: EngineReport,
    started_at: f64,
    seed: u64,
    cpu: CpuReport,
) -> RunFile {
    let seconds = engine.duration_s;
    let stage_seconds = |i: usize| engine.stages.get(i).map_or(seconds, |s| s.duration_s);
    RunFile {
        format: FORMAT.into(),
        version: VERSION,
        scenario,
        description,
        started_at,
        duration_s: seconds,
        seed,
        segment: None,
        segments: Vec::new(),
        targets,
        plan,
        endpoints: snapshot.total.iter().map(|((m, n), s)| EndpointRecord::new(m, n, None, s, seconds)).collect(),
        stage_endpoints: snapshot
            .per_stage
            .iter()
            .map(|((stage, (m, n)), s)| EndpointRecord::new(m, n, Some(*stage), s, stage_seconds(*stage)))
            .collect(),
        aggregate: EndpointRecord::new("", "Aggregated", None, &snapshot.aggregate(), seconds),
        failures: snapshot.failures.clone(),
        late_iterations: snapshot.late,
        dropped_iterations: snapshot.dropped,
        time_series: snapshot.history.clone(),
        generator_cpu: cpu,
        resources: Vec::new(),
        resource_notes: Vec::new(),
        engine,
    }
}

/// Latency percentiles in ms of a µs histogram.
pub fn quantiles(h: &Histogram<u64>) -> BTreeMap<String, f64> {
    quantile_map(h, 1000.0)
}
