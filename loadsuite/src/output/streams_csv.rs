//! `loadsuite_streams.csv`: the streaming figures of every streamed row (time to first token,
//! inter-token latency, tokens/s), which Locust's CSVs have no columns for. Header only when the
//! run streamed nothing.

use std::io::{self, Write};

use crate::stats::Snapshot;

/// The header.
pub(crate) const HEADER: &str =
    "Type,Name,Streams,TTFT p50 ms,TTFT p95 ms,TTFT p99 ms,ITL p50 ms,ITL p95 ms,ITL p99 ms,Tokens/s p50,Tokens/s mean";

/// Writes the header and one row per streamed (method, name).
pub(crate) fn write(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    for ((method, name), s) in snapshot.total.iter().filter(|(_, s)| !s.ttft.is_empty()) {
        let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
            if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 }
        };
        let tps = |v: f64| v / 1000.0; // stored as tokens/s x 1000
        writeln!(
            out,
            "{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.1}",
            super::locust_csv::field(method),
            super::locust_csv::field(name),
            s.ttft.len(),
            ms(&s.ttft, 0.5),
            ms(&s.ttft, 0.95),
            ms(&s.ttft, 0.99),
            ms(&s.inter_token, 0.5),
            ms(&s.inter_token, 0.95),
            ms(&s.inter_token, 0.99),
            tps(s.tokens_per_second.value_at_quantile(0.5) as f64),
            if s.tokens_per_second.is_empty() { 0.0 } else { tps(s.tokens_per_second.mean()) },
        )?;
    }
    Ok(())
}
