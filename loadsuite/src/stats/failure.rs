//! Failure kinds: a closed set, so reports group failures by what happened, not by free text.

use serde::Serialize;

/// What went wrong with one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing listened (connection refused or unreachable).
    ConnectRefused,
    /// The connection was reset or closed mid-exchange.
    ConnectionReset,
    /// No answer in time.
    Timeout,
    /// An HTTP error status; `code` is the error code of the body when it has one
    /// (OpenAI's `error.code`, the RAG `error.type`, a JSON-RPC code).
    Http {
        /// Status.
        status: u16,
        /// Code from the body.
        code: Option<String>,
    },
    /// The response did not pass the task's check (e.g. unexpected status).
    CheckFailed,
    /// The answer broke the protocol (bad JSON, JSON-RPC error, bad SSE).
    Protocol,
    /// A stream ended without its terminator (`[DONE]`).
    StreamCut,
    /// An MCP tool ran and reported failure (`isError: true`).
    ToolError,
    /// An agent's model passed tool arguments that are not a JSON object.
    InvalidToolArguments,
    /// An agent's model called a tool it was not offered.
    UnknownTool,
    /// An agent's model still called tools after the turn's most model calls.
    MaxStepsExceeded,
    /// Still in flight when the run ended (or was interrupted) and the drain time ran out: the
    /// target never answered in time, so the request failed; its latency is how long it waited.
    Unfinished,
}

impl FailureKind {
    /// The HTTP status, when the kind has one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FailureKind::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The short key reports group by: `model_not_found`, `http_503`, `connect_refused`, ...
    pub fn key(&self) -> String {
        match self {
            FailureKind::ConnectRefused => "connect_refused".into(),
            FailureKind::ConnectionReset => "connection_reset".into(),
            FailureKind::Timeout => "timeout".into(),
            FailureKind::Http { code: Some(code), .. } => code.clone(),
            FailureKind::Http { status, code: None } => format!("http_{status}"),
            FailureKind::CheckFailed => "check_failed".into(),
            FailureKind::Protocol => "protocol_error".into(),
            FailureKind::StreamCut => "stream_cut".into(),
            FailureKind::ToolError => "tool_error".into(),
            FailureKind::InvalidToolArguments => "invalid_tool_arguments".into(),
            FailureKind::UnknownTool => "unknown_tool".into(),
            FailureKind::MaxStepsExceeded => "max_steps_exceeded".into(),
            FailureKind::Unfinished => "unfinished".into(),
        }
    }

    /// Classifies a transport error from the HTTP client.
    pub fn from_reqwest(error: &reqwest::Error) -> Self {
        let text = format!("{error:?}").to_ascii_lowercase();
        if error.is_timeout() {
            FailureKind::Timeout
        } else if error.is_connect() && !text.contains("reset") {
            FailureKind::ConnectRefused
        } else if error.is_decode() {
            FailureKind::Protocol
        } else {
            FailureKind::ConnectionReset
        }
    }
}

/// One failed request: its kind and a message for the report.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Kind.
    pub kind: FailureKind,
    /// Message (the server's error message when it sent one).
    pub message: String,
}

impl Failure {
    /// A failure.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into() }
    }
}
