//! One journal entry: what the admin API tells about a request the service handled.

use serde::Serialize;

/// A request as the service saw and answered it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JournalEntry {
    /// Sequence number, from 1, per service.
    pub seq: u64,
    /// Wall-clock time the request arrived, ms since the Unix epoch.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Route template, or `unmatched`.
    pub route: String,
    /// The service's request attribute (gateway: model), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Status sent; 0 when the connection was broken before a status.
    pub status: u16,
    /// Genuine error code the service answered with (e.g. `model_not_found`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// True when an injected fault decided the answer (error or transport fault).
    pub injected: bool,
    /// Fault rules that fired on this request (the first few; see `more_faults`).
    pub faults: Vec<String>,
    /// Rules that fired beyond those named in `faults`.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_faults: usize,
    /// Time until the response head was ready, in ms.
    pub latency_ms: f64,
}

/// A finished request as the fault layer hands it over: borrowed, so recording allocates nothing
/// once the journal is full.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// Wall-clock arrival, ms since the Unix epoch.
    pub at_ms: u64,
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// Route template, or `unmatched`.
    pub route: &'a str,
    /// The service's request attribute.
    pub attribute: Option<&'a str>,
    /// Status sent (0: connection broken).
    pub status: u16,
    /// Genuine error code answered.
    pub error_code: Option<&'a str>,
    /// Whether an injected fault decided the answer.
    pub injected: bool,
    /// Rules that fired.
    pub faults: &'a [String],
    /// Time to response head, ms.
    pub latency_ms: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Overwrites `target` with `value`, bounded (client-chosen text never grows an entry).
fn set(target: &mut String, value: &str) {
    target.clear();
    target.push_str(&super::bounded::text(value));
}

fn set_option(target: &mut Option<String>, value: Option<&str>) {
    match (target.as_mut(), value) {
        (Some(t), Some(v)) => set(t, v),
        (_, v) => *target = v.map(|v| super::bounded::text(v).into_owned()),
    }
}

impl JournalEntry {
    /// Overwrites this entry with `record`, reusing its buffers.
    pub fn fill(&mut self, seq: u64, record: &RequestRecord<'_>) {
        self.seq = seq;
        self.at_ms = record.at_ms;
        set(&mut self.method, record.method);
        set(&mut self.path, record.path);
        set(&mut self.route, record.route);
        set_option(&mut self.attribute, record.attribute);
        self.status = record.status;
        set_option(&mut self.error_code, record.error_code);
        self.injected = record.injected;
        self.faults.clear();
        let named = record.faults.len().min(super::bounded::MAX_RULES_PER_ENTRY);
        self.faults.extend(record.faults[..named].iter().cloned());
        self.more_faults = record.faults.len() - named;
        self.latency_ms = record.latency_ms;
    }
}
