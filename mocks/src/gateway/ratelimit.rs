//! Per-model rate limits as OpenAI applies them: requests and tokens per minute as buckets that
//! refill continuously (the limit per minute, spread over the minute), plus a cap on concurrent
//! requests, with the `x-ratelimit-*` headers real responses carry, 429s included:
//! `x-ratelimit-remaining-*` is what the bucket holds, `x-ratelimit-reset-*` the time until it is
//! full again, and a 429's `retry-after` the time until the request would fit.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::errors::ApiError;
use super::model_spec::RateLimitSpec;

/// Reported limits when a model has none configured (real responses always carry the headers).
const NOMINAL_REQUESTS: u64 = 10_000;
const NOMINAL_TOKENS: u64 = 10_000_000;
const WINDOW: Duration = Duration::from_secs(60);
const HEADER_NAMES: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// A bucket of `capacity` refilled at `capacity` per minute.
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: u64, now: Instant) -> Self {
        Bucket { level: capacity as f64, at: now }
    }

    /// Refills up to `now`.
    fn refill(&mut self, capacity: u64, now: Instant) {
        let rate = capacity as f64 / WINDOW.as_secs_f64();
        self.level = (self.level + rate * now.duration_since(self.at).as_secs_f64()).min(capacity as f64);
        self.at = now;
    }
}

/// Seconds for a bucket of `capacity` holding `level` to gain `amount`.
fn refill_time(capacity: u64, level: f64, amount: f64) -> Duration {
    let rate = capacity as f64 / WINDOW.as_secs_f64();
    Duration::from_secs_f64(((amount - level).max(0.0) / rate.max(1e-9)).min(3600.0))
}

/// The limiter of one model.
pub struct RateLimiter {
    spec: RateLimitSpec,
    /// Requests, then tokens.
    buckets: Mutex<(Bucket, Bucket)>,
    concurrent: Option<Arc<Semaphore>>,
}

/// An admitted request: holds its concurrency slot until dropped, and the headers to send.
pub struct Admission {
    /// Released when the response (or stream) ends.
    pub permit: Option<OwnedSemaphorePermit>,
    /// `x-ratelimit-*` header values, in [`HEADER_NAMES`] order.
    pub headers: RateLimitHeaders,
}

/// The six `x-ratelimit-*` values of one answer, written straight into the response's headers.
pub struct RateLimitHeaders([HeaderValue; 6]);

/// The headers of a JSON answer, built once: `content-type`, the six `x-ratelimit-*`,
/// `content-length`, then placeholders for the two headers the gateway's `finish` sets on every
/// answer. Cloning it and filling the values in place spares every answer the hashing of eight
/// header names, and the later ones find their place taken instead of growing the map (a clone
/// has no spare room).
static JSON_ANSWER_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for name in &HEADER_NAMES {
        headers.insert(name.clone(), HeaderValue::from_static("0"));
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    headers.insert(super::REQUEST_ID, HeaderValue::from_static(""));
    headers.insert(super::PROCESSING_MS, HeaderValue::from_static("0"));
    headers
});

impl RateLimitHeaders {
    /// Appends the headers as (name, value) pairs (an error answer's extra headers).
    fn write_into(self, out: &mut Option<Box<super::errors::ExtraHeaders>>) {
        out.get_or_insert_default().0.extend(HEADER_NAMES.iter().cloned().zip(self.0));
    }

    /// Adds the headers to `headers`.
    pub fn write(self, headers: &mut HeaderMap) {
        for (name, value) in HEADER_NAMES.iter().zip(self.0) {
            headers.insert(name.clone(), value);
        }
    }

    /// The headers of a JSON answer of `content_length` bytes: `content-type: application/json`,
    /// these, and `content-length`.
    pub fn json_answer(self, content_length: usize) -> HeaderMap {
        let mut headers = JSON_ANSWER_HEADERS.clone();
        // The template holds the names in `HEADER_NAMES` order after the content type, then the
        // length (checked by a test), so the values go in by position.
        let mut slots = headers.values_mut().skip(1);
        // The values lead the zip: it stops when they run out, before taking the length's slot.
        for (value, slot) in self.0.into_iter().zip(slots.by_ref()) {
            *slot = value;
        }
        if let Some(slot) = slots.next() {
            *slot = HeaderValue::from(content_length);
        }
        headers
    }
}

/// `x-ratelimit-reset-*` for each millisecond under a second and each whole second of a minute,
/// built once: formatting it for every answer was a measurable cost.
static RESET_VALUES: LazyLock<(Vec<HeaderValue>, Vec<HeaderValue>)> = LazyLock::new(|| {
    let leak = |d: Duration| HeaderValue::from_static(Box::leak(reset_string(d).into_boxed_str()));
    (
        (0..1000).map(|ms| leak(Duration::from_millis(ms))).collect(),
        (0..=WINDOW.as_secs()).map(|s| leak(Duration::from_secs(s))).collect(),
    )
});

/// [`reset_string`] as a header value, from the tables up to a minute.
fn reset_value(d: Duration) -> HeaderValue {
    let (millis, seconds) = &*RESET_VALUES;
    let table = if d.as_secs() == 0 { millis.get(d.as_millis() as usize) } else { seconds.get(d.as_secs() as usize) };
    table.cloned().unwrap_or_else(|| HeaderValue::from_str(&reset_string(d)).unwrap_or(HeaderValue::from_static("0s")))
}

/// `6m0s`, `1s`, `12ms`: the duration strings of `x-ratelimit-reset-*`.
fn reset_string(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

impl RateLimiter {
    /// A limiter for `spec`.
    pub fn new(spec: &RateLimitSpec) -> Self {
        let now = Instant::now();
        let full = |limit: Option<u64>| Bucket::full(limit.unwrap_or(0), now);
        RateLimiter {
            spec: spec.clone(),
            buckets: Mutex::new((full(spec.requests_per_minute), full(spec.tokens_per_minute))),
            concurrent: spec.concurrent.map(|n| Arc::new(Semaphore::new(n as usize))),
        }
    }

    /// The six header values for buckets holding `requests` and `tokens` (configured limits),
    /// or the nominal ones for an unlimited model after a request costing `cost` tokens.
    fn headers(&self, requests: f64, tokens: f64, cost: u64) -> RateLimitHeaders {
        // Without a configured limit the model is unlimited: the nominal headers then count only
        // this request, so they never run down to a limit that is not enforced (a client or router
        // reading them would back off for nothing).
        let (request_limit, requests) = match self.spec.requests_per_minute {
            Some(limit) => (limit, requests),
            None => (NOMINAL_REQUESTS, (NOMINAL_REQUESTS - 1) as f64),
        };
        let (token_limit, tokens) = match self.spec.tokens_per_minute {
            Some(limit) => (limit, tokens),
            None => (NOMINAL_TOKENS, NOMINAL_TOKENS.saturating_sub(cost) as f64),
        };
        RateLimitHeaders([
            limit_value(request_limit),
            remaining_value(request_limit, requests),
            reset_value(refill_time(request_limit, requests, request_limit as f64)),
            limit_value(token_limit),
            HeaderValue::from(tokens.max(0.0).floor() as u64),
            reset_value(refill_time(token_limit, tokens, token_limit as f64)),
        ])
    }

    /// Admits one request costing `tokens`, or explains the 429 (with the same headers).
    pub fn admit(&self, model: &str, tokens: u64) -> Result<Admission, ApiError> {
        let now = Instant::now();
        let (requests_left, tokens_left) = {
            let mut guard = self.buckets.lock();
            let (requests, budget) = &mut *guard;
            if let Some(limit) = self.spec.requests_per_minute {
                requests.refill(limit, now);
            }
            if let Some(limit) = self.spec.tokens_per_minute {
                budget.refill(limit, now);
            }
            let refused = |kind, what, limit: u64, level: f64, cost: u64| {
                let wait = refill_time(limit, level, cost as f64);
                let used = (limit as f64 - level).max(0.0).round() as u64;
                let mut e = limited(model, kind, what, limit, used, cost, wait);
                self.headers(requests.level, budget.level, tokens).write_into(&mut e.headers);
                e
            };
            if let Some(limit) = self.spec.requests_per_minute
                && requests.level < 1.0
            {
                return Err(refused("requests", "requests per min (RPM)", limit, requests.level, 1));
            }
            if let Some(limit) = self.spec.tokens_per_minute
                && budget.level < tokens as f64
            {
                return Err(refused("tokens", "tokens per min (TPM)", limit, budget.level, tokens));
            }
            requests.level -= 1.0;
            budget.level -= tokens as f64;
            (requests.level, budget.level)
        };
        let headers = self.headers(requests_left, tokens_left, tokens);
        let permit = match &self.concurrent {
            Some(semaphore) => Some(semaphore.clone().try_acquire_owned().map_err(|_| {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    format!(
                        "Rate limit reached for {model} on concurrent requests: Limit {}. Please try again in 1s.",
                        self.spec.concurrent.unwrap_or_default()
                    ),
                    None,
                    Some("rate_limit_exceeded"),
                );
                e.retry_after = Some(1.0);
                self.headers(requests_left, tokens_left, tokens).write_into(&mut e.headers);
                e
            })?),
            None => None,
        };
        Ok(Admission { permit, headers })
    }
}

/// What a bucket of `limit` holding `level` has left, whole: static for the nominal limit's
/// usual answer.
fn remaining_value(limit: u64, level: f64) -> HeaderValue {
    let left = level.max(0.0).floor() as u64;
    match (limit, left) {
        (NOMINAL_REQUESTS, 9999) => HeaderValue::from_static("9999"),
        _ => HeaderValue::from(left),
    }
}

/// A limit as a header value: the nominal ones are static (no allocation on every answer).
fn limit_value(limit: u64) -> HeaderValue {
    match limit {
        NOMINAL_REQUESTS => HeaderValue::from_static("10000"),
        NOMINAL_TOKENS => HeaderValue::from_static("10000000"),
        other => HeaderValue::from(other),
    }
}

fn limited(model: &str, kind: &str, what: &str, limit: u64, used: u64, requested: u64, wait: Duration) -> ApiError {
    let wait = wait.as_secs_f64().max(0.001);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        kind,
        format!(
            "Rate limit reached for {model} in organization org-mock on {what}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait:.3}s."
        ),
        None,
        Some("rate_limit_exceeded"),
    );
    e.retry_after = Some(wait as f32);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answer_headers_carry_each_value_under_its_name() {
        let values: [HeaderValue; 6] = std::array::from_fn(|i| HeaderValue::from(i as u64 + 1));
        let mut expected = HeaderMap::new();
        RateLimitHeaders(values.clone()).write(&mut expected);
        expected.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        expected.insert(CONTENT_LENGTH, HeaderValue::from(395));
        expected.insert(super::super::REQUEST_ID, HeaderValue::from_static(""));
        expected.insert(super::super::PROCESSING_MS, HeaderValue::from_static("0"));
        assert_eq!(RateLimitHeaders(values).json_answer(395), expected);
    }

    #[test]
    fn limit_values_read_as_their_numbers() {
        for limit in [NOMINAL_REQUESTS, NOMINAL_TOKENS, 60, 0] {
            assert_eq!(limit_value(limit).to_str().unwrap(), limit.to_string());
            for used in [0, 1, 2, limit + 1] {
                let level = limit as f64 - used as f64 + 0.4;
                assert_eq!(remaining_value(limit, level).to_str().unwrap(), limit.saturating_sub(used).to_string());
            }
        }
    }

    #[test]
    fn reset_values_are_the_reset_strings() {
        for ms in (0..=61_000).step_by(7) {
            let d = Duration::from_millis(ms);
            assert_eq!(reset_value(d).to_str().unwrap(), reset_string(d), "{ms} ms");
        }
    }

    #[test]
    fn a_bucket_refills_over_the_minute_and_reset_is_the_time_to_full() {
        let start = Instant::now();
        let mut bucket = Bucket::full(60, start);
        bucket.level -= 30.0;
        assert_eq!(refill_time(60, bucket.level, 60.0), Duration::from_secs(30), "30 of 60 per minute: 30 s to full");
        bucket.refill(60, start + Duration::from_secs(10));
        assert!((bucket.level - 40.0).abs() < 1e-9, "one a second: {}", bucket.level);
        bucket.refill(60, start + Duration::from_secs(100));
        assert_eq!(bucket.level, 60.0, "never above its capacity");
    }

    #[test]
    fn reset_strings_look_like_openai() {
        assert_eq!(reset_string(Duration::from_millis(12)), "12ms");
        assert_eq!(reset_string(Duration::from_secs(1)), "1s");
        assert_eq!(reset_string(Duration::from_secs(360)), "6m0s");
    }
}
