//! The one chat request type and how a body becomes one: the general validator (every field, in
//! OpenAI's words) and the fast path for plain requests ([`super::fast`]) behind one seam,
//! [`ChatRequest::read`].

use serde::Serialize;
use serde_json::{Map, Value};

use crate::gateway::errors::ApiError;
use crate::gateway::extract::JsonObject;
use crate::gateway::fields::{choice_count, model_field, positive_int, reject_unknown_fields, stream_fields};
use crate::gateway::tools::Shaping;

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
pub(crate) const MAX_CHOICES: u64 = 128;
/// Message roles OpenAI accepts.
pub(crate) const ROLES: &[&str] = &["system", "assistant", "user", "function", "tool", "developer"];

/// A validated chat request.
#[derive(Debug, PartialEq)]
pub(crate) struct ChatRequest {
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

impl ChatRequest {
    /// The one way a chat body becomes a request, with the model it named (for the journal) when
    /// it was refused. Plain requests take the fast path; anything else, and every refusal, the
    /// general validator, so the error is always the general one.
    pub(crate) fn read(bytes: &[u8], seed: u64) -> (Option<String>, Result<ChatRequest, ApiError>) {
        if let Some(request) = super::fast::parse(bytes, seed) {
            return (None, Ok(request));
        }
        match JsonObject::parse(bytes) {
            Ok(JsonObject(body)) => (body.get("model").and_then(Value::as_str).map(str::to_owned), parse(&body, seed)),
            Err(error) => (None, Err(error)),
        }
    }
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

/// Validates a general chat body into a [`ChatRequest`].
pub(crate) fn parse(body: &Map<String, Value>, seed: u64) -> Result<ChatRequest, ApiError> {
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
    let prompt_tokens = crate::gateway::text::prompt_tokens(contents.iter().map(String::as_str));
    let (stream, include_usage) = stream_fields(body)?;
    let max_tokens = match positive_int(body, "max_completion_tokens")? {
        Some(v) => Some(v),
        None => positive_int(body, "max_tokens")?,
    };
    let n = choice_count(body, MAX_CHOICES)?;
    super::bounds::check(body)?;
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
        fingerprint ^= common::fnv1a(serde_json::to_string(&shape).unwrap_or_default().as_bytes());
    }
    Ok(ChatRequest { model, prompt_tokens, stream, include_usage, max_tokens, n, fingerprint, shaping, logprobs })
}

/// The hash of everything that determines an answer, mixed with the gateway's seed. Both parsers
/// (this one and [`super::fast`]) hash the same JSON bytes for the same request.
pub(crate) fn fingerprint(
    seed: u64,
    model: &str,
    messages: &impl Serialize,
    max_tokens: Option<u64>,
    n: u64,
    request_seed: &impl Serialize,
    temperature: &impl Serialize,
) -> Option<u64> {
    let mut hasher = common::Fnv1a::default();
    serde_json::to_writer(&mut hasher, &(model, messages, max_tokens, n, request_seed, temperature)).ok()?;
    Some(seed ^ hasher.finish())
}

/// `chatcmpl-` and 16 hex digits (see [`Gateway::unique_id`]).
pub(super) fn completion_id(fingerprint: u64) -> String {
    let mut id = String::with_capacity(25);
    id.push_str("chatcmpl-");
    id.push_str(std::str::from_utf8(&crate::gateway::hex16(fingerprint)).unwrap_or_default());
    id
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
