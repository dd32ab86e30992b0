//! Response bodies of the OpenAI API as typed, borrowing structs: serialized straight to bytes
//! (building `serde_json::Value` trees for every answer was a measurable share of the
//! benchmark), and the field order matches OpenAI's. Stream chunks and shaped answers (tool calls,
//! structured outputs) are serialized from these; the plain non-streamed completion is written
//! directly by [`completion_json`], beside them, and held to them by a test.

pub(super) mod completion_json;

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use serde::Serialize;

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl Usage {
    /// Usage from prompt and completion counts.
    pub(super) fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
    }
}

/// An assistant message. Plain word answers are written directly by `completion_json` (a test
/// holds it to these structs); tool calls and structured outputs are serialized from them.
#[derive(Debug, Serialize)]
pub(super) struct Message<'a> {
    /// Always `assistant`.
    pub role: &'static str,
    /// The text (null when the model calls tools).
    pub content: Option<&'a str>,
    /// Always null.
    pub refusal: Option<&'a str>,
    /// The calls, when the model calls tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
}

/// One call of a function tool (`ChatCompletionMessageToolCall`).
#[derive(Debug, Serialize)]
pub(super) struct ToolCall<'a> {
    /// `call_...`.
    pub id: &'a str,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What is called, with what.
    pub function: FunctionCall<'a>,
}

/// The function of a tool call.
#[derive(Debug, Serialize)]
pub(super) struct FunctionCall<'a> {
    /// The tool's name.
    pub name: &'a str,
    /// The arguments, as a JSON string.
    pub arguments: &'a str,
}

/// One choice of a completion.
#[derive(Debug, Serialize)]
pub(super) struct Choice<'a> {
    /// Position.
    pub index: u64,
    /// The message.
    pub message: Message<'a>,
    /// The tokens' log probabilities when asked for (`logprobs: true`), else null.
    pub logprobs: Option<super::logprobs::ChoiceLogprobs>,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
}

/// A whole (non-streamed) chat completion.
#[derive(Debug, Serialize)]
pub(super) struct ChatCompletion<'a> {
    /// `chatcmpl-...`.
    pub id: &'a str,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Model name.
    pub model: &'a str,
    /// Choices.
    pub choices: Vec<Choice<'a>>,
    /// Token usage.
    pub usage: Usage,
    /// Constant fingerprint.
    pub system_fingerprint: &'static str,
}

/// A tool call inside a stream delta: the first delta of a call carries its id, type and name;
/// later ones only pieces of the arguments.
#[derive(Debug, Serialize)]
pub(super) struct ToolCallDelta<'a> {
    /// Which call of the answer.
    pub index: u32,
    /// `call_...`, on the first delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// `function`, on the first delta.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The name (first delta) and a piece of the arguments.
    pub function: FunctionDelta<'a>,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Debug, Serialize)]
pub(super) struct FunctionDelta<'a> {
    /// The tool's name, on the first delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// A piece of the arguments (empty on the first delta).
    pub arguments: &'a str,
}

/// The `delta` of a stream chunk.
#[derive(Debug, Default, Serialize)]
pub(super) struct Delta<'a> {
    /// `assistant` on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Text piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    /// Null on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Option<&'a str>>,
    /// Tool-call pieces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

/// One choice of a stream chunk.
#[derive(Debug, Default, Serialize)]
pub(super) struct ChunkChoice<'a> {
    /// Position.
    pub index: u64,
    /// The delta.
    pub delta: Delta<'a>,
    /// This chunk's token's log probability when asked for, else null.
    pub logprobs: Option<super::logprobs::ChoiceLogprobs>,
    /// Set on the last content chunk.
    pub finish_reason: Option<&'static str>,
}

/// A `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub(super) struct Chunk<'a> {
    /// Same id for the whole stream.
    pub id: &'a str,
    /// `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Model name.
    pub model: &'a str,
    /// Constant fingerprint.
    pub system_fingerprint: &'static str,
    /// Zero or one choice.
    pub choices: Vec<ChunkChoice<'a>>,
    /// Null on every chunk but the last when usage is asked for; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

/// One choice of a legacy text completion (`POST /v1/completions`), whole or one stream chunk.
#[derive(Debug, Serialize)]
pub(super) struct TextChoice<'a> {
    /// The text (a piece of it in a stream).
    pub text: &'a str,
    /// Position.
    pub index: u64,
    /// The tokens' log probabilities when asked for (`logprobs: N`), else null.
    pub logprobs: Option<&'a super::logprobs::TextLogprobs>,
    /// `stop` or `length`; null on stream chunks but the last of a choice.
    pub finish_reason: Option<&'static str>,
}

/// A legacy `text_completion`: the whole answer, or one stream chunk.
#[derive(Debug, Serialize)]
pub(super) struct TextCompletion<'a> {
    /// `cmpl-...`.
    pub id: &'a str,
    /// `text_completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Model name.
    pub model: &'a str,
    /// Constant fingerprint.
    pub system_fingerprint: &'static str,
    /// Choices.
    pub choices: Vec<TextChoice<'a>>,
    /// Usage: on the whole answer, and on a stream's last chunk when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// JSON already written as bytes, as a response with `headers` (which carry the content type).
pub(super) fn bytes_response(body: Vec<u8>, headers: HeaderMap) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
}
