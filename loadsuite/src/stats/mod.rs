//! Statistics: HDR histograms (microseconds, 3 significant digits) per (method, name), per stage
//! and in total, failures by stage, endpoint and kind with their first message, and a 1-second
//! time series.
//!
//! Successful and failed requests' latencies are kept apart: a fast 404 must not make an endpoint
//! look quick, and verdicts judge the latency of the answers users actually got. Locust's
//! convention (every request in one latency figure) is rebuilt for its CSVs by merging the two.
//!
//! Memory depends on the number of endpoints, stages and seconds, never on the request count.

pub(crate) mod failure;
mod second;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

pub(crate) use failure::{Failure, FailureKind};

/// Highest latency recorded exactly: one hour.
const MAX_MICROS: u64 = 3_600_000_000;

/// A fresh latency histogram.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// (method, name): one statistics row.
pub(crate) type EndpointKey = (String, String);

/// Counters and histograms of one row.
#[derive(Clone)]
pub struct Stats {
    /// Latency of successful requests in µs.
    pub latency: Histogram<u64>,
    /// Latency of failed requests in µs (including unfinished ones, up to the end of the run).
    pub failed_latency: Histogram<u64>,
    /// Requests.
    pub count: u64,
    /// Failed requests.
    pub failures: u64,
    /// Response bytes.
    pub bytes: u64,
    /// Time to first token in µs (streams).
    pub ttft: Histogram<u64>,
    /// Inter-token latency in µs (streams).
    pub inter_token: Histogram<u64>,
    /// Tokens per second × 1000 (streams).
    pub tokens_per_second: Histogram<u64>,
    /// Tasks made of steps (an agent turn): how many steps of each kind (`llm`, `tool`, as the
    /// task counts them) one iteration took.
    pub steps_per_iteration: BTreeMap<String, Histogram<u64>>,
}

/// A fresh histogram of step counts (0 to 100,000 per iteration; HDR histograms record 0 too).
pub(crate) fn count_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000, 3).expect("static bounds are valid")
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: histogram(),
            failed_latency: histogram(),
            count: 0,
            failures: 0,
            bytes: 0,
            ttft: histogram(),
            inter_token: histogram(),
            tokens_per_second: Histogram::new_with_bounds(1, 100_000_000, 3).expect("static bounds are valid"),
            steps_per_iteration: BTreeMap::new(),
        }
    }
}

impl Stats {
    fn add(&mut self, sample: &Sample<'_>) {
        let micros = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.count += 1;
        self.bytes += sample.bytes;
        if sample.failure.is_some() {
            self.failures += 1;
            self.failed_latency.saturating_record(micros);
        } else {
            self.latency.saturating_record(micros);
        }
        if let Some(stream) = &sample.stream {
            if let Some(ttft) = stream.ttft {
                self.ttft.saturating_record(ttft.as_micros().max(1) as u64);
            }
            for &gap in &stream.inter_token {
                self.inter_token.saturating_record(u64::from(gap.max(1)));
            }
            if stream.tokens_per_second > 0.0 {
                self.tokens_per_second.saturating_record((stream.tokens_per_second * 1000.0) as u64);
            }
        }
        for (kind, count) in &sample.step_counts {
            self.steps_per_iteration
                .entry((*kind).to_owned())
                .or_insert_with(count_histogram)
                .saturating_record(*count);
        }
    }

    /// Adds another row's numbers (histograms merge exactly).
    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        let _ = self.failed_latency.add(&other.failed_latency);
        let _ = self.ttft.add(&other.ttft);
        let _ = self.inter_token.add(&other.inter_token);
        let _ = self.tokens_per_second.add(&other.tokens_per_second);
        for (kind, h) in &other.steps_per_iteration {
            let _ = self.steps_per_iteration.entry(kind.clone()).or_insert_with(count_histogram).add(h);
        }
        self.count += other.count;
        self.failures += other.failures;
        self.bytes += other.bytes;
    }

    /// Successful requests.
    pub fn successes(&self) -> u64 {
        self.count - self.failures
    }

    /// A latency percentile of the successful requests in ms (q in 0..=1); 0 when none succeeded.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latency.is_empty() { 0.0 } else { self.latency.value_at_quantile(q) as f64 / 1000.0 }
    }

    /// Empties the row (a time-series second that ended), keeping its histograms' memory.
    fn clear(&mut self) {
        let histograms = [
            &mut self.latency,
            &mut self.failed_latency,
            &mut self.ttft,
            &mut self.inter_token,
            &mut self.tokens_per_second,
        ];
        for h in histograms.into_iter().filter(|h| !h.is_empty()) {
            h.reset();
        }
        self.steps_per_iteration.clear();
        (self.count, self.failures, self.bytes) = (0, 0, 0);
    }

    /// Every request's latency, successful or not: Locust's convention, for its CSV files.
    pub fn all_latency(&self) -> Histogram<u64> {
        let mut all = self.latency.clone();
        let _ = all.add(&self.failed_latency);
        all
    }
}

/// Stream measurements of one request.
#[derive(Debug, Clone, Default)]
pub struct StreamSample {
    /// Time to first content token.
    pub ttft: Option<Duration>,
    /// Gaps between content tokens in microseconds (at most `u32::MAX`, 71 minutes): 4 bytes a
    /// token, because every stream in flight holds its gaps until it ends (10,000 streams of 200
    /// tokens keep 8 MB of them, where `Duration`s took 32 MB and the cache misses with them).
    pub inter_token: Vec<u32>,
    /// Tokens over the generation time.
    pub tokens_per_second: f64,
}

/// One finished request (borrowing its row's names: recording allocates nothing for them).
#[derive(Debug, Clone)]
pub(crate) struct Sample<'a> {
    /// Row method.
    pub method: &'a str,
    /// Row name.
    pub name: &'a str,
    /// Latency (from the scheduled start in arrival-rate mode).
    pub latency: Duration,
    /// Response bytes.
    pub bytes: u64,
    /// Failure, if any.
    pub failure: Option<Failure>,
    /// Stream measurements.
    pub stream: Option<StreamSample>,
    /// A task made of steps: how many of each kind this iteration took (empty otherwise).
    pub step_counts: Vec<(&'static str, u64)>,
}

/// A failure group: one kind of failure of one endpoint in one stage.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FailureGroup {
    /// Stage index.
    pub stage: usize,
    /// Row method.
    pub method: String,
    /// Row name.
    pub name: String,
    /// Kind key.
    pub kind: String,
    /// HTTP status, when the kind has one.
    pub status: Option<u16>,
    /// Occurrences.
    pub count: u64,
    /// First message seen.
    pub message: String,
    /// Unix seconds of the first and last occurrence.
    pub first_seen: f64,
    /// Unix seconds of the last occurrence.
    pub last_seen: f64,
}

/// Failure groups combined: groups of the same endpoint and kind (and stage, when `by_stage`)
/// become one, counts summed, the earliest message kept. Segments merge with `by_stage`; Locust's
/// failures file, which has no stages, without.
pub(crate) fn combine_failures(groups: impl IntoIterator<Item = FailureGroup>, by_stage: bool) -> Vec<FailureGroup> {
    let mut merged: BTreeMap<(usize, String, String, String), FailureGroup> = BTreeMap::new();
    for g in groups {
        let key = (if by_stage { g.stage } else { 0 }, g.method.clone(), g.name.clone(), g.kind.clone());
        match merged.get_mut(&key) {
            Some(m) => {
                m.count += g.count;
                if g.first_seen < m.first_seen {
                    m.message = g.message;
                    m.status = g.status;
                    m.first_seen = g.first_seen;
                    m.stage = g.stage.min(m.stage);
                }
                m.last_seen = m.last_seen.max(g.last_seen);
            }
            None => {
                merged.insert(key, g);
            }
        }
    }
    merged.into_values().collect()
}

/// One second of the time series, per row and aggregated.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SecondRow {
    /// Unix seconds.
    pub timestamp: u64,
    /// Users (or iterations in flight) at that second.
    pub users: u64,
    /// Stage index.
    pub stage: usize,
    /// Row method ("" for the aggregate).
    pub method: String,
    /// Row name (`Aggregated` for the aggregate).
    pub name: String,
    /// Requests in that second.
    pub requests: u64,
    /// Failures in that second.
    pub failures: u64,
    /// Percentiles of that second (ms) at the Locust quantiles, over every request (Locust's
    /// convention).
    pub percentiles_ms: Vec<f64>,
    /// Median of that second's successful requests (ms; 0 when none succeeded).
    pub success_p50_ms: f64,
    /// 95th percentile of that second's successful requests (ms).
    pub success_p95_ms: f64,
    /// 99th percentile of that second's successful requests (ms).
    pub success_p99_ms: f64,
    /// Totals so far: requests, failures.
    pub total_requests: u64,
    /// Total failures so far.
    pub total_failures: u64,
    /// Totals so far: median, average, min, max (ms) and average size.
    pub total_median_ms: f64,
    /// Average so far.
    pub total_average_ms: f64,
    /// Min so far.
    pub total_min_ms: f64,
    /// Max so far.
    pub total_max_ms: f64,
    /// Average content size so far.
    pub total_average_bytes: f64,
}

/// Locust's reporting quantiles.
pub(crate) const QUANTILES: [f64; 11] = [0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0];

/// Rows by method, then name: looked up with borrowed strings, so recording allocates nothing
/// once a row exists.
type Rows = BTreeMap<String, BTreeMap<String, Stats>>;

fn row_of<'a>(rows: &'a mut Rows, method: &str, name: &str) -> &'a mut Stats {
    if !rows.get(method).is_some_and(|names| names.contains_key(name)) {
        rows.entry(method.to_owned()).or_default().insert(name.to_owned(), Stats::default());
    }
    rows.get_mut(method).and_then(|names| names.get_mut(name)).expect("inserted above")
}

fn flatten(rows: &Rows) -> impl Iterator<Item = (EndpointKey, &Stats)> {
    rows.iter().flat_map(|(m, names)| names.iter().map(move |(n, s)| ((m.clone(), n.clone()), s)))
}

/// How often one kind of failure happened in one stage and row, and its first message.
#[derive(Debug, Clone)]
struct Tally {
    count: u64,
    message: String,
    first_seen: f64,
    last_seen: f64,
}

#[derive(Default)]
struct Inner {
    users: u64,
    total: Rows,
    per_stage: Vec<Rows>,
    second: Rows,
    /// Failures by stage, row and kind: kept as [`FailureKind`]s until a snapshot writes them.
    failures: BTreeMap<(usize, EndpointKey, FailureKind), Tally>,
    history: Vec<SecondRow>,
    schedule: Schedule,
}

/// How an arrival-rate (open) plan's schedule was kept: every scheduled iteration is started on
/// time, started late, or dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Schedule {
    /// Iterations the plan scheduled.
    pub scheduled: u64,
    /// Started more than [`crate::engine::LATE_AFTER`] after their moment.
    pub late: u64,
    /// Not started at all (max in flight reached).
    pub dropped: u64,
}

impl Schedule {
    /// Dropped or late iterations as a fraction of the scheduled ones (0 when none were scheduled).
    pub fn missed_fraction(&self) -> f64 {
        if self.scheduled == 0 { 0.0 } else { (self.dropped + self.late) as f64 / self.scheduled as f64 }
    }
}

/// The run's recorder, shared by every worker.
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
    stage: AtomicUsize,
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Everything recorded, for the reporters.
pub struct Snapshot {
    /// Totals per row.
    pub total: BTreeMap<EndpointKey, Stats>,
    /// Per stage and row.
    pub per_stage: BTreeMap<(usize, EndpointKey), Stats>,
    /// Failure groups.
    pub failures: Vec<FailureGroup>,
    /// The time series.
    pub history: Vec<SecondRow>,
    /// How the arrival-rate schedule was kept (all zero for closed plans).
    pub schedule: Schedule,
}

impl Snapshot {
    /// All rows merged.
    pub fn aggregate(&self) -> Stats {
        let mut all = Stats::default();
        self.total.values().for_each(|s| all.merge(s));
        all
    }
}

impl Recorder {
    /// Records one request in the current stage.
    pub(crate) fn record(&self, sample: Sample<'_>) {
        self.record_at(sample, self.stage());
    }

    /// The current stage.
    pub(crate) fn stage(&self) -> usize {
        self.stage.load(Ordering::Relaxed)
    }

    /// Records one request in stage `stage` (an unfinished request belongs to the stage it was
    /// sent in).
    pub(crate) fn record_at(&self, sample: Sample<'_>, stage: usize) {
        let mut inner = self.inner.lock();
        let (method, name) = (sample.method, sample.name);
        row_of(&mut inner.total, method, name).add(&sample);
        if inner.per_stage.len() <= stage {
            inner.per_stage.resize_with(stage + 1, Rows::default);
        }
        row_of(&mut inner.per_stage[stage], method, name).add(&sample);
        row_of(&mut inner.second, method, name).add(&sample);
        if let Some(failure) = &sample.failure {
            let key = (stage, (method.to_owned(), name.to_owned()), failure.kind.clone());
            let now = unix_now();
            let tally = inner.failures.entry(key).or_insert_with(|| Tally {
                count: 0,
                message: failure.message.clone(),
                first_seen: now,
                last_seen: now,
            });
            tally.count += 1;
            tally.last_seen = now;
        }
    }

    /// Marks the start of stage `index`.
    pub(crate) fn set_stage(&self, index: usize) {
        self.stage.store(index, Ordering::Relaxed);
    }

    /// Sets the current user (or in-flight) count.
    pub(crate) fn set_users(&self, users: u64) {
        self.inner.lock().users = users;
    }

    /// Counts one scheduled arrival-rate iteration, and whether it was dropped.
    pub(crate) fn count_scheduled(&self, dropped: bool) {
        let mut inner = self.inner.lock();
        inner.schedule.scheduled += 1;
        inner.schedule.dropped += u64::from(dropped);
    }

    /// Counts a scheduled iteration that began late.
    pub(crate) fn count_late(&self) {
        self.inner.lock().schedule.late += 1;
    }

    /// Closes the current second: appends its rows to the time series and empties the second's
    /// figures in place (their memory is kept for the next second).
    pub(crate) fn tick(&self) {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let rows = second::rows(unix_now() as u64, inner.users, self.stage(), &inner.total, &inner.second);
        inner.history.extend(rows);
        for stats in inner.second.values_mut().flat_map(BTreeMap::values_mut) {
            stats.clear();
        }
    }

    /// Everything so far.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock();
        Snapshot {
            total: flatten(&inner.total).map(|(k, s)| (k, s.clone())).collect(),
            per_stage: inner
                .per_stage
                .iter()
                .enumerate()
                .flat_map(|(i, rows)| flatten(rows).map(move |(k, s)| ((i, k), s.clone())))
                .collect(),
            // Kinds become their report keys only here; kinds sharing a key (one error code
            // under two statuses) are one group, as reports show them.
            failures: combine_failures(
                inner.failures.iter().map(|((stage, (method, name), kind), t)| FailureGroup {
                    stage: *stage,
                    method: method.clone(),
                    name: name.clone(),
                    kind: kind.key(),
                    status: kind.status(),
                    count: t.count,
                    message: t.message.clone(),
                    first_seen: t.first_seen,
                    last_seen: t.last_seen,
                }),
                true,
            ),
            history: inner.history.clone(),
            schedule: inner.schedule,
        }
    }
}

impl Recorder {
    /// One line for live progress: stage, users, last-second requests/s, p50/p95, failure %.
    pub(crate) fn progress_line(&self) -> String {
        let inner = self.inner.lock();
        let last = inner.history.iter().rev().find(|r| r.name == "Aggregated");
        match last {
            Some(r) => format!(
                "stage {} users {} | {} req/s p50 {:.1} ms p95 {:.1} ms | failures {:.1}%",
                r.stage + 1,
                r.users,
                r.requests,
                r.percentiles_ms.first().copied().unwrap_or(0.0),
                r.percentiles_ms.get(5).copied().unwrap_or(0.0),
                if r.total_requests == 0 { 0.0 } else { 100.0 * r.total_failures as f64 / r.total_requests as f64 }
            ),
            None => format!("stage {} users {}", self.stage() + 1, inner.users),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: FailureKind, message: &str) -> Sample<'static> {
        Sample {
            method: "POST",
            name: "/v1/chat/completions",
            latency: Duration::from_millis(3),
            bytes: 10,
            failure: Some(Failure::new(kind, message)),
            stream: None,
            step_counts: Vec::new(),
        }
    }

    #[test]
    fn each_second_shows_its_own_requests_and_the_totals_so_far_per_row_and_aggregated() {
        let recorder = Recorder::default();
        let sample = |name: &'static str, ms: u64, failed: bool| Sample {
            name,
            latency: Duration::from_millis(ms),
            failure: failed.then(|| Failure::new(FailureKind::Timeout, "slow")),
            ..self::failed(FailureKind::Timeout, "")
        };
        for (name, ms, failed) in [("a", 10, false), ("a", 30, false), ("a", 50, true), ("b", 20, false)] {
            recorder.record_at(sample(name, ms, failed), 0);
        }
        recorder.tick();
        recorder.record_at(sample("b", 40, false), 0);
        recorder.tick();
        let history = recorder.snapshot().history;
        let shown: Vec<_> = history
            .iter()
            .map(|r| {
                let figures =
                    (r.name.as_str(), r.requests, r.failures, r.percentiles_ms[10], r.success_p99_ms, r.total_requests);
                (figures, r.total_max_ms)
            })
            .collect();
        let close = |a: f64, b: f64| (a - b).abs() < 0.1;
        let expected = [
            // Second 1: every request counts in the percentiles (the failed 50 ms too), the
            // successful ones in the success figures; the aggregate sums the rows.
            (("a", 3, 1, 50.0, 30.0, 3), 50.0),
            (("b", 1, 0, 20.0, 20.0, 1), 20.0),
            (("Aggregated", 4, 1, 50.0, 30.0, 4), 50.0),
            // Second 2: `a` was quiet; the totals go on.
            (("a", 0, 0, 0.0, 0.0, 3), 50.0),
            (("b", 1, 0, 40.0, 40.0, 2), 40.0),
            (("Aggregated", 1, 0, 40.0, 40.0, 5), 50.0),
        ];
        assert_eq!(shown.len(), expected.len(), "{shown:?}");
        for (((name, n, f, p100, p99, total), max), want) in shown.iter().zip(expected) {
            let ((w_name, w_n, w_f, w_p100, w_p99, w_total), w_max) = want;
            assert_eq!((*name, *n, *f, *total), (w_name, w_n, w_f, w_total), "{shown:?}");
            assert!(close(*p100, w_p100) && close(*p99, w_p99) && close(*max, w_max), "{shown:?}");
        }
    }

    #[test]
    fn failures_are_kept_by_kind_and_written_by_report_key() {
        let recorder = Recorder::default();
        let model = |status| FailureKind::Http { status, code: Some("model_not_found".into()) };
        recorder.record_at(failed(model(404), "first"), 0);
        std::thread::sleep(Duration::from_millis(2));
        recorder.record_at(failed(model(400), "later"), 0);
        recorder.record_at(failed(model(404), "again"), 0);
        recorder.record_at(failed(FailureKind::Timeout, "slow"), 0);
        recorder.record_at(failed(FailureKind::Timeout, "slow in stage 2"), 1);
        let groups = recorder.snapshot().failures;
        let summary: Vec<(usize, &str, Option<u16>, u64, &str)> =
            groups.iter().map(|g| (g.stage, g.kind.as_str(), g.status, g.count, g.message.as_str())).collect();
        // One error code under two statuses is one group, with the first failure's status and
        // message; stages stay apart.
        assert_eq!(
            summary,
            [
                (0, "model_not_found", Some(404), 3, "first"),
                (0, "timeout", None, 1, "slow"),
                (1, "timeout", None, 1, "slow in stage 2")
            ]
        );
    }
}
