//! The terminal summary table printed at the end of a run.

use std::io::{self, Write};

use crate::stats::Snapshot;

/// Streams: time to first token, the gaps between tokens and tokens/s, per streamed row.
fn write_streams(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    let streamed: Vec<_> = snapshot.total.iter().filter(|(_, s)| !s.ttft.is_empty()).collect();
    if streamed.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{:<49} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "Streams", "Streams", "TTFT p50", "TTFT p95", "ITL p50", "ITL p95", "tok/s p50"
    )?;
    for ((method, name), s) in streamed {
        let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        writeln!(
            out,
            "{:<49} {:>9} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>9.1}",
            format!("{method} {name}"),
            s.ttft.len(),
            ms(&s.ttft, 0.5),
            ms(&s.ttft, 0.95),
            ms(&s.inter_token, 0.5),
            ms(&s.inter_token, 0.95),
            // Stored as tokens/s x 1000.
            s.tokens_per_second.value_at_quantile(0.5) as f64 / 1000.0
        )?;
    }
    writeln!(out, "(ms; ITL: the gap between tokens)")
}

/// Tasks made of steps: how many of each kind one iteration took.
fn write_step_counts(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    let rows: Vec<_> = snapshot.total.iter().filter(|(_, s)| !s.steps_per_iteration.is_empty()).collect();
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{:<49} {:<10} {:>8} {:>6} {:>6} {:>6}",
        "Steps per iteration", "Step", "mean", "p50", "p95", "max"
    )?;
    for ((method, name), s) in rows {
        for (kind, h) in &s.steps_per_iteration {
            writeln!(
                out,
                "{:<49} {:<10} {:>8.2} {:>6} {:>6} {:>6}",
                format!("{method} {name}"),
                kind,
                h.mean(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.95),
                h.max()
            )?;
        }
    }
    Ok(())
}

/// Writes the table: per endpoint requests, failures, p50/p95/p99 of the successful requests and
/// requests/s, then failures grouped by kind with a sample message, then the arrival schedule.
pub(crate) fn write(out: &mut dyn Write, snapshot: &Snapshot, seconds: f64) -> io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<40} {:>9} {:>8} {:>10} {:>10} {:>10} {:>9}",
        "Type", "Name", "Requests", "Fails", "p50 ms", "p95 ms", "p99 ms", "req/s"
    )?;
    let mut rows: Vec<_> = snapshot.total.iter().map(|((m, n), s)| (m.clone(), n.clone(), s.clone())).collect();
    rows.push((String::new(), "Aggregated".into(), snapshot.aggregate()));
    for (method, name, s) in rows {
        let fail_pct = if s.count == 0 { 0.0 } else { 100.0 * s.failures as f64 / s.count as f64 };
        let pct = |q: f64| if s.latency.is_empty() { "-".to_owned() } else { format!("{:.2}", s.percentile_ms(q)) };
        writeln!(
            out,
            "{:<8} {:<40} {:>9} {:>7.1}% {:>10} {:>10} {:>10} {:>9.1}",
            method,
            name,
            s.count,
            fail_pct,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            s.count as f64 / seconds.max(1e-9)
        )?;
    }
    writeln!(out, "(latencies of successful requests; `-` where none succeeded)")?;
    write_streams(out, snapshot)?;
    write_step_counts(out, snapshot)?;
    if !snapshot.failures.is_empty() {
        writeln!(out, "\nFailures:")?;
        for f in &crate::stats::combine_failures(snapshot.failures.iter().cloned(), false) {
            writeln!(out, "  {:>7}x {} {} [{}] {}", f.count, f.method, f.name, f.kind, f.message)?;
        }
    }
    let s = snapshot.schedule;
    if s.scheduled > 0 {
        writeln!(
            out,
            "\nArrival schedule: {} iterations scheduled, {} dropped (max in flight reached), {} started late: {:.1}% of the offered load missed",
            s.scheduled,
            s.dropped,
            s.late,
            s.missed_fraction() * 100.0
        )?;
    }
    Ok(())
}
