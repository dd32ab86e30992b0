//! Request fields every OpenAI endpoint validates the same way (`model`, unknown fields, positive
//! integers, `stream` and its options), in OpenAI's words.

use serde_json::{Map, Value};

use super::errors::ApiError;

/// The `model` field, shared with embeddings.
pub(super) fn model_field(body: &Map<String, Value>) -> Result<String, ApiError> {
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
pub(super) fn reject_unknown_fields(body: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<&str> = body.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let noun = if unknown.len() == 1 { "argument" } else { "arguments" };
    Err(ApiError::invalid(format!("Unrecognized request {noun} supplied: {}", unknown.join(", ")), None, None))
}

/// A positive integer field (`n`, `max_tokens`, ...), when present.
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

/// `n`, the number of choices (1 when absent), at most `max` as the spec bounds it.
pub(super) fn choice_count(body: &Map<String, Value>, max: u64) -> Result<u64, ApiError> {
    let n = positive_int(body, "n")?.unwrap_or(1);
    if n > max {
        return Err(ApiError::invalid(
            format!("Invalid 'n': integer above maximum value. Expected a value <= {max}, but got {n} instead."),
            Some("n"),
            Some("integer_above_max_value"),
        ));
    }
    Ok(n)
}
