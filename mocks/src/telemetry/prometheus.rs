//! Renders [`Telemetry`] counters in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::Telemetry;

/// Escapes a label value as the exposition format requires.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Telemetry {
    /// The counters as a Prometheus scrape body.
    pub fn prometheus(&self) -> String {
        let view = self.counters();
        let service = label(self.service());
        let mut out = String::new();
        let _ = writeln!(out, "# HELP mock_requests_total Requests handled, by route, status and origin.");
        let _ = writeln!(out, "# TYPE mock_requests_total counter");
        for row in &view.requests {
            let _ = writeln!(
                out,
                "mock_requests_total{{service=\"{service}\",method=\"{}\",route=\"{}\",status=\"{}\",injected=\"{}\"}} {}",
                label(&row.key.method),
                label(&row.key.route),
                row.key.status,
                row.key.injected,
                row.count
            );
        }
        let _ = writeln!(out, "# HELP mock_request_duration_seconds Time to response head, by route.");
        let _ = writeln!(out, "# TYPE mock_request_duration_seconds summary");
        for (route, sum, count) in self.latency_sums() {
            let route = label(&route);
            let _ = writeln!(out, "mock_request_duration_seconds_sum{{service=\"{service}\",route=\"{route}\"}} {sum}");
            let _ =
                writeln!(out, "mock_request_duration_seconds_count{{service=\"{service}\",route=\"{route}\"}} {count}");
        }
        let _ = writeln!(out, "# HELP mock_injected_faults_total Firings of each fault rule.");
        let _ = writeln!(out, "# TYPE mock_injected_faults_total counter");
        for (rule, n) in &view.faults {
            let _ = writeln!(out, "mock_injected_faults_total{{service=\"{service}\",rule=\"{}\"}} {n}", label(rule));
        }
        let _ = writeln!(out, "# HELP mock_streamed_tokens_total Tokens sent in streamed answers.");
        let _ = writeln!(out, "# TYPE mock_streamed_tokens_total counter");
        let _ = writeln!(out, "mock_streamed_tokens_total{{service=\"{service}\"}} {}", view.streamed_tokens);
        let _ = writeln!(
            out,
            "# HELP mock_late_stream_tokens_total Streamed tokens sent over 5 ms after due (the service's own lag)."
        );
        let _ = writeln!(out, "# TYPE mock_late_stream_tokens_total counter");
        let _ = writeln!(out, "mock_late_stream_tokens_total{{service=\"{service}\"}} {}", view.late_stream_tokens);
        let _ = writeln!(out, "# HELP mock_events_total Service events such as unknown models or sandbox violations.");
        let _ = writeln!(out, "# TYPE mock_events_total counter");
        for (event, values) in &view.events {
            for (value, n) in values {
                let _ = writeln!(
                    out,
                    "mock_events_total{{service=\"{service}\",event=\"{}\",value=\"{}\"}} {n}",
                    label(event),
                    label(value)
                );
            }
        }
        out
    }
}
