//! A Responses API answer as JSON: the `Response` object, its output items, and the assistant
//! message a stored conversation keeps.

use serde_json::{Map, Value, json};

use super::super::shaped::{ChoiceAnswer, Content};

/// Ids of one response: `resp_`, `msg_` and `fc_` with the fingerprint.
pub(super) fn ids(fingerprint: u64) -> (String, String) {
    (format!("resp_{fingerprint:016x}"), format!("msg_{fingerprint:016x}"))
}

pub(super) fn output_items(answer: &ChoiceAnswer, fingerprint: u64, status: &str) -> Vec<Value> {
    let (_, message_id) = ids(fingerprint);
    if !answer.calls.is_empty() {
        return answer
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"type": "function_call", "id": format!("fc_{fingerprint:016x}{i:08x}"), "call_id": c.id,
                    "name": c.name, "arguments": c.arguments, "status": status})
            })
            .collect();
    }
    let text = match &answer.content {
        Content::Words(words) => words.join(" "),
        Content::Json(json) => json.clone(),
        Content::None => String::new(),
    };
    vec![json!({"type": "message", "id": message_id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})]
}

/// What every rendering of one response shares.
pub(super) struct Rendered<'a> {
    /// The request.
    pub body: &'a Map<String, Value>,
    /// Names its ids.
    pub fingerprint: u64,
    /// The model answered.
    pub model: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
}

impl Rendered<'_> {
    /// The `Response`: in progress (no answer yet) or finished.
    pub(super) fn response(&self, answer: Option<&ChoiceAnswer>) -> Value {
        let (id, _) = ids(self.fingerprint);
        let cut = answer.is_some_and(|a| a.finish_reason == "length");
        let status = match answer {
            None => "in_progress",
            Some(_) if cut => "incomplete",
            Some(_) => "completed",
        };
        let output: Vec<Value> = answer.map(|a| output_items(a, self.fingerprint, "completed")).unwrap_or_default();
        let output_tokens = answer.map_or(0, |a| a.tokens);
        let get = |k: &str, default: Value| self.body.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(default);
        let mut response = json!({
            "id": id, "object": "response", "created_at": self.created, "status": status,
            "error": null,
            "incomplete_details": if cut { json!({"reason": "max_output_tokens"}) } else { Value::Null },
            "instructions": get("instructions", Value::Null),
            "max_output_tokens": get("max_output_tokens", Value::Null),
            "model": self.model, "output": output,
            "parallel_tool_calls": get("parallel_tool_calls", json!(true)),
            "previous_response_id": get("previous_response_id", Value::Null),
            "metadata": get("metadata", json!({})),
            "store": get("store", json!(true)),
            "temperature": get("temperature", json!(1.0)),
            "top_p": get("top_p", json!(1.0)),
            "text": get("text", json!({"format": {"type": "text"}})),
            "tool_choice": get("tool_choice", json!("auto")),
            "tools": get("tools", json!([])),
            "usage": answer.map(|_| json!({
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.input_tokens + output_tokens,
            })),
        });
        // A response in progress has no usage yet: the key is left out (the spec does not allow null).
        if answer.is_none() {
            response.as_object_mut().expect("an object").remove("usage");
        }
        response
    }
}

/// The answer as the assistant message of a stored conversation.
pub(super) fn assistant_message(answer: &ChoiceAnswer) -> Value {
    if answer.calls.is_empty() {
        let text = match &answer.content {
            Content::Words(words) => words.join(" "),
            Content::Json(json) => json.clone(),
            Content::None => String::new(),
        };
        return json!({"role": "assistant", "content": text});
    }
    let calls: Vec<Value> = answer
        .calls
        .iter()
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}
