//! Every header the gateway writes itself, in one place: the `x-ratelimit-*` six (values from
//! [`super::ratelimit`]), `x-request-id` and `openai-processing-ms` on every answer, and the
//! template a JSON answer's headers are cloned from. The template holds a place for each of them,
//! so it must know them all: that is why they live together.

use std::sync::LazyLock;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header every answer carries (set by [`stamp`]).
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The processing time header every answer carries (set by [`stamp`]).
pub(super) const PROCESSING_MS: HeaderName = HeaderName::from_static("openai-processing-ms");
/// The rate-limit headers, in [`RateLimitHeaders`]' order.
pub(super) const HEADER_NAMES: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// The six `x-ratelimit-*` values of one answer, written straight into the response's headers.
pub struct RateLimitHeaders([HeaderValue; 6]);

/// The headers of a JSON answer, built once: `content-type`, the six `x-ratelimit-*`,
/// `content-length`, then placeholders for the two headers [`stamp`] sets on every answer. Cloning it and filling the values in place spares every answer the hashing of eight
/// header names, and the later ones find their place taken instead of growing the map (a clone
/// has no spare room).
static JSON_ANSWER_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for name in &HEADER_NAMES {
        headers.insert(name.clone(), HeaderValue::from_static("0"));
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    headers.insert(REQUEST_ID, HeaderValue::from_static(""));
    headers.insert(PROCESSING_MS, HeaderValue::from_static("0"));
    headers
});

/// What one rate-limit bucket reports: its limit per minute, what it holds and how long until it
/// is full again.
pub struct BucketReading {
    /// The limit per minute.
    pub limit: u64,
    /// What the bucket holds (fractions are not reported).
    pub left: f64,
    /// Time until full.
    pub reset: Duration,
}

impl RateLimitHeaders {
    /// The values for the requests and the tokens bucket.
    pub fn new(requests: BucketReading, tokens: BucketReading) -> Self {
        RateLimitHeaders([
            limit_value(requests.limit),
            remaining_value(requests.left),
            reset_value(requests.reset),
            limit_value(tokens.limit),
            remaining_value(tokens.left),
            reset_value(tokens.reset),
        ])
    }

    /// Appends the headers as (name, value) pairs (an error answer's extra headers).
    pub fn write_into(self, out: &mut Option<Box<super::errors::ExtraHeaders>>) {
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

/// Sets `x-request-id` (the `n`th answer of the gateway instance `seed`) and
/// `openai-processing-ms` on an answer.
pub(super) fn stamp(headers: &mut HeaderMap, seed: u64, n: u64, elapsed: Duration) {
    if let Ok(v) = HeaderValue::from_bytes(&request_id(seed, n)) {
        headers.insert(REQUEST_ID, v);
    }
    // Most answers take under 10 ms: a static value then, instead of a formatted one.
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let ms = elapsed.as_millis() as u64;
    let processing = match DIGITS.get(ms as usize) {
        Some(digit) => HeaderValue::from_static(digit),
        None => HeaderValue::from(ms),
    };
    headers.insert(PROCESSING_MS, processing);
}

/// `req_` + the gateway's instance number as 16 hex digits + the request number as 8, written
/// without the formatting machinery: it is on every response.
fn request_id(seed: u64, n: u64) -> [u8; 28] {
    let mut id = *b"req_000000000000000000000000";
    id[4..20].copy_from_slice(&super::hex16(seed));
    // `{n:08x}` prints at least 8 digits; the counter stays below 2^32 for ~4 billion requests, and
    // wraps there rather than growing the header.
    id[20..].copy_from_slice(&super::hex16(n)[8..]);
    id
}

/// `x-ratelimit-reset-*` for each millisecond under a second and each whole second of a minute,
/// built once: formatting it for every answer was a measurable cost.
static RESET_VALUES: LazyLock<(Vec<HeaderValue>, Vec<HeaderValue>)> = LazyLock::new(|| {
    let leak = |d: Duration| HeaderValue::from_static(Box::leak(reset_string(d).into_boxed_str()));
    (
        (0..1000).map(|ms| leak(Duration::from_millis(ms))).collect(),
        (0..=60).map(|s| leak(Duration::from_secs(s))).collect(),
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

/// What a bucket holding `level` has left, whole: static for an unlimited model's usual answer.
fn remaining_value(level: f64) -> HeaderValue {
    match level.max(0.0).floor() as u64 {
        9999 => HeaderValue::from_static("9999"),
        left => HeaderValue::from(left),
    }
}

/// A limit as a header value: the nominal ones are static (no allocation on every answer).
fn limit_value(limit: u64) -> HeaderValue {
    match limit {
        10_000 => HeaderValue::from_static("10000"),
        10_000_000 => HeaderValue::from_static("10000000"),
        other => HeaderValue::from(other),
    }
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
        expected.insert(REQUEST_ID, HeaderValue::from_static(""));
        expected.insert(PROCESSING_MS, HeaderValue::from_static("0"));
        assert_eq!(RateLimitHeaders(values).json_answer(395), expected);
    }

    #[test]
    fn limit_values_read_as_their_numbers() {
        for limit in [10_000, 10_000_000, 60, 0] {
            assert_eq!(limit_value(limit).to_str().unwrap(), limit.to_string());
            for used in [0, 1, 2, limit + 1] {
                let level = limit as f64 - used as f64 + 0.4;
                assert_eq!(remaining_value(level).to_str().unwrap(), limit.saturating_sub(used).to_string());
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
    fn request_ids_match_their_format_string() {
        for (seed, n) in [(0u64, 0u64), (42, 1), (u64::MAX, 0xffff_ffff), (0x0123_4567_89ab_cdef, 0x00c0_ffee)] {
            let id = request_id(seed, n);
            assert_eq!(std::str::from_utf8(&id).unwrap(), format!("req_{seed:016x}{n:08x}"));
            assert_eq!(std::str::from_utf8(&super::super::hex16(seed)).unwrap(), format!("{seed:016x}"));
        }
    }

    #[test]
    fn reset_strings_look_like_openai() {
        assert_eq!(reset_string(Duration::from_millis(12)), "12ms");
        assert_eq!(reset_string(Duration::from_secs(1)), "1s");
        assert_eq!(reset_string(Duration::from_secs(360)), "6m0s");
    }
}
