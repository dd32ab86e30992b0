//! The gateway's error shape: OpenAI's `{"error":{message,type,param,code}}`, in three dialects.
//!
//! Handlers return [`ApiError`]; it renders as OpenAI does and carries itself in the response
//! extensions, so the gateway's dialect layer can re-render it as vLLM or an older LiteLLM would.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::config::Dialect;
use crate::faults::ResponseNote;

/// One gateway error, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (OpenAI's).
    pub status: StatusCode,
    /// Human message in OpenAI's wording.
    pub message: String,
    /// `type`, e.g. `invalid_request_error`.
    pub kind: String,
    /// `param`: the offending parameter.
    pub param: Option<String>,
    /// `code`, e.g. `model_not_found`.
    pub code: Option<String>,
    /// Seconds for `retry-after` (rate limits, overload); `f32` keeps the error small enough to
    /// travel in `Result`s cheaply.
    pub retry_after: Option<f32>,
    /// More headers the answer carries (a rate-limited answer's `x-ratelimit-*`); boxed, as
    /// errors travel in `Result`s and most have none.
    pub headers: Option<Box<ExtraHeaders>>,
}

/// Headers an error answer carries besides its body (a 429's `x-ratelimit-*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraHeaders(pub Vec<(http::HeaderName, HeaderValue)>);

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>, param: Option<&str>, code: Option<&str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message, param, code)
    }

    /// Any status, type, param and code.
    pub fn new(
        status: StatusCode,
        kind: &str,
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind: kind.to_owned(),
            param: param.map(str::to_owned),
            code: code.map(str::to_owned),
            retry_after: None,
            headers: None,
        }
    }

    /// `Missing required parameter: 'x'.`
    pub fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    /// `Invalid type for 'x': expected Y, but got Z instead.`
    pub fn wrong_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::invalid(
            format!("Invalid type for '{param}': expected {expected}, but got {} instead.", json_type(got)),
            Some(param),
            Some("invalid_type"),
        )
    }

    /// The unparseable-JSON error.
    pub fn unparseable(detail: &str) -> Self {
        Self::invalid(
            format!(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON: {detail}.)"
            ),
            None,
            None,
        )
    }

    /// The body as OpenAI sends it.
    pub fn openai_body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }

    /// Renders in `dialect`.
    pub fn render(&self, dialect: Dialect) -> Response {
        let (status, body) = match dialect {
            Dialect::OpenAi => (self.status, self.openai_body()),
            Dialect::Litellm200 => (StatusCode::OK, self.openai_body()),
            Dialect::Vllm => (
                self.status,
                json!({"error": {"message": self.message, "type": vllm_type(self.status), "param": self.param, "code": self.status.as_u16()}}),
            ),
        };
        let mut response = (status, Json(body)).into_response();
        for (name, value) in self.headers.iter().flat_map(|h| h.0.iter()) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        if let Some(seconds) = self.retry_after.map(f64::from) {
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("{}", seconds.ceil() as u64)) {
                headers.insert(http::header::RETRY_AFTER, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("{}", (seconds * 1000.0).round() as u64)) {
                headers.insert("retry-after-ms", v);
            }
        }
        response.extensions_mut().insert(ResponseNote { attribute: None, error_code: Some(self.journal_code()) });
        response.extensions_mut().insert(self.clone());
        response
    }

    /// The code recorded in the journal: the `code`, else the `type`.
    pub fn journal_code(&self) -> String {
        self.code.clone().unwrap_or_else(|| self.kind.clone())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(Dialect::OpenAi)
    }
}

fn vllm_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "NotFoundError",
        401 | 403 => "AuthenticationError",
        429 => "RateLimitError",
        400..=499 => "BadRequestError",
        _ => "InternalServerError",
    }
}

pub(super) use crate::json_body::json_type;
