//! Per-model rate limits as OpenAI applies them: requests and tokens per minute, plus a cap on
//! concurrent requests, with the `x-ratelimit-*` headers real responses carry.

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

struct Window {
    start: Instant,
    requests: u64,
    tokens: u64,
}

/// The limiter of one model.
pub struct RateLimiter {
    spec: RateLimitSpec,
    window: Mutex<Window>,
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

/// `x-ratelimit-reset-*` for each whole second of the one-minute window, built once: the value
/// changes once a second, and formatting it for every answer was a measurable cost.
static RESET_SECONDS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    (0..=WINDOW.as_secs())
        .map(|s| HeaderValue::from_static(Box::leak(reset_string(Duration::from_secs(s)).into_boxed_str())))
        .collect()
});

/// [`reset_string`] as a header value: from the table for a second or more (the string shows
/// whole seconds then), formatted only in a window's last second.
fn reset_value(d: Duration) -> HeaderValue {
    match RESET_SECONDS.get(d.as_secs() as usize) {
        Some(value) if d.as_secs() > 0 => value.clone(),
        _ => HeaderValue::from_str(&reset_string(d)).unwrap_or(HeaderValue::from_static("0s")),
    }
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
        RateLimiter {
            spec: spec.clone(),
            window: Mutex::new(Window { start: Instant::now(), requests: 0, tokens: 0 }),
            concurrent: spec.concurrent.map(|n| Arc::new(Semaphore::new(n as usize))),
        }
    }

    /// Admits one request costing `tokens`, or explains the 429.
    pub fn admit(&self, model: &str, tokens: u64) -> Result<Admission, ApiError> {
        let now = Instant::now();
        let (requests, used_tokens, reset) = {
            let mut w = self.window.lock();
            if now.duration_since(w.start) >= WINDOW {
                *w = Window { start: now, requests: 0, tokens: 0 };
            }
            let reset = WINDOW.saturating_sub(now.duration_since(w.start));
            if let Some(limit) = self.spec.requests_per_minute
                && w.requests >= limit
            {
                return Err(limited(model, "requests", "requests per min (RPM)", limit, w.requests, 1, reset));
            }
            if let Some(limit) = self.spec.tokens_per_minute
                && w.tokens + tokens > limit
            {
                return Err(limited(model, "tokens", "tokens per min (TPM)", limit, w.tokens, tokens, reset));
            }
            w.requests += 1;
            w.tokens += tokens;
            (w.requests, w.tokens, reset)
        };
        let permit = match &self.concurrent {
            Some(semaphore) => Some(semaphore.clone().try_acquire_owned().map_err(|_| {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    format!(
                        "Rate limit reached for {model} on concurrent requests: Limit {}. Please try again shortly.",
                        self.spec.concurrent.unwrap_or_default()
                    ),
                    None,
                    Some("rate_limit_exceeded"),
                );
                e.retry_after = Some(1.0);
                e
            })?),
            None => None,
        };
        // Without a configured limit the model is unlimited: the nominal headers then count only
        // this request, so they never run down to a limit that is not enforced (a client or router
        // reading them would back off for nothing).
        let (request_limit, requests) = match self.spec.requests_per_minute {
            Some(limit) => (limit, requests),
            None => (NOMINAL_REQUESTS, 1),
        };
        let (token_limit, used_tokens) = match self.spec.tokens_per_minute {
            Some(limit) => (limit, used_tokens),
            None => (NOMINAL_TOKENS, tokens),
        };
        let reset = reset_value(reset);
        let headers = RateLimitHeaders([
            limit_value(request_limit),
            remaining_value(request_limit, requests),
            reset.clone(),
            limit_value(token_limit),
            HeaderValue::from(token_limit.saturating_sub(used_tokens)),
            reset,
        ]);
        Ok(Admission { permit, headers })
    }
}

/// What remains of `limit` after `used`: static for the nominal limit's usual answer.
fn remaining_value(limit: u64, used: u64) -> HeaderValue {
    match (limit, used) {
        (NOMINAL_REQUESTS, 1) => HeaderValue::from_static("9999"),
        _ => HeaderValue::from(limit.saturating_sub(used)),
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

fn limited(model: &str, kind: &str, what: &str, limit: u64, used: u64, requested: u64, reset: Duration) -> ApiError {
    let wait = reset.as_secs_f64().max(0.001);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        kind,
        format!(
            "Rate limit reached for {model} in organization org-mock on {what}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait:.3}s."
        ),
        None,
        Some("rate_limit_exceeded"),
    );
    e.retry_after = Some(wait);
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
                assert_eq!(remaining_value(limit, used).to_str().unwrap(), limit.saturating_sub(used).to_string());
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
    fn reset_strings_look_like_openai() {
        assert_eq!(reset_string(Duration::from_millis(12)), "12ms");
        assert_eq!(reset_string(Duration::from_secs(1)), "1s");
        assert_eq!(reset_string(Duration::from_secs(360)), "6m0s");
    }
}
