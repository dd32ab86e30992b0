//! `POST /v1/chat/completions`: OpenAI's validation, deterministic completions, simulated timing.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::completion_json::{CompletionHead, completion_json};
use super::errors::ApiError;
use super::extract::{JsonBytes, JsonObject};
use super::model_spec::ModelKind;
use super::shaped;
use super::stream::{ChoiceStream, Piece, StreamPlan, stream_response};
use super::text::CompletionText;
use super::tools::Shaping;
use super::wire::{Usage, bytes_response};
use super::{Gateway, unix_now};
use crate::faults::StreamFault;

/// Request fields the endpoint accepts (anything else is OpenAI's "Unrecognized request argument").
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "service_tier",
    "store",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "functions",
    "function_call",
    "web_search_options",
    "safety_identifier",
    "prompt_cache_key",
    "verbosity",
    "moderation",
    "prompt_cache_options",
    "prompt_cache_retention",
];
/// Most choices one request may ask for (the spec's bound on `n`).
pub(super) const MAX_CHOICES: u64 = 128;
/// Message roles OpenAI accepts.
pub(super) const ROLES: &[&str] = &["system", "assistant", "user", "function", "tool", "developer"];

/// A validated chat request.
#[derive(Debug, PartialEq)]
pub struct ChatRequest {
    /// The model name as asked.
    pub model: String,
    /// Tokens of the prompt (every message's text plus framing).
    pub prompt_tokens: u64,
    /// `stream`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// `max_tokens` or `max_completion_tokens`.
    pub max_tokens: Option<u64>,
    /// Number of choices.
    pub n: u64,
    /// Hash of everything that determines the answer.
    pub fingerprint: u64,
    /// Tools and response format, when the request asks for more than words.
    pub shaping: Option<Box<Shaping>>,
    /// `logprobs: true`: with this many `top_logprobs` per token.
    pub logprobs: Option<u8>,
}

/// The `model` field, shared with embeddings.
pub fn model_field(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("model") {
        None | Some(Value::Null) => Err(ApiError::missing("model")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::invalid(
            "Invalid 'model': empty string. Expected a model id such as one listed by GET /v1/models.",
            Some("model"),
            Some("invalid_value"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::wrong_type("model", "a string", other)),
    }
}

/// Rejects fields the endpoint does not know, as OpenAI does.
pub fn reject_unknown_fields(body: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<&str> = body.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let noun = if unknown.len() == 1 { "argument" } else { "arguments" };
    Err(ApiError::invalid(format!("Unrecognized request {noun} supplied: {}", unknown.join(", ")), None, None))
}

fn message_text(i: usize, message: &Value) -> Result<String, ApiError> {
    let Value::Object(m) = message else {
        return Err(ApiError::wrong_type(&format!("messages[{i}]"), "an object", message));
    };
    let role = match m.get("role") {
        None => return Err(ApiError::missing(&format!("messages[{i}].role"))),
        Some(Value::String(r)) => r,
        Some(other) => {
            return Err(ApiError::wrong_type(&format!("messages[{i}].role"), "a string", other));
        }
    };
    if !ROLES.contains(&role.as_str()) {
        return Err(ApiError::invalid(
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
            ),
            Some(&format!("messages[{i}].role")),
            Some("invalid_value"),
        ));
    }
    let param = format!("messages[{i}].content");
    match m.get("content") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => match part.get("text") {
                        Some(Value::String(t)) => {
                            text.push_str(t);
                            text.push(' ');
                        }
                        other => {
                            return Err(ApiError::wrong_type(
                                &format!("{param}[{j}].text"),
                                "a string",
                                other.unwrap_or(&Value::Null),
                            ));
                        }
                    },
                    Some(_) => {}
                    None => return Err(ApiError::missing(&format!("{param}[{j}].type"))),
                }
            }
            Ok(text)
        }
        Some(Value::Null) | None if role == "assistant" => Ok(String::new()),
        None => Err(ApiError::missing(&param)),
        Some(other) => Err(ApiError::wrong_type(&param, "a string or an array of content parts", other)),
    }
}

pub(super) fn positive_int(body: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v >= 1) => Ok(n.as_u64()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Err(ApiError::invalid(
            format!("Invalid '{field}': integer below minimum value. Expected a value >= 1, but got {n} instead."),
            Some(field),
            Some("integer_below_min_value"),
        )),
        Some(other) => Err(ApiError::wrong_type(field, "an integer", other)),
    }
}

/// `stream` and `stream_options.include_usage`, validated as OpenAI does (chat and legacy
/// completions alike).
pub(super) fn stream_fields(body: &Map<String, Value>) -> Result<(bool, bool), ApiError> {
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(ApiError::wrong_type("stream", "a boolean", other)),
    };
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(_)) if !stream => {
            return Err(ApiError::invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                Some("stream_options"),
                Some("invalid_value"),
            ));
        }
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ApiError::wrong_type("stream_options.include_usage", "a boolean", other));
            }
        },
        Some(other) => return Err(ApiError::wrong_type("stream_options", "an object", other)),
    };
    Ok((stream, include_usage))
}

/// Validates a general chat body into a [`ChatRequest`].
pub fn parse(body: &Map<String, Value>, seed: u64) -> Result<ChatRequest, ApiError> {
    reject_unknown_fields(body, KNOWN_FIELDS)?;
    let model = model_field(body)?;
    let messages = match body.get("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing("messages")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        Some(Value::Array(a)) => a,
        Some(other) => return Err(ApiError::wrong_type("messages", "an array", other)),
    };
    let contents = messages.iter().enumerate().map(|(i, m)| message_text(i, m)).collect::<Result<Vec<_>, _>>()?;
    let shaping = Shaping::parse(body, messages)?.map(Box::new);
    let prompt_tokens = super::text::prompt_tokens(contents.iter().map(String::as_str));
    let (stream, include_usage) = stream_fields(body)?;
    let max_tokens = match positive_int(body, "max_completion_tokens")? {
        Some(v) => Some(v),
        None => positive_int(body, "max_tokens")?,
    };
    let n = positive_int(body, "n")?.unwrap_or(1);
    if n > MAX_CHOICES {
        return Err(ApiError::invalid(
            format!(
                "Invalid 'n': integer above maximum value. Expected a value <= {MAX_CHOICES}, but got {n} instead."
            ),
            Some("n"),
            Some("integer_above_max_value"),
        ));
    }
    super::chat_bounds::check(body)?;
    let logprobs = match (body.get("logprobs"), body.get("top_logprobs")) {
        (Some(Value::Bool(true)), top) => Some(top.and_then(Value::as_u64).unwrap_or(0).min(20) as u8),
        (_, Some(top)) if !top.is_null() => {
            return Err(ApiError::invalid(
                "Invalid value for 'top_logprobs': it requires 'logprobs' to be true.",
                Some("top_logprobs"),
                Some("invalid_value"),
            ));
        }
        _ => None,
    };
    let mut fingerprint =
        fingerprint(seed, &model, &body.get("messages"), max_tokens, n, &body.get("seed"), &body.get("temperature"))
            .ok_or_else(|| ApiError::unparseable("the request could not be hashed"))?;
    if shaping.is_some() {
        // Tools and formats shape the answer too: mix them in (plain requests hash as before).
        let shape = (body.get("tools"), body.get("tool_choice"), body.get("response_format"));
        fingerprint ^= crate::faults::fnv1a(serde_json::to_string(&shape).unwrap_or_default().as_bytes());
    }
    Ok(ChatRequest { model, prompt_tokens, stream, include_usage, max_tokens, n, fingerprint, shaping, logprobs })
}

/// The hash of everything that determines an answer, mixed with the gateway's seed. Both parsers
/// (this one and [`super::chat_plain`]) hash the same JSON bytes for the same request.
pub(super) fn fingerprint(
    seed: u64,
    model: &str,
    messages: &impl Serialize,
    max_tokens: Option<u64>,
    n: u64,
    request_seed: &impl Serialize,
    temperature: &impl Serialize,
) -> Option<u64> {
    let mut hasher = Fnv1aWriter(0xcbf2_9ce4_8422_2325);
    serde_json::to_writer(&mut hasher, &(model, messages, max_tokens, n, request_seed, temperature)).ok()?;
    Some(seed ^ hasher.0)
}

/// `chatcmpl-` and 16 hex digits (see [`Gateway::unique_id`]).
fn completion_id(fingerprint: u64) -> String {
    let mut id = String::with_capacity(25);
    id.push_str("chatcmpl-");
    id.push_str(std::str::from_utf8(&super::hex16(fingerprint)).unwrap_or_default());
    id
}

/// FNV-1a over everything written to it: hashes a request's content without copying it.
struct Fnv1aWriter(u64);

impl std::io::Write for Fnv1aWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = bytes.iter().fold(self.0, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The handler: plain requests take the typed parser, everything else the general validator.
pub async fn completions(
    State(gateway): State<Arc<Gateway>>,
    fault: Option<Extension<StreamFault>>,
    body: Result<JsonBytes, ApiError>,
) -> Response {
    let JsonBytes(bytes) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let fault = fault.map(|Extension(f)| f).unwrap_or_default();
    let (model, request) = match super::chat_plain::parse(&bytes, gateway.seed) {
        Some(request) => (None, Ok(request)),
        None => match JsonObject::parse(&bytes) {
            Ok(JsonObject(body)) => {
                (body.get("model").and_then(Value::as_str).map(str::to_owned), parse(&body, gateway.seed))
            }
            Err(error) => (None, Err(error)),
        },
    };
    match request {
        Ok(request) => {
            let response = complete(&gateway, &request, fault).await.unwrap_or_else(IntoResponse::into_response);
            super::note_model(response, Some(request.model))
        }
        Err(error) => super::note_model(error.into_response(), model),
    }
}

/// A request admitted to a model: what every answer (chat or Responses) is timed and named by.
pub(super) struct Prepared {
    /// The served model.
    pub served: Arc<super::ServedModel>,
    /// Its concurrency permit and rate-limit headers.
    pub admission: super::ratelimit::Admission,
    /// The model name the answer carries.
    pub answered_model: String,
    /// Time to first token.
    pub ttft: Duration,
    /// Generation speed.
    pub tokens_per_second: f64,
}

/// Resolves the model and checks streaming, output and context limits and the rate limits.
pub(super) fn prepare(
    gateway: &Arc<Gateway>,
    request: &ChatRequest,
    fault: &StreamFault,
) -> Result<Prepared, ApiError> {
    let served = gateway.resolve(&request.model, ModelKind::Chat)?;
    let spec = &served.spec;
    if request.stream && !spec.streaming {
        return Err(ApiError::invalid(
            format!("The model `{}` does not support streaming. Send the request without `stream: true`.", spec.id),
            Some("stream"),
            Some("unsupported_value"),
        ));
    }
    if let Some(max) = request.max_tokens
        && max > spec.max_output_tokens
    {
        return Err(ApiError::invalid(
            format!(
                "max_tokens is too large: {max}. This model supports at most {} completion tokens, whereas you provided {max}.",
                spec.max_output_tokens
            ),
            Some("max_tokens"),
            Some("invalid_value"),
        ));
    }
    let prompt_tokens = request.prompt_tokens;
    let requested = request.max_tokens.unwrap_or(0);
    if prompt_tokens + requested > spec.context_window {
        return Err(ApiError::invalid(
            format!(
                "This model's maximum context length is {} tokens. However, your messages resulted in {} tokens ({prompt_tokens} in the messages, {requested} in the completion). Please reduce the length of the messages or completion.",
                spec.context_window,
                prompt_tokens + requested
            ),
            Some("messages"),
            Some("context_length_exceeded"),
        ));
    }
    let admission = served.limiter.admit(&spec.id, prompt_tokens + requested)?;
    // Answered under the name asked for: the id, an alias, or a name the unknown-model policy mapped.
    let answered_model = request.model.clone();
    let ttft = Duration::from_millis(fault.ttft_ms.unwrap_or(spec.ttft_ms));
    let tokens_per_second = fault.tokens_per_second.unwrap_or(spec.tokens_per_second);
    Ok(Prepared { served, admission, answered_model, ttft, tokens_per_second })
}

async fn complete(gateway: &Arc<Gateway>, request: &ChatRequest, fault: StreamFault) -> Result<Response, ApiError> {
    let Prepared { served, admission, answered_model, ttft, tokens_per_second } = prepare(gateway, request, &fault)?;
    let spec = &served.spec;
    let answered_model = answered_model.as_str();
    let prompt_tokens = request.prompt_tokens;
    // Tools, formats, log probabilities or several streamed choices: the answers are drawn whole
    // and written through the wire structs (plain words draw the same words as the paths below).
    if request.shaping.is_some() || request.logprobs.is_some() || (request.stream && request.n > 1) {
        let plain = Shaping::words();
        let shaping = request.shaping.as_deref().unwrap_or(&plain);
        let answers = (0..request.n)
            .map(|index| shaped::answer(shaping, spec, request.fingerprint.wrapping_add(index), request.max_tokens))
            .collect::<Result<Vec<_>, _>>()?;
        shaped::count_calls(&gateway.telemetry, &answers);
        if request.stream {
            let choices = choice_streams(request, &answers);
            return Ok(stream(gateway, request, answered_model, choices, (ttft, tokens_per_second), fault, admission));
        }
        let completion_tokens = answers.iter().map(|a| a.tokens).sum::<u64>();
        crate::faults::pause(ttft + generation_time(completion_tokens, tokens_per_second)).await;
        drop(admission.permit);
        let id = completion_id(gateway.unique_id(request.fingerprint));
        let logprobs = request.logprobs.map(|top| (request.fingerprint, top));
        let body = shaped::completion_body(&id, unix_now(), answered_model, prompt_tokens, &answers, logprobs);
        let headers = admission.headers.json_answer(body.len());
        return Ok(bytes_response(body, headers));
    }
    if request.stream {
        let (words, cut) = super::text::completion_words(request.fingerprint, request.max_tokens, spec.answer_words);
        let tokens = words.len() as u64;
        let choice = ChoiceStream {
            pieces: Piece::words(words),
            finish_reason: if cut { "length" } else { "stop" },
            logprobs: None,
            tokens,
        };
        return Ok(stream(gateway, request, answered_model, vec![choice], (ttft, tokens_per_second), fault, admission));
    }
    // Every generated word is one token (see `text`), so the words are the completion tokens.
    let texts: Vec<CompletionText> = (0..request.n)
        .map(|index| {
            CompletionText::new(request.fingerprint.wrapping_add(index), request.max_tokens, spec.answer_words)
        })
        .collect();
    let completion_tokens = texts.iter().map(|t| t.len() as u64).sum::<u64>();
    crate::faults::pause(ttft + generation_time(completion_tokens, tokens_per_second)).await;
    drop(admission.permit);
    let head = CompletionHead {
        fingerprint: gateway.unique_id(request.fingerprint),
        created: unix_now(),
        model: answered_model,
        usage: Usage::new(prompt_tokens, completion_tokens),
    };
    let body = completion_json(&head, texts);
    let headers = admission.headers.json_answer(body.len());
    Ok(bytes_response(body, headers))
}

/// The streams of shaped answers, one per choice, with their log probabilities when asked for.
fn choice_streams(request: &ChatRequest, answers: &[shaped::ChoiceAnswer]) -> Vec<ChoiceStream> {
    answers
        .iter()
        .enumerate()
        .map(|(index, answer)| ChoiceStream {
            pieces: answer.pieces(),
            finish_reason: answer.finish_reason,
            logprobs: request.logprobs.and_then(|top| {
                shaped::content_logprobs(answer, request.fingerprint.wrapping_add(index as u64), top).map(|l| l.content)
            }),
            tokens: answer.tokens,
        })
        .collect()
}

/// Plays a streamed answer: its choices (pieces, finish reason, completion tokens), paced by
/// (time to first token, tokens/s); the admission's permit is held until the stream ends.
fn stream(
    gateway: &Arc<Gateway>,
    request: &ChatRequest,
    model: &str,
    choices: Vec<ChoiceStream>,
    (ttft, tokens_per_second): (Duration, f64),
    fault: StreamFault,
    admission: super::ratelimit::Admission,
) -> Response {
    let plan = StreamPlan {
        shape: super::stream::StreamShape::Chat,
        id: completion_id(gateway.unique_id(request.fingerprint)),
        model: model.to_owned(),
        completion_tokens: choices.iter().map(|c| c.tokens).sum(),
        choices,
        include_usage: request.include_usage,
        prompt_tokens: request.prompt_tokens,
        ttft,
        tokens_per_second,
        jitter: gateway.config.stream_jitter,
        fault,
        seed: request.fingerprint,
        telemetry: gateway.telemetry.clone(),
    };
    let mut response = stream_response(plan, admission.permit);
    admission.headers.write(response.headers_mut());
    response
}

/// How long generating `tokens` takes at `tokens_per_second` (0: instant).
pub(super) fn generation_time(tokens: u64, tokens_per_second: f64) -> Duration {
    if tokens_per_second > 0.0 { Duration::from_secs_f64(tokens as f64 / tokens_per_second) } else { Duration::ZERO }
}

#[cfg(test)]
mod tests {
    #[test]
    fn completion_ids_match_their_format_string() {
        for fingerprint in [0u64, 7, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(super::completion_id(fingerprint), format!("chatcmpl-{fingerprint:016x}"));
        }
    }
}
