//! JSON-RPC 2.0 as MCP uses it: parsing one message, the error codes, and response bodies.

use serde_json::{Map, Value, json};

/// Invalid JSON.
pub(super) const PARSE_ERROR: i64 = -32700;
/// Not a valid request object.
pub(super) const INVALID_REQUEST: i64 = -32600;
/// Unknown method.
pub(super) const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters (including an unknown tool, or arguments failing the tool's schema).
pub(super) const INVALID_PARAMS: i64 = -32602;
/// Server-side failure.
pub(super) const INTERNAL_ERROR: i64 = -32603;
/// The tool concurrency limit is reached (implementation-defined range).
pub(super) const SERVER_BUSY: i64 = -32010;
/// `MCP-Protocol-Version` header and `_meta` disagree (2026-07-28).
pub(super) const HEADER_MISMATCH: i64 = -32020;
/// Protocol version not supported (2026-07-28).
pub(super) const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// A JSON-RPC error, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// Optional data.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    /// The full JSON-RPC error object for request `id`.
    /// The error response to request `id`. When the id is unknown (the request could not be
    /// read), `id` is left out: the 2025-11-25 and 2026-07-28 schemas allow no `null` id but an
    /// absent one (2025-06-18 allows neither; an absent id is the closer of the two).
    pub(crate) fn to_message(&self, id: &Value) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        if id.is_null() {
            json!({"jsonrpc": "2.0", "error": error})
        } else {
            json!({"jsonrpc": "2.0", "id": id, "error": error})
        }
    }
}

/// A successful response to request `id`.
pub(super) fn result_message(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// One incoming message.
#[derive(Debug, Clone)]
pub(super) enum Incoming {
    /// A request (has an id).
    Request {
        /// Its id.
        id: Value,
        /// Its method.
        method: String,
        /// Its params (an empty object when absent).
        params: Map<String, Value>,
    },
    /// A notification (no id): acknowledged, nothing to answer.
    Notification,
    /// A response from the client (to a server request); accepted and ignored.
    Response,
}

/// Parses one JSON-RPC message; the error carries the id when one could be read.
pub(super) fn parse(value: &Value) -> Result<Incoming, (Value, RpcError)> {
    let Value::Object(message) = value else {
        let what = if value.is_array() { "batches are not supported" } else { "a message must be a JSON object" };
        return Err((Value::Null, RpcError::new(INVALID_REQUEST, format!("Invalid Request: {what}"))));
    };
    let id = message.get("id").cloned();
    let bad = |why: &str| {
        (id.clone().unwrap_or(Value::Null), RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}")))
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(bad("`jsonrpc` must be \"2.0\""));
    }
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return Err((
            Value::Null,
            RpcError::new(INVALID_REQUEST, "Invalid Request: `id` must be a string or an integer"),
        ));
    }
    let Some(method) = message.get("method") else {
        return if id.is_some() && (message.contains_key("result") || message.contains_key("error")) {
            Ok(Incoming::Response)
        } else {
            Err(bad("missing `method`"))
        };
    };
    let Some(method) = method.as_str() else { return Err(bad("`method` must be a string")) };
    let params = match message.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err((
                id.unwrap_or(Value::Null),
                RpcError::new(INVALID_PARAMS, "Invalid params: `params` must be an object"),
            ));
        }
    };
    Ok(match id {
        Some(id) => Incoming::Request { id, method: method.to_owned(), params },
        None => Incoming::Notification,
    })
}
