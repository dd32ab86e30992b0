//! A served model as configured: identity, limits, streaming behaviour and rate limits.
//!
//! The same type is read from the config file and posted to `/__admin/models`, so the two can
//! never drift apart.

use serde::{Deserialize, Serialize};

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Serves `/v1/chat/completions`.
    Chat,
    /// Serves `/v1/embeddings`.
    Embedding,
}

/// Per-model rate limits; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests per minute (a bucket refilled continuously over the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once (a stream counts until it ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u32>,
}

/// How a chat model uses the tools a request declares (seeded per request, so deterministic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolPolicy {
    /// With `tool_choice: "auto"`: the chance that the model calls tools rather than answering in
    /// words, at each step of the loop.
    pub call_probability: f64,
    /// Rounds of tool calls (since the last user message) after which an `auto` model answers in
    /// words: 1 means one round of calls, then the answer.
    pub max_rounds: u32,
    /// Most calls in one answer when `parallel_tool_calls` allows several (distinct tools).
    pub parallel_calls: u32,
    /// Agent fault: the chance that a call's arguments are cut short (not valid JSON), as a model
    /// that runs out of tokens or loses track sends them.
    pub invalid_arguments: f64,
    /// Agent fault: the chance that a call names a tool that was not declared.
    pub unknown_tool: f64,
    /// Agent fault: the chance that a call's arguments are valid JSON that breaks the tool's
    /// schema (a required property left out, or a value of the wrong type).
    pub invalid_values: f64,
    /// Which declared tools the model prefers: name patterns (`*` is any run of characters) with
    /// weights. A tool takes the weight of the first pattern it matches (1 when none does); a
    /// tool of weight 0 is only called when asked for by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_weights: Vec<ToolWeight>,
}

/// One entry of [`ToolPolicy::tool_weights`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolWeight {
    /// Tool names it covers (`*` is any run of characters).
    pub pattern: String,
    /// Relative chance of being called (0: never by the model's own choice).
    pub weight: f64,
}

impl ToolPolicy {
    /// The weight of the tool named `name`.
    pub fn weight_of(&self, name: &str) -> f64 {
        self.tool_weights.iter().find(|w| common::glob::matches(&w.pattern, name)).map_or(1.0, |w| w.weight)
    }
}

impl Default for ToolPolicy {
    fn default() -> Self {
        ToolPolicy {
            call_probability: 1.0,
            max_rounds: 1,
            parallel_calls: 1,
            invalid_arguments: 0.0,
            unknown_tool: 0.0,
            invalid_values: 0.0,
            tool_weights: Vec::new(),
        }
    }
}

/// One served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model id clients send.
    pub id: String,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// Other names that resolve to this model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `owned_by` in `/v1/models`.
    #[serde(default = "default_owner")]
    pub owned_by: String,
    /// Context window in tokens (prompt + completion).
    #[serde(default = "default_context")]
    pub context_window: u64,
    /// Largest allowed `max_tokens`.
    #[serde(default = "default_max_output")]
    pub max_output_tokens: u64,
    /// Whether `"stream": true` is allowed.
    #[serde(default = "default_true")]
    pub streaming: bool,
    /// Embedding dimensions (embedding models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// Simulated time to first token, ms.
    #[serde(default)]
    pub ttft_ms: u64,
    /// Simulated generation speed; 0 means instant.
    #[serde(default)]
    pub tokens_per_second: f64,
    /// Rate limits.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rate_limit: RateLimitSpec,
    /// How it uses declared tools (chat models).
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub tools: ToolPolicy,
    /// How many words (one token each) its answers have when `max_tokens` does not cut them.
    #[serde(default, skip_serializing_if = "is_default_length")]
    pub answer_words: AnswerWords,
}

/// The range an answer's natural length is drawn from (inclusive), in words: one token each. The
/// default, 12 to 48, keeps answers short; a streaming benchmark sets, say, `{ min = 200, max =
/// 200 }` for long streams (`max_tokens` still cuts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerWords {
    /// Fewest words.
    pub min: u32,
    /// Most words.
    pub max: u32,
}

impl Default for AnswerWords {
    fn default() -> Self {
        AnswerWords { min: 12, max: 48 }
    }
}

/// Longest natural answer a model may be configured for, in words.
pub(super) const MAX_ANSWER_WORDS: u32 = 100_000;

fn is_default_length(words: &AnswerWords) -> bool {
    *words == AnswerWords::default()
}

fn is_default_policy(p: &ToolPolicy) -> bool {
    *p == ToolPolicy::default()
}

fn is_default(r: &RateLimitSpec) -> bool {
    *r == RateLimitSpec::default()
}
fn default_owner() -> String {
    "mock-gateway".to_owned()
}
fn default_context() -> u64 {
    8192
}
fn default_max_output() -> u64 {
    4096
}
fn default_true() -> bool {
    true
}

impl ModelSpec {
    /// Every problem with this model, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.id.trim().is_empty() {
            p.push(("id", "a model needs a non-empty id".to_owned()));
        }
        if self.context_window == 0 {
            p.push(("context_window", "must be at least 1 token".to_owned()));
        }
        if self.max_output_tokens == 0 {
            p.push(("max_output_tokens", "must be at least 1 token".to_owned()));
        }
        if !self.tokens_per_second.is_finite() || self.tokens_per_second < 0.0 {
            p.push(("tokens_per_second", "must be 0 (instant) or a positive number".to_owned()));
        }
        match (self.kind, self.dimensions) {
            (ModelKind::Embedding, None | Some(0)) => {
                p.push(("dimensions", "an embedding model needs `dimensions` (e.g. 1536)".to_owned()))
            }
            (ModelKind::Embedding, Some(d)) if d > 16_384 => {
                p.push(("dimensions", format!("{d} is over the supported 16384")))
            }
            (ModelKind::Chat, Some(_)) => p.push(("dimensions", "only embedding models have `dimensions`".to_owned())),
            _ => {}
        }
        for (field, chance) in [
            ("tools.call_probability", self.tools.call_probability),
            ("tools.invalid_arguments", self.tools.invalid_arguments),
            ("tools.unknown_tool", self.tools.unknown_tool),
            ("tools.invalid_values", self.tools.invalid_values),
        ] {
            if !(0.0..=1.0).contains(&chance) {
                p.push((field, "must be between 0 and 1".to_owned()));
            }
        }
        if !(1..=16).contains(&self.tools.parallel_calls) {
            p.push(("tools.parallel_calls", "must be between 1 and 16".to_owned()));
        }
        if self.tools.tool_weights.iter().any(|w| !w.weight.is_finite() || !(0.0..=1e6).contains(&w.weight)) {
            p.push(("tools.tool_weights", "each weight must be between 0 and 1000000".to_owned()));
        }
        if self.tools.tool_weights.len() > 128 {
            p.push(("tools.tool_weights", "at most 128 patterns".to_owned()));
        }
        if self.answer_words.min > self.answer_words.max || self.answer_words.max > MAX_ANSWER_WORDS {
            p.push(("answer_words", format!("needs 0 <= min <= max <= {MAX_ANSWER_WORDS}")));
        }
        if self.tools.max_rounds > 100 {
            p.push(("tools.max_rounds", "must be at most 100".to_owned()));
        }
        if self.rate_limit.concurrent == Some(0) {
            p.push(("rate_limit.concurrent", "must be at least 1 (omit it for no limit)".to_owned()));
        }
        if self.rate_limit.requests_per_minute == Some(0) {
            p.push(("rate_limit.requests_per_minute", "must be at least 1 (omit it for no limit)".to_owned()));
        }
        p
    }
}
