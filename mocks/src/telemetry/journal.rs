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
    /// Fault rules that fired on this request.
    pub faults: Vec<String>,
    /// Time until the response head was ready, in ms.
    pub latency_ms: f64,
}
