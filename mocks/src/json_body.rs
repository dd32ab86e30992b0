//! Reading a request body as a JSON object, for every mock. The failures are typed so that each
//! service can answer them in its own error shape (OpenAI's, the RAG envelope, JSON-RPC).

use axum::extract::Request;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// Why a body is not a usable JSON object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    /// `Content-Type` is not JSON (carries what was sent, or `none`).
    #[error(
        "Invalid Content-Type header ({0}), expected application/json. Send the body as JSON with `Content-Type: application/json`."
    )]
    UnsupportedMediaType(String),
    /// Larger than the service's limit (carries the limit).
    #[error("Request body too large: the limit is {0} bytes. Send a smaller request.")]
    TooLarge(usize),
    /// Not JSON at all (carries the parser's message).
    #[error("The body is not valid JSON: {0}.")]
    Unparseable(String),
    /// JSON, but not an object (carries the JSON type found).
    #[error("Invalid type for request body: expected an object, but got {0} instead.")]
    NotObject(&'static str),
}

/// Whether the request says its body is JSON.
pub fn is_json(request: &Request) -> Result<(), BodyError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(BodyError::UnsupportedMediaType(if content_type.is_empty() { "none".into() } else { content_type.into() }))
    }
}

/// Reads at most `limit` bytes of a body that says it is JSON, without parsing it (for services
/// that parse straight into their own types).
pub async fn json_bytes(request: Request, limit: usize) -> Result<Bytes, BodyError> {
    is_json(&request)?;
    axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| BodyError::TooLarge(limit))
}

/// Parses bytes as any JSON value.
pub fn parse_value(bytes: &[u8]) -> Result<Value, BodyError> {
    serde_json::from_slice::<Value>(bytes).map_err(|e| BodyError::Unparseable(e.to_string()))
}

/// Parses bytes as a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        other => Err(BodyError::NotObject(json_type(&other))),
    }
}

/// Reads at most `limit` bytes and parses them as any JSON value.
pub async fn json_value(request: Request, limit: usize) -> Result<Value, BodyError> {
    parse_value(&json_bytes(request, limit).await?)
}

/// Reads at most `limit` bytes and parses them as a JSON object.
pub async fn json_object(request: Request, limit: usize) -> Result<Map<String, Value>, BodyError> {
    parse_object(&json_bytes(request, limit).await?)
}

/// JSON type names as OpenAI's messages use them.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
