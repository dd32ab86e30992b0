//! `POST /v1/embeddings`: deterministic vectors of the model's dimension, as floats or base64.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::Gateway;
use super::errors::ApiError;
use super::extract::JsonObject;
use super::fields::{model_field, reject_unknown_fields};
use crate::config::ModelKind;

const KNOWN_FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];
/// Largest answer built, in bytes (estimated before building it).
pub(super) const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Most inputs in one request, as OpenAI allows.
const MAX_INPUTS: usize = 2048;

/// The inputs as texts (token arrays are embedded by their decimal rendering).
fn inputs(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let empty = || {
        ApiError::invalid(
            "'$.input' is invalid. Please check the API reference: the input must not be empty.",
            Some("input"),
            Some("invalid_value"),
        )
    };
    let token_text = |tokens: &[Value]| -> Option<String> {
        tokens.iter().map(|t| t.as_u64().map(|n| n.to_string())).collect::<Option<Vec<_>>>().map(|v| v.join(" "))
    };
    match body.get("input") {
        None | Some(Value::Null) => Err(ApiError::missing("input")),
        Some(Value::String(s)) if s.is_empty() => Err(empty()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.is_empty() => Err(empty()),
        Some(Value::Array(items)) if items.len() > MAX_INPUTS => Err(ApiError::invalid(
            format!("'$.input' is invalid: at most {MAX_INPUTS} inputs per request, got {}.", items.len()),
            Some("input"),
            Some("invalid_value"),
        )),
        Some(Value::Array(items)) if items.iter().all(Value::is_u64) => {
            token_text(items).map(|t| vec![t]).ok_or_else(empty)
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::Array(tokens) if !tokens.is_empty() => token_text(tokens).ok_or_else(|| {
                    ApiError::wrong_type(&format!("input[{i}]"), "a string or an array of integers", item)
                }),
                Value::String(_) | Value::Array(_) => Err(empty()),
                other => Err(ApiError::wrong_type(&format!("input[{i}]"), "a string or an array of integers", other)),
            })
            .collect(),
        Some(other) => Err(ApiError::wrong_type("input", "a string or an array", other)),
    }
}

/// The handler.
pub(super) async fn embeddings(State(gateway): State<Arc<Gateway>>, body: Result<JsonObject, ApiError>) -> Response {
    let JsonObject(body) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    let response = embed(&gateway, &body).unwrap_or_else(IntoResponse::into_response);
    super::note_model(response, model)
}

fn embed(gateway: &Arc<Gateway>, body: &Map<String, Value>) -> Result<Response, ApiError> {
    reject_unknown_fields(body, KNOWN_FIELDS)?;
    let model = model_field(body)?;
    let texts = inputs(body)?;
    let base64 = match body.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(Value::String(f)) => {
            return Err(ApiError::invalid(
                format!("Invalid value: '{f}'. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                Some("invalid_value"),
            ));
        }
        Some(other) => return Err(ApiError::wrong_type("encoding_format", "a string", other)),
    };
    let served = gateway.resolve(&model, ModelKind::Embedding)?;
    let native = served.spec.dimensions.unwrap_or(0);
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => native,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|d| d >= 1 && d as usize <= native) => {
            n.as_u64().unwrap_or(0) as usize
        }
        Some(Value::Number(n)) => {
            return Err(ApiError::invalid(
                format!("Invalid 'dimensions': {n}. This model supports 1 to {native} dimensions."),
                Some("dimensions"),
                Some("invalid_value"),
            ));
        }
        Some(other) => return Err(ApiError::wrong_type("dimensions", "an integer", other)),
    };
    let counts: Vec<u64> = texts.iter().map(|t| super::text::count_tokens(t)).collect();
    if let Some((i, n)) = counts.iter().enumerate().find(|(_, n)| **n > served.spec.context_window) {
        return Err(ApiError::invalid(
            format!(
                "This model's maximum context length is {} tokens, however you requested {n} tokens in input[{i}]. Please reduce your input.",
                served.spec.context_window
            ),
            Some("input"),
            Some("context_length_exceeded"),
        ));
    }
    // A float renders as ~20 bytes of JSON, base64 as 4/3 of its 4 bytes: bound the answer before
    // building it (2,048 inputs of 16,384 dimensions would be hundreds of megabytes).
    let per_value = if base64 { 6 } else { 20 };
    let answer_bytes = texts.len() * dimensions * per_value;
    if answer_bytes > MAX_ANSWER_BYTES {
        return Err(ApiError::invalid(
            format!(
                "The answer would be about {} MB ({} inputs x {dimensions} dimensions); this gateway answers at most {} MB per request. Send fewer inputs per request, fewer `dimensions`, or `encoding_format: \"base64\"`.",
                answer_bytes >> 20,
                texts.len(),
                MAX_ANSWER_BYTES >> 20
            ),
            Some("input"),
            Some("answer_too_large"),
        ));
    }
    let prompt_tokens: u64 = counts.iter().sum();
    let admission = served.limiter.admit(&served.spec.id, prompt_tokens)?;
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = super::text::embedding(gateway.seed, text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let mut response = Json(json!({
        "object": "list",
        "data": data,
        "model": served.spec.id,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
    .into_response();
    admission.headers.write(response.headers_mut());
    Ok(response)
}
