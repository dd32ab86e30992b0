//! Per-request faults carried in `x-mock-fault-*` headers (off unless the config enables them).
//!
//! A load scenario can mark single requests: `x-mock-fault-status: 503` (optionally with
//! `x-mock-fault-code`), `x-mock-fault-latency-ms: 250`, `x-mock-fault-transport: reset|close|
//! truncate|dribble|hang`. They are recorded as the rule `header`.

use std::time::Duration;

use http::HeaderMap;

use super::engine::FaultDecision;
use super::spec::{ErrorSpec, TransportSpec};

/// Header naming a status to answer with.
pub const STATUS: &str = "x-mock-fault-status";
/// Header naming the error code for [`STATUS`].
pub const CODE: &str = "x-mock-fault-code";
/// Header adding latency in ms.
pub const LATENCY_MS: &str = "x-mock-fault-latency-ms";
/// Header naming a transport fault.
pub const TRANSPORT: &str = "x-mock-fault-transport";

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The fault a request asks for in its headers, if any (unparseable values are ignored).
pub fn header_decision(headers: &HeaderMap) -> Option<FaultDecision> {
    let mut decision = FaultDecision::default();
    if let Some(ms) = text(headers, LATENCY_MS).and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms > 0.0
    {
        decision.latency = Duration::from_secs_f64(ms.min(60_000.0) / 1000.0);
    }
    if let Some(status) = text(headers, STATUS).and_then(|v| v.parse::<u16>().ok())
        && (400..=599).contains(&status)
    {
        decision.error =
            Some(ErrorSpec { status, code: text(headers, CODE).map(str::to_owned), message: None, retry_after: None });
    }
    decision.transport = match text(headers, TRANSPORT) {
        Some("reset") => Some(TransportSpec::Reset),
        Some("close") => Some(TransportSpec::Close),
        Some("truncate") => Some(TransportSpec::Truncate { after_bytes: None }),
        Some("dribble") => Some(TransportSpec::Dribble { chunk_bytes: 16, interval_ms: 50 }),
        Some("hang") => Some(TransportSpec::Hang { max_ms: 30_000 }),
        _ => None,
    };
    if decision.error.is_some() {
        decision.transport = None;
    }
    if decision.latency.is_zero() && decision.error.is_none() && decision.transport.is_none() {
        return None;
    }
    decision.rules.push("header".to_owned());
    Some(decision)
}
