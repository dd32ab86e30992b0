//! `POST /v1/responses`: OpenAI's Responses API over the same models, validation, tool policy,
//! structured outputs, timing, rate limits and faults as chat. A request is translated into the
//! chat request it means (input items -> messages, flat function tools -> chat tools,
//! `text.format` -> `response_format`, `max_output_tokens` -> `max_completion_tokens`), validated
//! and answered by the same code, and rendered as a `Response` or its event stream. Stored
//! responses (bounded, oldest out first) let `previous_response_id` continue a conversation.

mod events;
mod render;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::chat::{self, Prepared};
use super::errors::ApiError;
use super::extract::{JsonBytes, JsonObject};
use super::shaped;
use super::tools::Shaping;
use super::{Gateway, unix_now};
use crate::faults::StreamFault;
use render::{Rendered, assistant_message};

/// Request fields the endpoint accepts (the spec's `CreateResponse`).
const KNOWN_FIELDS: &[&str] = &[
    "background",
    "context_management",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "moderation",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// Most stored responses; the oldest go first.
const STORE_CAPACITY: usize = 10_000;

/// Stored conversations by response id, for `previous_response_id`.
#[derive(Default)]
pub(super) struct ResponseStore {
    conversations: HashMap<String, Vec<Value>>,
    order: VecDeque<String>,
}

impl ResponseStore {
    fn insert(&mut self, id: String, messages: Vec<Value>) {
        if self.order.len() >= STORE_CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.conversations.remove(&oldest);
        }
        self.order.push_back(id.clone());
        self.conversations.insert(id, messages);
    }

    /// Forgets every stored response (admin reset).
    pub(super) fn clear(&mut self) {
        self.conversations.clear();
        self.order.clear();
    }
}

/// The shared store.
pub(super) type SharedStore = Arc<Mutex<ResponseStore>>;

fn text_of(content: &Value, at: &str) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            Ok(parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" "))
        }
        other => Err(ApiError::wrong_type(at, "a string or an array of content parts", other)),
    }
}

/// The chat messages an `input` means (after the stored conversation, when continuing one).
fn messages(body: &Map<String, Value>, before: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    let mut out = before;
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        out.insert(0, json!({"role": "developer", "content": instructions}));
    }
    let items = match body.get("input") {
        None | Some(Value::Null) => return Err(ApiError::missing("input")),
        Some(Value::String(s)) => return Ok([out, vec![json!({"role": "user", "content": s})]].concat()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(ApiError::wrong_type("input", "a string or an array of input items", other)),
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        match item.get("type").and_then(Value::as_str).unwrap_or("message") {
            "message" => {
                let role =
                    item.get("role").and_then(Value::as_str).ok_or_else(|| ApiError::missing(&format!("{at}.role")))?;
                let content = item.get("content").ok_or_else(|| ApiError::missing(&format!("{at}.content")))?;
                out.push(json!({"role": role, "content": text_of(content, &format!("{at}.content"))?}));
            }
            "function_call" => {
                let field = |f: &str| {
                    item.get(f).and_then(Value::as_str).ok_or_else(|| ApiError::missing(&format!("{at}.{f}")))
                };
                let call = json!({"id": field("call_id")?, "type": "function",
                    "function": {"name": field("name")?, "arguments": field("arguments")?}});
                // Consecutive calls belong to one assistant turn.
                match out.last_mut() {
                    Some(last) if last["role"] == "assistant" && last["tool_calls"].is_array() => {
                        last["tool_calls"].as_array_mut().expect("checked").push(call);
                    }
                    _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::missing(&format!("{at}.call_id")))?;
                let output = item.get("output").ok_or_else(|| ApiError::missing(&format!("{at}.output")))?;
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": text_of(output, &format!("{at}.output"))?}));
            }
            other => {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid value: '{other}'. This gateway supports input items of type 'message', 'function_call' and 'function_call_output'."
                    ),
                    Some(&format!("{at}.type")),
                    Some("invalid_value"),
                ));
            }
        }
    }
    Ok(out)
}

/// The chat body a Responses request means.
fn chat_body(body: &Map<String, Value>, messages: Vec<Value>) -> Result<Map<String, Value>, ApiError> {
    let mut chat = Map::new();
    for field in ["model", "stream", "temperature", "top_p", "parallel_tool_calls", "user"] {
        if let Some(v) = body.get(field) {
            chat.insert(field.to_owned(), v.clone());
        }
    }
    chat.insert("messages".into(), Value::Array(messages));
    if let Some(max) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_completion_tokens".into(), max.clone());
    }
    if let Some(tools) = body.get("tools").filter(|v| !v.is_null()) {
        let Some(tools) = tools.as_array() else { return Err(ApiError::wrong_type("tools", "an array", tools)) };
        let converted = tools
            .iter()
            .enumerate()
            .map(|(i, t)| match t.get("type").and_then(Value::as_str) {
                Some("function") => Ok(json!({"type": "function", "function": {
                    "name": t.get("name").cloned().unwrap_or(Value::Null),
                    "description": t.get("description").cloned().unwrap_or(Value::Null),
                    "parameters": t.get("parameters").cloned().unwrap_or(Value::Null)}})),
                _ => Err(ApiError::invalid(
                    "This gateway supports tools of type 'function' only.",
                    Some(&format!("tools[{i}].type")),
                    Some("invalid_value"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        chat.insert("tools".into(), Value::Array(converted));
    }
    if let Some(choice) = body.get("tool_choice").filter(|v| !v.is_null()) {
        let converted = match choice.get("name") {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => choice.clone(),
        };
        chat.insert("tool_choice".into(), converted);
    }
    if let Some(format) = body.get("text").and_then(|t| t.get("format")).filter(|v| !v.is_null()) {
        let converted = match format.get("type").and_then(Value::as_str) {
            Some("json_schema") => json!({"type": "json_schema", "json_schema": {
                "name": format.get("name").cloned().unwrap_or(Value::Null),
                "schema": format.get("schema").cloned().unwrap_or(Value::Null),
                "strict": format.get("strict").cloned().unwrap_or(Value::Null)}}),
            _ => format.clone(),
        };
        chat.insert("response_format".into(), converted);
    }
    Ok(chat)
}

/// The handler.
pub(super) async fn create(
    State(gateway): State<Arc<Gateway>>,
    fault: Option<Extension<StreamFault>>,
    body: Result<JsonBytes, ApiError>,
) -> Response {
    let fault = fault.map(|Extension(f)| f).unwrap_or_default();
    let body = match body.and_then(|JsonBytes(bytes)| JsonObject::parse(&bytes)) {
        Ok(JsonObject(body)) => body,
        Err(error) => return error.into_response(),
    };
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    let response = respond(&gateway, &body, fault).await.unwrap_or_else(IntoResponse::into_response);
    super::note_model(response, model)
}

async fn respond(gateway: &Arc<Gateway>, body: &Map<String, Value>, fault: StreamFault) -> Result<Response, ApiError> {
    super::fields::reject_unknown_fields(body, KNOWN_FIELDS)?;
    super::fields::model_field(body)?;
    let before = match body.get("previous_response_id").filter(|v| !v.is_null()) {
        None => Vec::new(),
        Some(Value::String(id)) => gateway.responses.lock().conversations.get(id).cloned().ok_or_else(|| {
            ApiError::new(
                http::StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("Previous response with id '{id}' not found."),
                Some("previous_response_id"),
                Some("previous_response_not_found"),
            )
        })?,
        Some(other) => return Err(ApiError::wrong_type("previous_response_id", "a string", other)),
    };
    let conversation = messages(body, before)?;
    let request = chat::parse(&chat_body(body, conversation.clone())?, gateway.seed)?;
    let Prepared { served, admission, answered_model, ttft, tokens_per_second } =
        chat::prepare(gateway, &request, &fault)?;
    let plain = Shaping::words();
    let shaping = request.shaping.as_deref().unwrap_or(&plain);
    let answer = shaped::answer(shaping, &served.spec, request.fingerprint, request.max_tokens)?;
    shaped::count_calls(&gateway.telemetry, std::slice::from_ref(&answer));
    let rendered = Rendered {
        body,
        fingerprint: gateway.unique_id(request.fingerprint),
        model: &answered_model,
        created: unix_now(),
        input_tokens: request.prompt_tokens,
    };
    let whole = rendered.response(Some(&answer));
    if body.get("store") != Some(&Value::Bool(false)) {
        let mut stored = conversation;
        stored.push(assistant_message(&answer));
        gateway.responses.lock().insert(whole["id"].as_str().unwrap_or_default().to_owned(), stored);
    }
    if request.stream {
        let events = events::events(&rendered, &answer, &whole);
        let mut response =
            events::play(events, ttft, tokens_per_second, fault, admission.permit, gateway.telemetry.clone());
        admission.headers.write(response.headers_mut());
        return Ok(response);
    }
    super::stream::answer_time(ttft + chat::generation_time(answer.tokens, tokens_per_second)).await;
    drop(admission.permit);
    let bytes = serde_json::to_vec(&whole).expect("a response serializes");
    let headers = admission.headers.json_answer(bytes.len());
    Ok(super::wire::bytes_response(bytes, headers))
}
