//! The gateway's JSON body extractors: bad bodies become OpenAI-shaped errors, never axum's plain
//! text rejections (415 wrong content type, 413 too large, 400 unparseable or not an object).

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value};

use super::Gateway;
use super::errors::ApiError;
use crate::json_body::{BodyError, json_bytes, parse_object};

/// A request body that says it is JSON and fits the size limit, not parsed yet: endpoints with a
/// hot path parse it straight into their own types and fall back to [`JsonObject::parse`].
pub(super) struct JsonBytes(pub Bytes);

/// A request body that is a JSON object.
pub(super) struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    /// Parses checked bytes into an object, or OpenAI's error for them.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        parse_object(bytes).map(JsonObject).map_err(api_error)
    }
}

impl FromRequest<Arc<Gateway>> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Arc<Gateway>) -> Result<Self, ApiError> {
        json_bytes(request, gateway.config.common.max_body_bytes).await.map(JsonBytes).map_err(api_error)
    }
}

impl FromRequest<Arc<Gateway>> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Arc<Gateway>) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(request, gateway).await?;
        JsonObject::parse(&bytes)
    }
}

/// A body problem in OpenAI's error shape.
fn api_error(error: BodyError) -> ApiError {
    let message = error.to_string();
    match error {
        BodyError::UnsupportedMediaType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            message,
            None,
            Some("unsupported_content_type"),
        ),
        BodyError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            message,
            None,
            Some("request_too_large"),
        ),
        BodyError::Unparseable(detail) => ApiError::unparseable(&detail),
        BodyError::NotObject(_) => ApiError::invalid(message, None, Some("invalid_type")),
        BodyError::Malformed(_) => ApiError::invalid(message, None, Some("malformed_body")),
        ref other @ (BodyError::TimedOut(_) | BodyError::ClientAborted) => {
            let code = if matches!(other, BodyError::TimedOut(_)) { "request_timeout" } else { "client_aborted" };
            ApiError::new(other.status(), "invalid_request_error", message, None, Some(code))
        }
    }
}
