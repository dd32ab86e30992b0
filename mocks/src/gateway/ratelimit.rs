//! Per-model rate limits as OpenAI applies them: requests and tokens per minute as buckets that
//! refill continuously (the limit per minute, spread over the minute), plus a cap on concurrent
//! requests, with the `x-ratelimit-*` headers real responses carry, 429s included:
//! `x-ratelimit-remaining-*` is what the bucket holds, `x-ratelimit-reset-*` the time until it is
//! full again, and a 429's `retry-after` the time until the request would fit.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::errors::ApiError;
use super::headers::{BucketReading, RateLimitHeaders};
use crate::config::RateLimitSpec;

/// Reported limits when a model has none configured (real responses always carry the headers).
const NOMINAL_REQUESTS: u64 = 10_000;
const NOMINAL_TOKENS: u64 = 10_000_000;
const WINDOW: Duration = Duration::from_secs(60);

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
    /// `x-ratelimit-*` header values, in [`super::headers::HEADER_NAMES`] order.
    pub headers: RateLimitHeaders,
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
        let reading =
            |limit: u64, left: f64| BucketReading { limit, left, reset: refill_time(limit, left, limit as f64) };
        RateLimitHeaders::new(reading(request_limit, requests), reading(token_limit, tokens))
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
}
