//! The RAG service's error shape: `{"error": {"type": ..., "message": ...}}`, where `type` names
//! the failure (`invalid_request`, `not_found`, `capacity_exceeded`, `vector_store_timeout`,
//! `db_error`, ...) so a report can tell backend failure modes apart.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::faults::ResponseNote;
use crate::json_body::BodyError;

/// One RAG error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RagError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable kind.
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
    /// `retry-after` seconds.
    pub retry_after: Option<f64>,
}

impl RagError {
    /// Any error.
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        RagError { status, kind: kind.to_owned(), message: message.into(), retry_after: None }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<BodyError> for RagError {
    fn from(error: BodyError) -> Self {
        let status = error.status();
        let kind = match error {
            BodyError::UnsupportedMediaType(_) => "unsupported_media_type",
            BodyError::TooLarge(_) => "request_too_large",
            BodyError::TimedOut(_) => "request_timeout",
            BodyError::ClientAborted => "client_aborted",
            _ => "invalid_request",
        };
        RagError::new(status, kind, error.to_string())
    }
}

impl IntoResponse for RagError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(json!({"error": {"type": self.kind, "message": self.message}}))).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = http::HeaderValue::from_str(&format!("{}", seconds.ceil() as u64))
        {
            response.headers_mut().insert(http::header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(ResponseNote { attribute: None, error_code: Some(self.kind) });
        response
    }
}
