//! `report.html`: one self-contained file (inline SVG, no scripts, no external assets) with
//! latency percentiles and requests/s over time with users overlaid, errors over time, and
//! baseline-vs-current per endpoint and stage.

use std::io::{self, Write};
use std::path::Path;

use super::model::Verdict;
use super::report::Report;
use crate::formats::run::EndpointRecord;
use crate::stats::SecondRow;

/// What the report shows of the run itself besides the verdict (empty when it is not a loadsuite
/// run, e.g. a Locust CSV).
#[derive(Default)]
pub struct RunView {
    /// The aggregate 1-second series.
    pub series: Vec<SecondRow>,
    /// The whole-run rows (their stream figures and step counts).
    pub endpoints: Vec<EndpointRecord>,
}

/// Reads the run's [`RunView`].
pub fn run_view(run: &Path) -> RunView {
    crate::formats::run::read(run)
        .map(|r| RunView {
            series: r.time_series.into_iter().filter(|r| r.method.is_empty() && r.name == "Aggregated").collect(),
            endpoints: r.endpoints,
        })
        .unwrap_or_default()
}

/// Streams: TTFT, inter-token latency and tokens/s per streamed row; then the steps per
/// iteration of tasks made of steps (agent turns).
fn write_streams_and_steps(out: &mut dyn Write, endpoints: &[EndpointRecord]) -> io::Result<()> {
    let streamed: Vec<&EndpointRecord> = endpoints.iter().filter(|e| e.ttft_ms.is_some()).collect();
    if !streamed.is_empty() {
        writeln!(
            out,
            "<h2>Streams</h2><table id=\"streams\"><tr><th>type</th><th>endpoint</th><th>TTFT p50</th><th>TTFT p95</th><th>TTFT p99</th><th>ITL p50</th><th>ITL p95</th><th>tokens/s</th></tr>"
        )?;
        for e in streamed {
            let q = |m: &Option<std::collections::BTreeMap<String, f64>>, k: &str| {
                m.as_ref().and_then(|m| m.get(k)).map_or("-".to_owned(), |v| format!("{v:.1}"))
            };
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.method),
                escape(&e.name),
                q(&e.ttft_ms, "p50"),
                q(&e.ttft_ms, "p95"),
                q(&e.ttft_ms, "p99"),
                q(&e.inter_token_ms, "p50"),
                q(&e.inter_token_ms, "p95"),
                e.tokens_per_second.map_or("-".to_owned(), |t| format!("{t:.1}"))
            )?;
        }
        writeln!(out, "</table><p>ms; TTFT: time to first token; ITL: the gap between tokens.</p>")?;
    }
    let stepped: Vec<&EndpointRecord> = endpoints.iter().filter(|e| !e.steps_per_iteration.is_empty()).collect();
    if !stepped.is_empty() {
        writeln!(
            out,
            "<h2>Steps per iteration</h2><table id=\"steps\"><tr><th>type</th><th>endpoint</th><th>step</th><th>mean</th><th>p50</th><th>p95</th><th>max</th></tr>"
        )?;
        for e in stepped {
            for (kind, c) in &e.steps_per_iteration {
                writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&e.method),
                    escape(&e.name),
                    escape(kind),
                    c.mean,
                    c.p50,
                    c.p95,
                    c.max
                )?;
            }
        }
        writeln!(out, "</table>")?;
    }
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD: f64 = 40.0;

/// A line chart: each series is (label, colour, values); `overlay` is drawn dashed on its own scale.
fn chart(
    out: &mut dyn Write,
    title: &str,
    series: &[(&str, &str, Vec<f64>)],
    overlay: Option<(&str, Vec<f64>)>,
) -> io::Result<()> {
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let max = series.iter().flat_map(|s| s.2.iter().copied()).fold(0.0f64, f64::max).max(1e-9);
    let x = |i: usize| PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64;
    let y = |v: f64, top: f64| H - PAD + (PAD * 2.0 - H) * (v / top);
    writeln!(
        out,
        "<figure><figcaption>{}</figcaption><svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\">",
        escape(title),
        escape(title)
    )?;
    writeln!(
        out,
        "<line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/><text x=\"2\" y=\"{PAD}\" font-size=\"10\">{max:.1}</text>",
        H - PAD,
        W - PAD,
        H - PAD
    )?;
    for (label, colour, values) in series {
        let points: Vec<String> =
            values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v, max))).collect();
        writeln!(
            out,
            "<polyline class=\"series\" data-label=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            escape(label),
            points.join(" ")
        )?;
    }
    if let Some((label, values)) = overlay {
        let top = values.iter().copied().fold(0.0f64, f64::max).max(1e-9);
        let points: Vec<String> =
            values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v, top))).collect();
        writeln!(
            out,
            "<polyline class=\"overlay\" data-label=\"{}\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 3\" points=\"{}\"/>",
            escape(label),
            points.join(" ")
        )?;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{PAD}\" font-size=\"10\" text-anchor=\"end\">{label} (max {top:.0})</text>",
            W - 2.0
        )?;
    }
    let legend: Vec<String> =
        series.iter().map(|(l, c, _)| format!("<tspan fill=\"{c}\">{}</tspan>", escape(l))).collect();
    writeln!(out, "<text x=\"{PAD}\" y=\"14\" font-size=\"11\">{}</text></svg></figure>", legend.join(" · "))
}

/// Writes the page.
pub fn write(out: &mut dyn Write, report: &Report, run: &RunView) -> io::Result<()> {
    let series = &run.series;
    writeln!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — {}</title>",
        escape(&report.scenario),
        escape(&report.overall.label())
    )?;
    writeln!(
        out,
        "<style>body{{font-family:sans-serif;margin:2em;max-width:64em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:nth-child(2){{text-align:left}}.regression,.target_missed{{background:#fdd}}.inconclusive{{background:#ffd}}.pass,.improvement{{background:#dfd}}figure{{margin:1em 0}}</style></head><body>"
    )?;
    writeln!(out, "<h1 id=\"verdict\">{}: {}</h1>", escape(&report.scenario), escape(&report.overall.label()))?;
    writeln!(
        out,
        "<p>Run <code>{}</code>{}. Informational score {:.0}/100 ({}), not the verdict.</p>",
        escape(&report.run),
        report.baseline.as_ref().map(|b| format!(" against baseline <code>{}</code>", escape(b))).unwrap_or_default(),
        report.score,
        report.grade
    )?;
    let run_findings: Vec<_> = report.run_checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive).collect();
    if !run_findings.is_empty() {
        writeln!(out, "<h2>The run</h2><ul id=\"run-checks\">")?;
        for c in run_findings {
            writeln!(
                out,
                "<li><b>{}</b> — {}: {}</li>",
                escape(&c.verdict.label()),
                escape(c.name),
                escape(&c.detail)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    let users: Vec<f64> = series.iter().map(|s| s.users as f64).collect();
    let of = |f: fn(&SecondRow) -> f64| series.iter().map(f).collect::<Vec<f64>>();
    chart(
        out,
        "Latency of successful requests over time (ms)",
        &[
            ("p50", "#1f77b4", of(|s| s.success_p50_ms)),
            ("p95", "#ff7f0e", of(|s| s.success_p95_ms)),
            ("p99", "#d62728", of(|s| s.success_p99_ms)),
        ],
        Some(("users", users.clone())),
    )?;
    chart(
        out,
        "Requests per second",
        &[("requests/s", "#2ca02c", series.iter().map(|s| s.requests as f64).collect())],
        Some(("users", users.clone())),
    )?;
    chart(
        out,
        "Errors per second",
        &[("failures/s", "#d62728", series.iter().map(|s| s.failures as f64).collect())],
        Some(("users", users)),
    )?;
    writeln!(
        out,
        "<h2>Baseline vs current</h2><table id=\"endpoints\"><tr><th>stage</th><th>endpoint</th><th>verdict</th><th>requests</th><th>errors</th><th>p95 baseline</th><th>p95 now</th><th>failed p95</th><th>req/s baseline</th><th>req/s now</th><th>could detect</th></tr>"
    )?;
    for e in &report.endpoints {
        let class = match e.verdict {
            Verdict::Regression(_) => "regression",
            Verdict::TargetMissed => "target_missed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Improvement => "improvement",
            Verdict::Pass => "pass",
        };
        let detect = if report.baseline.is_some() { e.detectable.describe() } else { "-".to_owned() };
        let base = e.baseline.as_ref();
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            e.stage + 1,
            escape(&e.endpoint),
            escape(&e.verdict.label()),
            e.current.requests,
            e.current.error_rate * 100.0,
            ms(base.and_then(|b| b.p95_ms)),
            ms(e.current.p95_ms),
            ms(e.current.failed_p95_ms),
            base.map_or("-".to_owned(), |b| format!("{:.1}", b.requests_per_second)),
            e.current.requests_per_second,
            escape(&detect)
        )?;
    }
    writeln!(out, "</table><p>Latencies are those of successful requests; failed requests' p95 is shown apart.</p>")?;
    write_streams_and_steps(out, &run.endpoints)?;
    if !report.diagnosis.is_empty() {
        writeln!(out, "<h2>Diagnosis</h2><ul id=\"diagnosis\">")?;
        for line in &report.diagnosis {
            writeln!(out, "<li>{}</li>", escape(line))?;
        }
        writeln!(out, "</ul>")?;
    }
    if !report.target_counters.is_empty() {
        writeln!(
            out,
            "<h2>Target counters</h2><table id=\"target-counters\"><tr><th>target</th><th>counter</th><th>change</th></tr>"
        )?;
        for (target, counters) in &report.target_counters {
            for (name, change) in super::report::notable_counters(counters) {
                writeln!(out, "<tr><td>{}</td><td>{}</td><td>{change}</td></tr>", escape(target), escape(name))?;
            }
        }
        writeln!(out, "</table>")?;
    }
    if !report.recommendations.is_empty() {
        writeln!(out, "<h2>Recommendations</h2><ul id=\"recommendations\">")?;
        for line in &report.recommendations {
            writeln!(out, "<li>{}</li>", escape(line))?;
        }
        writeln!(out, "</ul>")?;
    }
    if !report.resources.is_empty() {
        writeln!(
            out,
            "<h2>Resources</h2><table id=\"resources\"><tr><th>what</th><th>kind</th><th>CPU mean / max (cores)</th><th>memory start &rarr; end (peak)</th><th>leak check</th></tr>"
        )?;
        for r in &report.resources {
            use crate::resources::mib;
            let leak = match &r.leak {
                Some(leak) => format!("<b>possible leak</b>: {}", escape(&leak.describe())),
                None => escape(&r.leak_check()),
            };
            writeln!(
                out,
                "<tr><td>{} ({})</td><td>{}</td><td>{:.2} / {:.2}</td><td>{} &rarr; {} ({})</td><td>{leak}</td></tr>",
                escape(&r.name),
                escape(&r.id),
                r.kind,
                r.cpu_mean_cores,
                r.cpu_max_cores,
                mib(r.memory_start_bytes),
                mib(r.memory_end_bytes),
                mib(r.memory_peak_bytes)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body></html>")
}

/// `capacity.html`: the capacity search's probes, p95 and errors against users, and its table.
pub fn write_capacity(out: &mut dyn Write, capacity: &crate::capacity::Capacity) -> io::Result<()> {
    let mut probes: Vec<&crate::capacity::Probe> = capacity.probes.iter().collect();
    probes.sort_by_key(|p| p.users);
    let finding = match (capacity.sustained_users, capacity.limit_users) {
        (Some(h), Some(c)) => {
            format!("Sustained: {h} users. At {c}: {}.", capacity.limit_reason.as_deref().unwrap_or(""))
        }
        (Some(h), None) => format!("Sustained: {h} users, the most probed."),
        (None, _) => format!("Not even the first probe held: {}.", capacity.limit_reason.as_deref().unwrap_or("")),
    };
    writeln!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>capacity</title><style>body{{font-family:sans-serif;margin:2em;max-width:64em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}.crossed{{background:#fdd}}</style></head><body><h1>Capacity</h1><p id=\"finding\">{}</p>",
        escape(&finding)
    )?;
    let users: Vec<f64> = probes.iter().map(|p| f64::from(p.users)).collect();
    chart(
        out,
        "Worst p95 of successful requests (ms) by probe, users overlaid",
        &[("p95", "#ff7f0e", probes.iter().map(|p| p.worst_p95_ms).collect())],
        Some(("users", users.clone())),
    )?;
    chart(
        out,
        "Error rate (%) by probe, users overlaid",
        &[("errors", "#d62728", probes.iter().map(|p| p.error_rate * 100.0).collect())],
        Some(("users", users)),
    )?;
    writeln!(
        out,
        "<table id=\"probes\"><tr><th>users</th><th>requests</th><th>errors</th><th>worst p95 ms</th><th>row</th><th>result</th></tr>"
    )?;
    for p in probes {
        writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.2}%</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            if p.crossed.is_some() { "crossed" } else { "held" },
            p.users,
            p.requests,
            p.error_rate * 100.0,
            p.worst_p95_ms,
            escape(&p.worst_row),
            escape(p.crossed.as_deref().unwrap_or("held"))
        )?;
    }
    writeln!(out, "</table></body></html>")
}
