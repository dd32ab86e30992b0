//! The fault model as users write it: rules in config files and admin API bodies.
//!
//! These are plain serde types, identical in TOML and JSON, so a rule that works in a config file
//! can be posted to `/__admin/faults` unchanged. [`FaultRuleSpec::validate`] names every bad field.

use serde::{Deserialize, Serialize};

/// One fault rule: which requests it matches, when it is active, how often it fires, what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRuleSpec {
    /// Unique name; shown in the journal, metrics and reports so injected faults are attributable.
    pub name: String,
    /// Which requests the rule looks at.
    #[serde(default, rename = "match")]
    pub matcher: MatchSpec,
    /// Fire with this probability (0..=1) among matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire on the first N matching requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// Fire on every Nth matching request (the Nth, 2Nth, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// When the rule is active, relative to the moment it was installed.
    #[serde(default, skip_serializing_if = "WindowSpec::is_always")]
    pub window: WindowSpec,
    /// Added latency before the service answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Answer with this error (in the service's native error shape) instead of the real response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSpec>,
    /// Break the connection instead of (or while) answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportSpec>,
    /// Degrade a streamed (SSE) answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamFault>,
    /// The rule's own random seed (which requests fire, sampled latencies). Absent: derived from
    /// the service's seed and the rule's name, so a rule replays the same choices each time it is
    /// installed; a load tool gives a fresh one per run (derived from the run's seed) so runs
    /// differ as real ones do while `--seed` still reproduces each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Request matcher: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// HTTP method (case-insensitive); any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path pattern: literal segments, `*` for one segment, `**` for the rest; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The service's request attribute (gateway: model; MCP: tool name); any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

/// Active window; all bounds are optional and relative to the rule's installation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Start after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seconds: Option<f64>,
    /// Start after this many matching requests have passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_requests: Option<u64>,
    /// Stop after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_seconds: Option<f64>,
    /// Stop once this many matching requests have been seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_requests: Option<u64>,
}

impl WindowSpec {
    /// True when no bound is set (the rule is always active).
    pub fn is_always(&self) -> bool {
        *self == Self::default()
    }
}

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LatencySpec {
    /// Always the same delay.
    Fixed {
        /// Delay in ms.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Lower bound in ms.
        min_ms: f64,
        /// Upper bound in ms.
        max_ms: f64,
    },
    /// Normal with mean and standard deviation, clamped at zero.
    Normal {
        /// Mean in ms.
        mean_ms: f64,
        /// Standard deviation in ms.
        stddev_ms: f64,
    },
    /// Log-normal given by its median and the sigma of the underlying normal (the shape of real
    /// service latency: a long right tail).
    Lognormal {
        /// Median in ms.
        median_ms: f64,
        /// Sigma of ln(latency).
        sigma: f64,
    },
    /// Lock contention: `base_ms` plus `per_concurrent_ms` for every other matching request in
    /// flight at the same moment (e.g. index writers queueing on one lock).
    Contention {
        /// Latency with no other request in flight.
        #[serde(default)]
        base_ms: f64,
        /// Added per concurrent matching request.
        per_concurrent_ms: f64,
    },
}

/// An injected error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// HTTP status, 400..=599.
    pub status: u16,
    /// Machine-readable error code in the native body (e.g. `rate_limit_exceeded`, `db_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human message; the service picks a realistic one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `retry-after` seconds to send with the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
}

/// A transport-level fault: what a flaky network or a crashing process looks like to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransportSpec {
    /// Reset the TCP connection (RST) without answering.
    Reset,
    /// Close the connection (FIN) without answering.
    Close,
    /// Never answer; close after `max_ms` (bounded so nothing hangs forever).
    Hang {
        /// Upper bound of the hang in ms (default 30,000).
        #[serde(default = "default_hang_ms")]
        max_ms: u64,
    },
    /// Send the status and headers (with the full `content-length`), then part of the body, then
    /// drop the connection.
    Truncate {
        /// Bytes of body to send before dropping (default: half of it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_bytes: Option<u64>,
    },
    /// Send the body in small pieces with a pause between them.
    Dribble {
        /// Bytes per piece.
        #[serde(default = "default_dribble_bytes")]
        chunk_bytes: usize,
        /// Pause between pieces in ms.
        #[serde(default = "default_dribble_ms")]
        interval_ms: u64,
    },
}

fn default_hang_ms() -> u64 {
    30_000
}
fn default_dribble_bytes() -> usize {
    16
}
fn default_dribble_ms() -> u64 {
    50
}

/// Degradations of a streamed answer; the service that streams reads these from the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamFault {
    /// Replace the time to first token, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    /// Replace the tokens per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Pause before chunk K (0-based count of content chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_at_chunk: Option<u32>,
    /// Length of that pause in ms (default 5,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_ms: Option<u64>,
    /// Drop the connection after N content chunks, without `[DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after_chunks: Option<u32>,
}

impl StreamFault {
    /// Combines two stream faults; fields set in `other` win.
    pub fn merged(mut self, other: &StreamFault) -> StreamFault {
        self.ttft_ms = other.ttft_ms.or(self.ttft_ms);
        self.tokens_per_second = other.tokens_per_second.or(self.tokens_per_second);
        self.stall_at_chunk = other.stall_at_chunk.or(self.stall_at_chunk);
        self.stall_ms = other.stall_ms.or(self.stall_ms);
        self.cut_after_chunks = other.cut_after_chunks.or(self.cut_after_chunks);
        self
    }
}

/// One problem in a rule, with the field it concerns (relative to the rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Field path inside the rule, e.g. `latency.sigma`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The longest any fault may delay or hold a request (latency, hang, stall, time to first token,
/// dribble interval, windows): one hour. Sums of several rules' latencies saturate at it.
pub const MAX_FAULT_MS: f64 = 3_600_000.0;
/// The widest lognormal spread accepted (sigma of ln(latency)): beyond it samples are meaningless.
pub const MAX_SIGMA: f64 = 10.0;

/// How often a rule fires among the requests its window lets through: the one of the three
/// exclusive fields `probability`, `first`, `every` the rule gives, checked once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Firing {
    /// Every request (none of the three is given).
    Always,
    /// Each request with this probability, from the rule's seeded generator.
    Probability(f64),
    /// The first N requests.
    First(u64),
    /// The Nth, 2Nth, ... request (N at least 1).
    Every(u64),
}
/// The longest rule name, in bytes.
pub const MAX_RULE_NAME: usize = 128;

impl FaultRuleSpec {
    /// The rule's [`Firing`]; an `Err` names the field that makes it ambiguous or out of range.
    pub fn firing(&self) -> Result<Firing, SpecProblem> {
        let problem = |field: &str, message: String| SpecProblem { field: field.to_owned(), message };
        match (self.probability, self.first, self.every) {
            (None, None, None) => Ok(Firing::Always),
            (Some(p), None, None) if (0.0..=1.0).contains(&p) => Ok(Firing::Probability(p)),
            (Some(p), None, None) => Err(problem("probability", format!("{p} is not between 0 and 1"))),
            (None, Some(n), None) => Ok(Firing::First(n)),
            (None, None, Some(0)) => Err(problem("every", "must be at least 1".into())),
            (None, None, Some(n)) => Ok(Firing::Every(n)),
            _ => Err(problem("probability", "use only one of `probability`, `first`, `every`".into())),
        }
    }

    /// Checks every field and returns all problems found (empty when the rule is valid).
    pub fn validate(&self) -> Vec<SpecProblem> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, message: String| problems.push(SpecProblem { field: field.to_owned(), message });
        if self.name.trim().is_empty() {
            bad("name", "a rule needs a non-empty name".into());
        }
        if self.name.len() > MAX_RULE_NAME {
            bad("name", format!("{} bytes is longer than the {MAX_RULE_NAME} a rule name may have", self.name.len()));
        }
        let hour = |field: &str, ms: f64, bad: &mut dyn FnMut(&str, String)| {
            if ms > MAX_FAULT_MS {
                bad(field, format!("{ms} ms is over the maximum of {MAX_FAULT_MS} (one hour)"));
            }
        };
        if let Some(TransportSpec::Hang { max_ms }) = &self.transport {
            hour("transport.max_ms", *max_ms as f64, &mut bad);
        }
        if let Some(TransportSpec::Dribble { interval_ms, .. }) = &self.transport {
            hour("transport.interval_ms", *interval_ms as f64, &mut bad);
        }
        if let Some(stream) = &self.stream {
            hour("stream.ttft_ms", stream.ttft_ms.unwrap_or(0) as f64, &mut bad);
            hour("stream.stall_ms", stream.stall_ms.unwrap_or(0) as f64, &mut bad);
        }

        if let Some(method) = &self.matcher.method
            && http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).is_err()
        {
            bad("match.method", format!("`{method}` is not an HTTP method"));
        }
        if let Some(path) = &self.matcher.path
            && !path.starts_with('/')
        {
            bad("match.path", format!("`{path}` must start with `/`"));
        }
        if let Err(problem) = self.firing() {
            bad(&problem.field, problem.message);
        }
        for (field, value) in
            [("window.after_seconds", self.window.after_seconds), ("window.until_seconds", self.window.until_seconds)]
        {
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                bad(field, "must be a non-negative number of seconds".into());
            }
        }
        if let Some(latency) = &self.latency {
            for (field, message) in latency.problems() {
                bad(&format!("latency.{field}"), message);
            }
        }
        if let Some(error) = &self.error {
            if !(400..=599).contains(&error.status) {
                bad("error.status", format!("{} is not an error status (400..=599)", error.status));
            }
            if error.retry_after.is_some_and(|r| !r.is_finite() || r < 0.0) {
                bad("error.retry_after", "must be a non-negative number of seconds".into());
            }
        }
        if self.error.is_some() && self.transport.is_some() {
            bad("transport", "a rule answers with an `error` or a `transport` fault, not both".into());
        }
        if let Some(TransportSpec::Dribble { chunk_bytes: 0, .. }) = self.transport {
            bad("transport.chunk_bytes", "must be at least 1".into());
        }
        if let Some(stream) = &self.stream
            && stream.tokens_per_second.is_some_and(|t| !t.is_finite() || t <= 0.0)
        {
            bad("stream.tokens_per_second", "must be a positive number".into());
        }
        if self.latency.is_none() && self.error.is_none() && self.transport.is_none() && self.stream.is_none() {
            bad("name", "the rule does nothing: give it `latency`, `error`, `transport` or `stream`".into());
        }
        problems
    }
}

impl LatencySpec {
    fn problems(&self) -> Vec<(&'static str, String)> {
        let non_negative = |field: &'static str, v: f64| {
            if !v.is_finite() || v < 0.0 {
                Some((field, format!("{v} must be a non-negative number")))
            } else if v > MAX_FAULT_MS {
                Some((field, format!("{v} ms is over the maximum of {MAX_FAULT_MS} (one hour)")))
            } else {
                None
            }
        };
        match *self {
            LatencySpec::Fixed { ms } => non_negative("ms", ms).into_iter().collect(),
            LatencySpec::Uniform { min_ms, max_ms } => {
                let mut p: Vec<_> =
                    [non_negative("min_ms", min_ms), non_negative("max_ms", max_ms)].into_iter().flatten().collect();
                if max_ms < min_ms {
                    p.push(("max_ms", "must not be below min_ms".into()));
                }
                p
            }
            LatencySpec::Normal { mean_ms, stddev_ms } => {
                [non_negative("mean_ms", mean_ms), non_negative("stddev_ms", stddev_ms)].into_iter().flatten().collect()
            }
            LatencySpec::Contention { base_ms, per_concurrent_ms } => {
                [non_negative("base_ms", base_ms), non_negative("per_concurrent_ms", per_concurrent_ms)]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            LatencySpec::Lognormal { median_ms, sigma } => {
                let mut p: Vec<_> = Vec::new();
                if !sigma.is_finite() || !(0.0..=MAX_SIGMA).contains(&sigma) {
                    p.push(("sigma", format!("{sigma} must be between 0 and {MAX_SIGMA}")));
                }
                if !median_ms.is_finite() || median_ms <= 0.0 {
                    p.push(("median_ms", format!("{median_ms} must be a positive number")));
                } else if median_ms > MAX_FAULT_MS {
                    p.push(("median_ms", format!("{median_ms} ms is over the maximum of {MAX_FAULT_MS} (one hour)")));
                }
                p
            }
        }
    }
}
