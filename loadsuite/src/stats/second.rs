//! The per-second time series: each second's rows (per endpoint and aggregated) from the running
//! totals and the second's own figures. It runs once a second under the recorder's lock, on the
//! event loop that times every request, so it borrows the rows' histograms and sums only what the
//! series shows (requests and their latency): copying each row's five histograms (about 1 MB) and
//! merging its stream histograms into the aggregate made a tick cost 0.5-0.7 ms for one streamed
//! row, and 5-13 ms in a run's first seconds, while the copies' memory was new to the process.

use std::borrow::Cow;
use std::sync::LazyLock;

use hdrhistogram::Histogram;

use super::{EndpointKey, QUANTILES, Rows, SecondRow, Stats, flatten, histogram};

/// What the series shows of one row: its requests and their latency, borrowed.
#[derive(Clone, Copy)]
struct Requests<'a> {
    latency: &'a Histogram<u64>,
    failed: &'a Histogram<u64>,
    count: u64,
    failures: u64,
    bytes: u64,
}

impl<'a> Requests<'a> {
    fn of(stats: &'a Stats) -> Self {
        Requests {
            latency: &stats.latency,
            failed: &stats.failed_latency,
            count: stats.count,
            failures: stats.failures,
            bytes: stats.bytes,
        }
    }

    /// Every request's latency, successful or not (Locust's convention), copied only when some failed.
    fn all(&self) -> Cow<'a, Histogram<u64>> {
        if self.failed.is_empty() {
            return Cow::Borrowed(self.latency);
        }
        let mut all = self.latency.clone();
        let _ = all.add(self.failed);
        Cow::Owned(all)
    }
}

/// The aggregated row's requests: every row's summed.
struct Sums {
    latency: Histogram<u64>,
    failed: Histogram<u64>,
    count: u64,
    failures: u64,
    bytes: u64,
}

impl Sums {
    fn new() -> Self {
        Sums { latency: histogram(), failed: histogram(), count: 0, failures: 0, bytes: 0 }
    }

    fn add(&mut self, row: Requests<'_>) {
        let _ = self.latency.add(row.latency);
        let _ = self.failed.add(row.failed);
        self.count += row.count;
        self.failures += row.failures;
        self.bytes += row.bytes;
    }

    fn view(&self) -> Requests<'_> {
        Requests {
            latency: &self.latency,
            failed: &self.failed,
            count: self.count,
            failures: self.failures,
            bytes: self.bytes,
        }
    }
}

/// The rows of the second that just ended: one per row of `total` (with its figures in `second`,
/// none when it had no request), then the aggregate.
pub(super) fn rows(timestamp: u64, users: u64, stage: usize, total: &Rows, second: &Rows) -> Vec<SecondRow> {
    static QUIET: LazyLock<Stats> = LazyLock::new(Stats::default);
    let mut rows = Vec::new();
    let (mut all_second, mut all_total) = (Sums::new(), Sums::new());
    for (key, total) in flatten(total) {
        let current = second.get(&key.0).and_then(|names| names.get(&key.1)).unwrap_or(&QUIET);
        let (current, total) = (Requests::of(current), Requests::of(total));
        all_second.add(current);
        all_total.add(total);
        rows.push(row(timestamp, users, stage, &key, current, total));
    }
    let aggregate = (String::new(), "Aggregated".to_owned());
    rows.push(row(timestamp, users, stage, &aggregate, all_second.view(), all_total.view()));
    rows
}

fn row(timestamp: u64, users: u64, stage: usize, key: &EndpointKey, current: Requests, total: Requests) -> SecondRow {
    let ms = |us: u64| us as f64 / 1000.0;
    let success_ms = |q: f64| if current.latency.is_empty() { 0.0 } else { ms(current.latency.value_at_quantile(q)) };
    let all = current.all();
    let all_total = total.all();
    SecondRow {
        timestamp,
        users,
        stage,
        method: key.0.clone(),
        name: key.1.clone(),
        requests: current.count,
        failures: current.failures,
        percentiles_ms: QUANTILES
            .iter()
            .map(|q| if all.is_empty() { 0.0 } else { ms(all.value_at_quantile(*q)) })
            .collect(),
        success_p50_ms: success_ms(0.5),
        success_p95_ms: success_ms(0.95),
        success_p99_ms: success_ms(0.99),
        total_requests: total.count,
        total_failures: total.failures,
        total_median_ms: if all_total.is_empty() { 0.0 } else { ms(all_total.value_at_quantile(0.5)) },
        total_average_ms: if all_total.is_empty() { 0.0 } else { all_total.mean() / 1000.0 },
        total_min_ms: if all_total.is_empty() { 0.0 } else { ms(all_total.min()) },
        total_max_ms: if all_total.is_empty() { 0.0 } else { ms(all_total.max()) },
        total_average_bytes: if total.count == 0 { 0.0 } else { total.bytes as f64 / total.count as f64 },
    }
}
