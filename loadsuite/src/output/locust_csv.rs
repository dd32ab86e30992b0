//! Locust-compatible CSV files (`<prefix>_stats.csv`, `_stats_history.csv`, `_failures.csv`,
//! `_exceptions.csv`) with Locust 2.x's headers and column order, so existing scripts read them.
//! Two differences, both fixes: response times keep microsecond precision (Locust rounds to whole
//! milliseconds), and the files are written after the last sample (Locust's miss the last second).
//! Response times follow Locust's convention: every request, failed or not (run.json keeps the
//! successful requests' latency apart).

use std::io::{self, Write};

use crate::stats::{QUANTILES, Snapshot, Stats};

/// `50%`, `66%`, ... `99.9%`, `99.99%`, `100%` as Locust names them.
pub(crate) fn percentile_headers() -> Vec<String> {
    QUANTILES
        .iter()
        .map(|q| {
            let pct = q * 100.0;
            if (pct - pct.round()).abs() < 1e-9 {
                format!("{}%", pct.round() as u64)
            } else {
                format!("{}%", (pct * 1e6).round() / 1e6)
            }
        })
        .collect()
}

/// Header of `_stats.csv`.
pub(crate) fn stats_header() -> Vec<String> {
    let mut h: Vec<String> = [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ]
    .map(String::from)
    .to_vec();
    h.extend(percentile_headers());
    h
}

/// Header of `_stats_history.csv`.
pub(crate) fn history_header() -> Vec<String> {
    let mut h: Vec<String> =
        ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"].map(String::from).to_vec();
    h.extend(percentile_headers());
    h.extend(
        [
            "Total Request Count",
            "Total Failure Count",
            "Total Median Response Time",
            "Total Average Response Time",
            "Total Min Response Time",
            "Total Max Response Time",
            "Total Average Content Size",
        ]
        .map(String::from),
    );
    h
}

/// Header of `_failures.csv`.
pub(crate) const FAILURES_HEADER: [&str; 6] = ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"];
/// Header of `_exceptions.csv`.
pub(crate) const EXCEPTIONS_HEADER: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// Quotes a field the way Python's csv module does (only when needed).
pub(crate) fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn line(out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
    let joined: Vec<String> = fields.iter().map(|f| field(f)).collect();
    write!(out, "{}\r\n", joined.join(","))
}

fn ms(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded.fract() == 0.0 { format!("{}", rounded as i64) } else { format!("{rounded}") }
}

fn row(method: &str, name: &str, stats: &Stats, seconds: f64) -> Vec<String> {
    let mut r = vec![method.to_owned(), name.to_owned(), stats.count.to_string(), stats.failures.to_string()];
    let all = stats.all_latency();
    if stats.count == 0 {
        r.extend(["0", "0", "0", "0", "0"].map(String::from));
    } else {
        r.push(ms(all.value_at_quantile(0.5) as f64 / 1000.0));
        r.push(ms(all.mean() / 1000.0));
        r.push(ms(all.min() as f64 / 1000.0));
        r.push(ms(all.max() as f64 / 1000.0));
        r.push(ms(stats.bytes as f64 / stats.count as f64));
    }
    r.push(format!("{}", stats.count as f64 / seconds.max(1e-9)));
    r.push(format!("{}", stats.failures as f64 / seconds.max(1e-9)));
    if stats.count == 0 {
        r.extend(QUANTILES.iter().map(|_| "N/A".to_owned()));
    } else {
        r.extend(QUANTILES.iter().map(|q| ms(all.value_at_quantile(*q) as f64 / 1000.0)));
    }
    r
}

/// `_stats.csv`: one row per endpoint, then `Aggregated`.
pub(crate) fn write_stats(out: &mut dyn Write, snapshot: &Snapshot, seconds: f64) -> io::Result<()> {
    line(out, &stats_header())?;
    for ((method, name), stats) in &snapshot.total {
        line(out, &row(method, name, stats, seconds))?;
    }
    line(out, &row("", "Aggregated", &snapshot.aggregate(), seconds))
}

/// `_stats_history.csv`: every second, one row per endpoint and the aggregate.
pub(crate) fn write_history(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    line(out, &history_header())?;
    for r in &snapshot.history {
        let mut fields = vec![
            r.timestamp.to_string(),
            r.users.to_string(),
            r.method.clone(),
            r.name.clone(),
            format!("{:.6}", r.requests as f64),
            format!("{:.6}", r.failures as f64),
        ];
        if r.requests == 0 {
            fields.extend(QUANTILES.iter().map(|_| "N/A".to_owned()));
        } else {
            fields.extend(r.percentiles_ms.iter().map(|p| ms(*p)));
        }
        fields.extend([
            r.total_requests.to_string(),
            r.total_failures.to_string(),
            ms(r.total_median_ms),
            ms(r.total_average_ms),
            ms(r.total_min_ms),
            ms(r.total_max_ms),
            ms(r.total_average_bytes),
        ]);
        line(out, &fields)?;
    }
    Ok(())
}

fn utc(seconds: f64) -> String {
    let secs = seconds as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `_failures.csv`.
pub(crate) fn write_failures(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    line(out, &FAILURES_HEADER.map(String::from))?;
    for f in &crate::stats::combine_failures(snapshot.failures.iter().cloned(), false) {
        let error = format!("{}: {}", f.kind, f.message);
        line(
            out,
            &[f.method.clone(), f.name.clone(), error, f.count.to_string(), utc(f.first_seen), utc(f.last_seen)],
        )?;
    }
    Ok(())
}

/// `_exceptions.csv` (loadsuite's tasks raise no exceptions: the header alone).
pub(crate) fn write_exceptions(out: &mut dyn Write) -> io::Result<()> {
    line(out, &EXCEPTIONS_HEADER.map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_locust() {
        assert_eq!(
            percentile_headers(),
            ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
        );
        assert_eq!(utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_433_605.0), "2026-11-23T11:33:25Z");
        assert_eq!(field("a,b"), "\"a,b\"");
    }
}
