//! What a chat request asks of the answer's shape besides words: function `tools` with
//! `tool_choice` and `parallel_tool_calls`, and `response_format` (JSON object or JSON Schema).
//! Validated as OpenAI validates them, including the conversation's tool-call bookkeeping: a
//! `tool` message must answer a preceding `tool_calls`, and every call must be answered.

use serde_json::{Map, Value};

use super::errors::ApiError;
use super::schema_value;

/// Most tools one request may declare (OpenAI's limit).
const MAX_TOOLS: usize = 128;

/// A declared function tool.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FunctionTool {
    /// `function.name`.
    pub name: String,
    /// `function.parameters` (an empty object schema when absent).
    pub parameters: Value,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ToolChoice {
    /// Never call a tool.
    None,
    /// The model decides (the gateway's seeded policy).
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Named(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ResponseFormat {
    /// Words.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `schema`.
    JsonSchema {
        /// `json_schema.name`.
        name: String,
        /// `json_schema.schema`.
        schema: Value,
    },
}

/// Everything beyond plain words a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Shaping {
    /// Declared tools.
    pub tools: Vec<FunctionTool>,
    /// How the model may use them.
    pub choice: ToolChoice,
    /// Whether several calls may come in one answer.
    pub parallel: bool,
    /// Rounds of tool calls since the last user message (how deep the agent loop is).
    pub rounds: u32,
    /// What a worded answer looks like.
    pub format: ResponseFormat,
}

impl Shaping {
    /// Plain words: no tools, no format (what a request without shaping fields asks for).
    pub(super) fn words() -> Shaping {
        Shaping { tools: Vec::new(), choice: ToolChoice::None, parallel: true, rounds: 0, format: ResponseFormat::Text }
    }

    /// Reads the shaping fields of a chat body (`None` when it asks for plain words only).
    pub(super) fn parse(body: &Map<String, Value>, messages: &[Value]) -> Result<Option<Shaping>, ApiError> {
        let tools = tools(body)?;
        let choice = tool_choice(body, &tools)?;
        let parallel = match body.get("parallel_tool_calls") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(ApiError::wrong_type("parallel_tool_calls", "a boolean", other)),
        };
        let rounds = tool_rounds(messages)?;
        let format = response_format(body, messages)?;
        if tools.is_empty() && format == ResponseFormat::Text {
            return Ok(None);
        }
        Ok(Some(Shaping { tools, choice, parallel, rounds, format }))
    }
}

fn tools(body: &Map<String, Value>) -> Result<Vec<FunctionTool>, ApiError> {
    let list = match body.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::invalid(
                "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                Some("tools"),
                Some("empty_array"),
            ));
        }
        Some(Value::Array(a)) if a.len() > MAX_TOOLS => {
            return Err(ApiError::invalid(
                format!(
                    "Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, but got an array with length {} instead.",
                    a.len()
                ),
                Some("tools"),
                Some("array_above_max_length"),
            ));
        }
        Some(Value::Array(a)) => a,
        Some(other) => return Err(ApiError::wrong_type("tools", "an array", other)),
    };
    let mut out: Vec<FunctionTool> = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let Value::Object(tool) = tool else { return Err(ApiError::wrong_type(&at, "an object", tool)) };
        match tool.get("type") {
            Some(Value::String(t)) if t == "function" => {}
            None => return Err(ApiError::missing(&format!("{at}.type"))),
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("Invalid value: {other}. Supported values are: 'function' and 'custom'."),
                    Some(&format!("{at}.type")),
                    Some("invalid_value"),
                ));
            }
        }
        let function = match tool.get("function") {
            Some(Value::Object(f)) => f,
            None | Some(Value::Null) => return Err(ApiError::missing(&format!("{at}.function"))),
            Some(other) => return Err(ApiError::wrong_type(&format!("{at}.function"), "an object", other)),
        };
        let name = match function.get("name") {
            Some(Value::String(n)) => n.clone(),
            None | Some(Value::Null) => return Err(ApiError::missing(&format!("{at}.function.name"))),
            Some(other) => return Err(ApiError::wrong_type(&format!("{at}.function.name"), "a string", other)),
        };
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(ApiError::invalid(
                format!(
                    "Invalid '{at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                ),
                Some(&format!("{at}.function.name")),
                Some("invalid_value"),
            ));
        }
        if out.iter().any(|t| t.name == name) {
            return Err(ApiError::invalid(
                format!("Invalid 'tools': duplicate function name '{name}'. Function names must be unique."),
                Some("tools"),
                Some("invalid_value"),
            ));
        }
        let parameters = match function.get("parameters") {
            None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(other) => {
                return Err(ApiError::wrong_type(&format!("{at}.function.parameters"), "an object", other));
            }
        };
        schema_value::check(&parameters).map_err(|p| {
            ApiError::invalid(
                format!("Invalid schema for function '{name}': {p}."),
                Some(&format!("{at}.function.parameters")),
                Some("invalid_function_parameters"),
            )
        })?;
        out.push(FunctionTool { name, parameters });
    }
    Ok(out)
}

fn tool_choice(body: &Map<String, Value>, tools: &[FunctionTool]) -> Result<ToolChoice, ApiError> {
    let choice = match body.get("tool_choice") {
        None | Some(Value::Null) => return Ok(if tools.is_empty() { ToolChoice::None } else { ToolChoice::Auto }),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid(
                    format!("Invalid value: '{other}'. Supported values are: 'none', 'auto', and 'required'."),
                    Some("tool_choice"),
                    Some("invalid_value"),
                ));
            }
        },
        Some(Value::Object(o)) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(name)) => ToolChoice::Named(name.to_owned()),
                (Some("function"), None) => return Err(ApiError::missing("tool_choice.function.name")),
                _ => return Err(ApiError::missing("tool_choice.type")),
            }
        }
        Some(other) => return Err(ApiError::wrong_type("tool_choice", "a string or an object", other)),
    };
    if tools.is_empty() && choice != ToolChoice::None {
        return Err(ApiError::invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            Some("tool_choice"),
            None,
        ));
    }
    if let ToolChoice::Named(name) = &choice
        && !tools.iter().any(|t| &t.name == name)
    {
        return Err(ApiError::invalid(
            format!("Invalid value for 'tool_choice': function '{name}' is not among the declared 'tools'."),
            Some("tool_choice"),
            None,
        ));
    }
    Ok(choice)
}

/// The ids of an assistant message's `tool_calls` (empty when it has none).
fn call_ids(i: usize, message: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(other) => return Err(ApiError::wrong_type(&format!("messages[{i}].tool_calls"), "an array", other)),
    };
    calls
        .iter()
        .enumerate()
        .map(|(j, call)| {
            let at = format!("messages[{i}].tool_calls[{j}]");
            for field in ["id", "function"] {
                if call.get(field).is_none_or(Value::is_null) {
                    return Err(ApiError::missing(&format!("{at}.{field}")));
                }
            }
            match call.get("id") {
                Some(Value::String(id)) => Ok(id.clone()),
                Some(other) => Err(ApiError::wrong_type(&format!("{at}.id"), "a string", other)),
                None => Err(ApiError::missing(&format!("{at}.id"))),
            }
        })
        .collect()
}

/// Checks the tool-call bookkeeping of the conversation and counts the rounds of tool calls since
/// the last user message.
fn tool_rounds(messages: &[Value]) -> Result<u32, ApiError> {
    let mut open: Vec<String> = Vec::new();
    let mut opened_at = 0usize;
    let mut rounds = 0u32;
    for (i, message) in messages.iter().enumerate() {
        let Some(m) = message.as_object() else { continue };
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role == "tool" {
            let id = match m.get("tool_call_id") {
                Some(Value::String(id)) => id,
                None | Some(Value::Null) => return Err(ApiError::missing(&format!("messages[{i}].tool_call_id"))),
                Some(other) => {
                    return Err(ApiError::wrong_type(&format!("messages[{i}].tool_call_id"), "a string", other));
                }
            };
            let Some(position) = open.iter().position(|o| o == id) else {
                return Err(ApiError::invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    Some(&format!("messages.[{i}].role")),
                    None,
                ));
            };
            open.remove(position);
            continue;
        }
        unanswered(&open, opened_at)?;
        match role {
            "assistant" => {
                open = call_ids(i, m)?;
                opened_at = i;
                if !open.is_empty() {
                    rounds += 1;
                }
            }
            "user" => rounds = 0,
            _ => {}
        }
    }
    unanswered(&open, opened_at)?;
    Ok(rounds)
}

fn unanswered(open: &[String], at: usize) -> Result<(), ApiError> {
    if open.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            open.join(", ")
        ),
        Some(&format!("messages.[{at}].role")),
        None,
    ))
}

fn response_format(body: &Map<String, Value>, messages: &[Value]) -> Result<ResponseFormat, ApiError> {
    let format = match body.get("response_format") {
        None | Some(Value::Null) => return Ok(ResponseFormat::Text),
        Some(Value::Object(f)) => f,
        Some(other) => return Err(ApiError::wrong_type("response_format", "an object", other)),
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => {
            let mentions_json = messages
                .iter()
                .any(|m| m.get("content").is_some_and(|c| c.to_string().to_ascii_lowercase().contains("json")));
            if !mentions_json {
                return Err(ApiError::invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Some("messages"),
                    None,
                ));
            }
            Ok(ResponseFormat::JsonObject)
        }
        Some("json_schema") => {
            let spec = match format.get("json_schema") {
                Some(Value::Object(s)) => s,
                None | Some(Value::Null) => return Err(ApiError::missing("response_format.json_schema")),
                Some(other) => return Err(ApiError::wrong_type("response_format.json_schema", "an object", other)),
            };
            let name = match spec.get("name") {
                Some(Value::String(n)) => n.clone(),
                None | Some(Value::Null) => return Err(ApiError::missing("response_format.json_schema.name")),
                Some(other) => {
                    return Err(ApiError::wrong_type("response_format.json_schema.name", "a string", other));
                }
            };
            let schema = match spec.get("schema") {
                None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
                Some(s @ Value::Object(_)) => s.clone(),
                Some(other) => {
                    return Err(ApiError::wrong_type("response_format.json_schema.schema", "an object", other));
                }
            };
            schema_value::check(&schema).map_err(|p| {
                ApiError::invalid(
                    format!("Invalid schema for response_format '{name}': {p}."),
                    Some("response_format"),
                    Some("invalid_json_schema"),
                )
            })?;
            Ok(ResponseFormat::JsonSchema { name, schema })
        }
        Some(other) => Err(ApiError::invalid(
            format!("Invalid value: '{other}'. Supported values are: 'text', 'json_object', and 'json_schema'."),
            Some("response_format.type"),
            Some("invalid_value"),
        )),
        None => Err(ApiError::missing("response_format.type")),
    }
}
