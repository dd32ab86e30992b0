//! Answers beyond plain words: tool calls and structured outputs. Whether the model calls tools,
//! which and how many, and every generated value are drawn from the request's fingerprint under
//! the model's [`ToolPolicy`], so the same request always gets the same answer.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::errors::ApiError;
use super::schema_value::{SchemaProblem, value_for};
use super::stream::Piece;
use super::text::{CHARS_PER_TOKEN, CompletionText, json_tokens};
use super::tools::{ResponseFormat, Shaping, ToolChoice};
use super::wire::{ChatCompletion, Choice, FunctionCall, Message, ToolCall, Usage};
use crate::config::ModelSpec;

/// A tool call the model makes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PlannedCall {
    /// `call_...`.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object as a string, valid against the tool's parameters.
    pub arguments: String,
}

/// What a worded answer says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Content {
    /// Nothing (the model calls tools).
    None,
    /// Generated words.
    Words(Vec<&'static str>),
    /// A JSON text (structured output).
    Json(String),
}

/// One choice's answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ChoiceAnswer {
    /// Its text.
    pub content: Content,
    /// Its tool calls (empty for a worded answer).
    pub calls: Vec<PlannedCall>,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
    /// Completion tokens it counts.
    pub tokens: u64,
}

fn unanswerable(p: SchemaProblem) -> ApiError {
    ApiError::invalid(format!("The schema cannot be answered: {p}."), None, Some("invalid_json_schema"))
}

/// The answer of one choice drawn from `seed`.
pub(super) fn answer(
    shaping: &Shaping,
    spec: &ModelSpec,
    seed: u64,
    max_tokens: Option<u64>,
) -> Result<ChoiceAnswer, ApiError> {
    let policy = &spec.tools;
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x7001_5eed);
    let call = !shaping.tools.is_empty()
        && match &shaping.choice {
            ToolChoice::None => false,
            ToolChoice::Required | ToolChoice::Named(_) => true,
            ToolChoice::Auto => shaping.rounds < policy.max_rounds && rng.random_bool(policy.call_probability),
        };
    // The tools the model would pick by itself: those of positive weight (all, when `required`
    // finds none it likes).
    let weights: Vec<f64> = shaping.tools.iter().map(|t| policy.weight_of(&t.name)).collect();
    let liked = weights.iter().filter(|w| **w > 0.0).count();
    let call = call && (liked > 0 || shaping.choice != ToolChoice::Auto);
    if call {
        let chosen: Vec<usize> = match &shaping.choice {
            ToolChoice::Named(name) => shaping.tools.iter().position(|t| &t.name == name).into_iter().collect(),
            _ if policy.tool_weights.is_empty() || liked == 0 => {
                let most = if shaping.parallel { (policy.parallel_calls as usize).min(shaping.tools.len()) } else { 1 };
                let count = rng.random_range(1..=most.max(1));
                rand::seq::index::sample(&mut rng, shaping.tools.len(), count).into_vec()
            }
            _ => {
                let most = if shaping.parallel { (policy.parallel_calls as usize).min(liked) } else { 1 };
                let count = rng.random_range(1..=most.max(1));
                rand::seq::index::sample_weighted(&mut rng, shaping.tools.len(), |i| weights[i], count)
                    .map(|picked| picked.into_vec())
                    .unwrap_or_default()
            }
        };
        let calls = chosen
            .into_iter()
            .enumerate()
            .map(|(i, tool)| {
                let tool = &shaping.tools[tool];
                let arguments = value_for(&tool.parameters, seed.wrapping_add(i as u64 + 1)).map_err(unanswerable)?;
                // Agent faults, drawn per call: arguments cut short, a tool never declared, values
                // the schema forbids.
                let (broken, lost): (f64, f64) = (rng.random(), rng.random());
                let arguments = if policy.invalid_values > 0.0 && rng.random_bool(policy.invalid_values) {
                    schema_breaking(&tool.parameters, arguments).to_string()
                } else {
                    arguments.to_string()
                };
                let arguments = if broken < policy.invalid_arguments {
                    arguments.chars().take(arguments.chars().count() / 2).collect()
                } else {
                    arguments
                };
                let name =
                    if lost < policy.unknown_tool { format!("{}_undeclared", tool.name) } else { tool.name.clone() };
                Ok(PlannedCall { id: format!("call_{:016x}{:08x}", seed, i), name, arguments })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let tokens = calls.iter().map(|c| json_tokens(&c.arguments)).sum();
        return Ok(ChoiceAnswer { content: Content::None, calls, finish_reason: "tool_calls", tokens });
    }
    let json = match &shaping.format {
        ResponseFormat::Text => {
            let text = CompletionText::new(seed, max_tokens, spec.answer_words);
            let (tokens, cut) = (text.len() as u64, text.cut());
            return Ok(ChoiceAnswer {
                content: Content::Words(text.words().collect()),
                calls: Vec::new(),
                finish_reason: if cut { "length" } else { "stop" },
                tokens,
            });
        }
        ResponseFormat::JsonObject => {
            let words: Vec<&str> = CompletionText::new(seed, Some(12), spec.answer_words).words().collect();
            serde_json::json!({ "answer": words.join(" ") }).to_string()
        }
        ResponseFormat::JsonSchema { schema, .. } => value_for(schema, seed).map_err(unanswerable)?.to_string(),
    };
    // Cut at max_tokens as a model would: mid-JSON, with `length`.
    let tokens = json_tokens(&json);
    match max_tokens.filter(|max| *max < tokens) {
        Some(max) => Ok(ChoiceAnswer {
            content: Content::Json(json.chars().take(max as usize * CHARS_PER_TOKEN).collect()),
            calls: Vec::new(),
            finish_reason: "length",
            tokens: max,
        }),
        None => Ok(ChoiceAnswer { content: Content::Json(json), calls: Vec::new(), finish_reason: "stop", tokens }),
    }
}

/// Arguments that parse but break `schema`: its first required property left out, else its first
/// property given a value of the wrong type, else a property it does not declare.
fn schema_breaking(schema: &Value, arguments: Value) -> Value {
    let Value::Object(mut object) = arguments else { return Value::Array(Vec::new()) };
    let required = schema["required"].as_array().and_then(|r| r.first()).and_then(Value::as_str);
    if let Some(name) = required.filter(|name| object.contains_key(*name)) {
        object.remove(name);
    } else if let Some((_, value)) = object.iter_mut().next() {
        *value = match value {
            Value::String(_) => Value::from(12345),
            Value::Number(_) | Value::Null => Value::from("not a number"),
            Value::Bool(_) => Value::from("yes"),
            Value::Array(_) | Value::Object(_) => Value::from(true),
        };
    } else {
        object.insert("undeclared_property".into(), Value::Bool(true));
    }
    Value::Object(object)
}

impl ChoiceAnswer {
    /// The pieces a stream plays, one chunk each.
    pub(super) fn pieces(&self) -> Vec<Piece> {
        let mut pieces = match &self.content {
            Content::None => Vec::new(),
            Content::Words(words) => Piece::words(words.clone()),
            Content::Json(json) => Piece::split(json).into_iter().map(|p| Piece::Text(p.into())).collect(),
        };
        for (index, call) in self.calls.iter().enumerate() {
            let index = index as u32;
            pieces.push(Piece::call_start(index, call.id.clone(), call.name.clone()));
            pieces.extend(
                Piece::split(&call.arguments).into_iter().map(|text| Piece::CallArgs { index, text: text.into() }),
            );
        }
        pieces
    }
}

/// Counts the tool calls answers make, by tool name (the `tool_call` event in the counters), so a
/// test or an agent run can check that every call the model made was executed exactly once.
pub(super) fn count_calls(telemetry: &crate::telemetry::Telemetry, answers: &[ChoiceAnswer]) {
    for call in answers.iter().flat_map(|a| &a.calls) {
        telemetry.event("tool_call", &call.name);
    }
}

/// The log probabilities of an answer's content (`None` for tool calls): words with their
/// leading spaces, JSON text in pieces of [`CHARS_PER_TOKEN`] characters.
pub(super) fn content_logprobs(answer: &ChoiceAnswer, seed: u64, top: u8) -> Option<super::logprobs::ChoiceLogprobs> {
    let tokens: Vec<String> = match &answer.content {
        Content::None => return None,
        Content::Words(words) => super::logprobs::word_tokens(words).collect(),
        Content::Json(json) => {
            let chars: Vec<char> = json.chars().collect();
            chars.chunks(CHARS_PER_TOKEN).map(|c| c.iter().collect()).collect()
        }
    };
    Some(super::logprobs::for_tokens(tokens.iter().map(String::as_str), seed, top))
}

/// The non-streamed completion of shaped answers, as JSON bytes; with `logprobs` (the request's
/// fingerprint and `top_logprobs`) each choice carries its tokens' log probabilities.
pub(super) fn completion_body(
    id: &str,
    created: u64,
    model: &str,
    prompt_tokens: u64,
    answers: &[ChoiceAnswer],
    logprobs: Option<(u64, u8)>,
) -> Vec<u8> {
    let texts: Vec<Option<String>> = answers
        .iter()
        .map(|a| match &a.content {
            Content::None => None,
            Content::Words(words) => Some(words.join(" ")),
            Content::Json(json) => Some(json.clone()),
        })
        .collect();
    let choices = answers
        .iter()
        .zip(&texts)
        .enumerate()
        .map(|(index, (a, text))| Choice {
            index: index as u64,
            message: Message {
                role: "assistant",
                content: text.as_deref(),
                refusal: None,
                tool_calls: (!a.calls.is_empty()).then(|| {
                    a.calls
                        .iter()
                        .map(|c| ToolCall {
                            id: &c.id,
                            kind: "function",
                            function: FunctionCall { name: &c.name, arguments: &c.arguments },
                        })
                        .collect()
                }),
            },
            logprobs: logprobs.and_then(|(seed, top)| content_logprobs(a, seed.wrapping_add(index as u64), top)),
            finish_reason: a.finish_reason,
        })
        .collect();
    let completion = ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model,
        choices,
        usage: Usage::new(prompt_tokens, answers.iter().map(|a| a.tokens).sum()),
        system_fingerprint: "fp_mock",
    };
    serde_json::to_vec(&completion).expect("a completion serializes")
}
