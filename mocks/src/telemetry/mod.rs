//! What every mock records about the requests it served: a bounded journal and counters.
//!
//! One [`Telemetry`] per service feeds `/__admin/journal`, `/__admin/counters` and `/metrics`, so
//! the three views can never disagree. Injected faults are always told apart from genuine errors.

mod journal;
mod prometheus;

pub use journal::JournalEntry;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

/// Key of the per-request counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RequestKey {
    /// HTTP method.
    pub method: String,
    /// Route template (`/v1/models/{id}`) or `unmatched`.
    pub route: String,
    /// Status code sent (0 when the connection was broken without a status).
    pub status: u16,
    /// Whether the answer came from an injected fault.
    pub injected: bool,
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<RequestKey, u64>,
    latency_seconds: BTreeMap<String, (f64, u64)>,
    faults: BTreeMap<String, u64>,
    events: BTreeMap<(String, String), u64>,
}

/// Journal and counters of one service.
pub struct Telemetry {
    service: &'static str,
    capacity: usize,
    seq: AtomicU64,
    journal: Mutex<VecDeque<JournalEntry>>,
    counters: Mutex<Counters>,
}

/// The counters as the admin API shows them.
#[derive(Debug, Serialize)]
pub struct CountersView {
    /// The service name.
    pub service: &'static str,
    /// All requests seen.
    pub total_requests: u64,
    /// Requests answered (or broken) by an injected fault.
    pub injected_faults: u64,
    /// Requests with a genuine (not injected) error status.
    pub genuine_errors: u64,
    /// Requests per method, route, status and origin.
    pub requests: Vec<RequestCount>,
    /// Firings per fault rule.
    pub faults: BTreeMap<String, u64>,
    /// Service events (e.g. `unknown_model`) by value.
    pub events: BTreeMap<String, BTreeMap<String, u64>>,
}

/// One row of [`CountersView::requests`].
#[derive(Debug, Serialize)]
pub struct RequestCount {
    /// The key.
    #[serde(flatten)]
    pub key: RequestKey,
    /// How many.
    pub count: u64,
}

impl Telemetry {
    /// A telemetry store keeping at most `capacity` journal entries.
    pub fn new(service: &'static str, capacity: usize) -> Self {
        Telemetry {
            service,
            capacity: capacity.max(1),
            seq: AtomicU64::new(0),
            journal: Mutex::new(VecDeque::new()),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The service this telemetry belongs to.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Records one finished request.
    pub fn record(&self, mut entry: JournalEntry) {
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut c = self.counters.lock();
            let key = RequestKey {
                method: entry.method.clone(),
                route: entry.route.clone(),
                status: entry.status,
                injected: entry.injected,
            };
            *c.requests.entry(key).or_default() += 1;
            let lat = c.latency_seconds.entry(entry.route.clone()).or_default();
            lat.0 += entry.latency_ms / 1000.0;
            lat.1 += 1;
            for rule in &entry.faults {
                *c.faults.entry(rule.clone()).or_default() += 1;
            }
        }
        let mut journal = self.journal.lock();
        if journal.len() == self.capacity {
            journal.pop_front();
        }
        journal.push_back(entry);
    }

    /// Counts a service event, e.g. (`unknown_model`, `qwen2.5-14b-instruct`). Returns the new count.
    pub fn event(&self, event: &str, value: &str) -> u64 {
        let mut c = self.counters.lock();
        let n = c.events.entry((event.to_owned(), value.to_owned())).or_default();
        *n += 1;
        *n
    }

    /// The most recent `limit` journal entries, oldest first.
    pub fn journal(&self, limit: usize) -> Vec<JournalEntry> {
        let journal = self.journal.lock();
        journal.iter().skip(journal.len().saturating_sub(limit)).cloned().collect()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> CountersView {
        let c = self.counters.lock();
        let mut events: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((event, value), n) in &c.events {
            events.entry(event.clone()).or_default().insert(value.clone(), *n);
        }
        CountersView {
            service: self.service,
            total_requests: c.requests.values().sum(),
            injected_faults: c.requests.iter().filter(|(k, _)| k.injected).map(|(_, n)| n).sum(),
            genuine_errors: c.requests.iter().filter(|(k, _)| !k.injected && k.status >= 400).map(|(_, n)| n).sum(),
            requests: c.requests.iter().map(|(k, n)| RequestCount { key: k.clone(), count: *n }).collect(),
            faults: c.faults.clone(),
            events,
        }
    }

    /// Clears journal and counters.
    pub fn reset(&self) {
        self.journal.lock().clear();
        *self.counters.lock() = Counters::default();
    }
}
