//! Histograms inside result files: HdrHistogram's V2 serialization in base64, so the histograms of
//! several runs can be read back and added exactly.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

use crate::stats::QUANTILES;

/// Base64 of the V2 serialization of a histogram.
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(histogram, &mut bytes).expect("serializing to memory succeeds");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram serialized by [`encode`], decoded; `None` when the text is not one.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// The key of quantile `q` in percentile maps: `p50`, `p95`, `p99.9` ...
pub fn quantile_key(q: f64) -> String {
    format!("p{}", (q * 100.0 * 100.0).round() / 100.0)
}

/// Percentiles `p50` ... `p100` of a histogram, divided by `scale` (1000 turns µs into ms).
pub fn quantile_map(h: &Histogram<u64>, scale: f64) -> BTreeMap<String, f64> {
    QUANTILES
        .iter()
        .map(|q| (quantile_key(*q), if h.is_empty() { 0.0 } else { h.value_at_quantile(*q) as f64 / scale }))
        .collect()
}

/// Latency percentiles in ms of a µs histogram.
pub fn quantiles_ms(h: &Histogram<u64>) -> BTreeMap<String, f64> {
    quantile_map(h, 1000.0)
}
