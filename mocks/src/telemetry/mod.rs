//! What every mock records about the requests it served: a bounded journal and counters.
//!
//! One [`Telemetry`] per service feeds `/__admin/journal`, `/__admin/counters` and `/metrics`, so
//! the three views can never disagree. Injected faults are always told apart from genuine errors.
//! Recording is on every request's path, so it allocates nothing once a route has been seen.

pub(crate) mod bounded;
mod journal;
mod prometheus;
mod routes;

pub(crate) use journal::{JournalEntry, RequestRecord};
pub(crate) use routes::RouteTemplates;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use serde::Serialize;
use tokio::time::Instant;

/// The status a request is recorded with when its client went away before the answer.
const CLIENT_ABORTED: u16 = 499;

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

/// Counters of one route.
#[derive(Default)]
struct RouteStats {
    latency_seconds: f64,
    count: u64,
    /// (method, status, injected) -> requests.
    outcomes: HashMap<(String, u16, bool), u64>,
}

#[derive(Default)]
struct Counters {
    /// By route template: a small set the service itself names, so a fast hash is safe.
    routes: FxHashMap<String, RouteStats>,
    faults: HashMap<String, u64>,
    events: BTreeMap<(String, String), u64>,
}

/// The journal as a ring: once full, the oldest entry is overwritten in place, reusing its buffers
/// (recording is on every request's path; allocating and freeing there cost ~15% of throughput).
#[derive(Default)]
struct State {
    ring: Ring,
    counters: Counters,
}

#[derive(Default)]
struct Ring {
    entries: Vec<JournalEntry>,
    next: usize,
}

/// Journal and counters of one service.
pub struct Telemetry {
    service: &'static str,
    capacity: usize,
    seq: AtomicU64,
    /// A monotonic instant and the wall-clock milliseconds it stood for: requests are stamped from
    /// the instant they already take, without reading the wall clock again.
    epoch: (Instant, u64),
    /// Journal and counters under one lock: one acquisition per recorded request.
    state: Mutex<State>,
    /// When a warning about client input was last logged (ms on the epoch): at most one a second.
    last_warning_ms: AtomicU64,
    /// Tokens sent in streamed answers (a lock-free counter: streams add to it once per token).
    streamed_tokens: AtomicU64,
    /// Streamed tokens that left late through the service's own scheduling delay.
    late_stream_tokens: AtomicU64,
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
    /// Requests with a genuine (not injected) error status, client aborts apart.
    pub genuine_errors: u64,
    /// Requests whose client went away before the answer (recorded as 499 `client_aborted`).
    pub client_aborts: u64,
    /// Requests per method, route, status and origin, sorted.
    pub requests: Vec<RequestCount>,
    /// Firings per fault rule.
    pub faults: BTreeMap<String, u64>,
    /// Service events (e.g. `unknown_model`) by value.
    pub events: BTreeMap<String, BTreeMap<String, u64>>,
    /// Tokens sent in streamed answers so far (the gateway's delivered tokens, for tokens/s).
    pub streamed_tokens: u64,
    /// Of those, the tokens (first tokens included) that left more than 5 ms after they were due
    /// because the service itself was busy: delay a client measures in TTFT or token gaps that
    /// no configured pacing asked for, so a benchmark can tell the target's lag from its own.
    pub late_stream_tokens: u64,
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
        let unix_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Telemetry {
            service,
            capacity: capacity.max(1),
            seq: AtomicU64::new(0),
            epoch: (Instant::now(), unix_ms),
            state: Mutex::new(State::default()),
            last_warning_ms: AtomicU64::new(0),
            streamed_tokens: AtomicU64::new(0),
            late_stream_tokens: AtomicU64::new(0),
        }
    }

    /// Whether a warning about client input may be logged now: at most one a second per service,
    /// so a flood of bad requests cannot flood the log.
    pub fn may_warn(&self) -> bool {
        let now = self.unix_ms(Instant::now());
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 1000
            && self.last_warning_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Unix milliseconds at `at`, for journal stamps.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        let (instant, unix_ms) = self.epoch;
        unix_ms + at.saturating_duration_since(instant).as_millis() as u64
    }

    /// The service this telemetry belongs to.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Records one finished request.
    pub fn record(&self, record: &RequestRecord<'_>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut state = self.state.lock();
        {
            let c = &mut state.counters;
            let stats = match c.routes.get_mut(record.route) {
                Some(stats) => stats,
                None => c.routes.entry(record.route.to_owned()).or_default(),
            };
            stats.latency_seconds += record.latency_ms / 1000.0;
            stats.count += 1;
            let outcome = stats
                .outcomes
                .iter_mut()
                .find(|((m, s, i), _)| m == record.method && *s == record.status && *i == record.injected);
            match outcome {
                Some((_, n)) => *n += 1,
                None => {
                    // Methods are client-chosen tokens: bounded in length and in number per route.
                    let methods = stats.outcomes.keys().map(|(m, _, _)| m).collect::<std::collections::HashSet<_>>();
                    let method = if methods.contains(&record.method.to_owned())
                        || methods.len() < bounded::MAX_METHODS_PER_ROUTE
                    {
                        bounded::bounded(record.method, 24).into_owned()
                    } else {
                        bounded::OTHER_VALUES.to_owned()
                    };
                    *stats.outcomes.entry((method, record.status, record.injected)).or_default() += 1;
                }
            }
            for rule in record.faults {
                match c.faults.get_mut(rule.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        c.faults.insert(rule.clone(), 1);
                    }
                }
            }
        }
        let ring = &mut state.ring;
        if ring.entries.len() < self.capacity {
            ring.entries.push(JournalEntry::default());
        }
        let index = ring.next;
        ring.entries[index].fill(seq, record);
        ring.next = (index + 1) % self.capacity;
    }

    /// Counts a service event, e.g. (`unknown_model`, `qwen2.5-14b-instruct`). Returns the new count
    /// of that value. Values are client-chosen: each is bounded in length, and past
    /// `bounded::MAX_EVENT_VALUES` distinct values of one event the rest are counted together.
    pub fn event(&self, event: &str, value: &str) -> u64 {
        let value = bounded::text(value);
        let mut state = self.state.lock();
        let events = &mut state.counters.events;
        let key = (event.to_owned(), value.into_owned());
        if !events.contains_key(&key) {
            let distinct =
                events.range((event.to_owned(), String::new())..).take_while(|((e, _), _)| e == event).count();
            if distinct >= bounded::MAX_EVENT_VALUES {
                let n = events.entry((event.to_owned(), bounded::OTHER_VALUES.to_owned())).or_default();
                *n += 1;
                return *n;
            }
        }
        let n = events.entry(key).or_default();
        *n += 1;
        *n
    }

    /// The most recent `limit` journal entries, oldest first.
    pub fn journal(&self, limit: usize) -> Vec<JournalEntry> {
        let state = self.state.lock();
        let ring = &state.ring;
        let len = ring.entries.len();
        let oldest = if len < self.capacity { 0 } else { ring.next };
        (0..len).skip(len.saturating_sub(limit)).map(|i| ring.entries[(oldest + i) % len].clone()).collect()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> CountersView {
        let state = self.state.lock();
        let c = &state.counters;
        let mut requests: Vec<RequestCount> = c
            .routes
            .iter()
            .flat_map(|(route, stats)| {
                stats.outcomes.iter().map(|((method, status, injected), n)| RequestCount {
                    key: RequestKey {
                        method: method.clone(),
                        route: route.clone(),
                        status: *status,
                        injected: *injected,
                    },
                    count: *n,
                })
            })
            .collect();
        requests.sort_by(|a, b| a.key.cmp(&b.key));
        let mut events: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((event, value), n) in &c.events {
            events.entry(event.clone()).or_default().insert(value.clone(), *n);
        }
        let sum = |keep: &dyn Fn(&RequestKey) -> bool| requests.iter().filter(|r| keep(&r.key)).map(|r| r.count).sum();
        CountersView {
            service: self.service,
            total_requests: sum(&|_| true),
            injected_faults: sum(&|k| k.injected),
            genuine_errors: sum(&|k| !k.injected && k.status >= 400 && k.status != CLIENT_ABORTED),
            client_aborts: sum(&|k| k.status == CLIENT_ABORTED),
            faults: c.faults.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            events,
            requests,
            streamed_tokens: self.streamed_tokens.load(Ordering::Relaxed),
            late_stream_tokens: self.late_stream_tokens.load(Ordering::Relaxed),
        }
    }

    /// (route, latency sum in seconds, count), sorted by route.
    pub fn latency_sums(&self) -> Vec<(String, f64, u64)> {
        let state = self.state.lock();
        let c = &state.counters;
        let mut sums: Vec<_> = c.routes.iter().map(|(r, s)| (r.clone(), s.latency_seconds, s.count)).collect();
        sums.sort_by(|a, b| a.0.cmp(&b.0));
        sums
    }

    /// Clears journal and counters.
    pub fn reset(&self) {
        *self.state.lock() = State::default();
        self.streamed_tokens.store(0, Ordering::Relaxed);
        self.late_stream_tokens.store(0, Ordering::Relaxed);
    }

    /// Counts `n` tokens sent in a streamed answer.
    pub fn count_streamed_tokens(&self, n: u64) {
        self.streamed_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a streamed token that left late (see [`CountersView::late_stream_tokens`]).
    pub fn count_late_stream_token(&self) {
        self.late_stream_tokens.fetch_add(1, Ordering::Relaxed);
    }
}
