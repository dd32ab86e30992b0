//! The gateway's JSON body extractor: bad bodies become OpenAI-shaped errors, never axum's plain
//! text rejections (415 wrong content type, 413 too large, 400 unparseable or not an object).

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use http::StatusCode;
use serde_json::{Map, Value};

use super::Gateway;
use super::errors::ApiError;
use crate::json_body::{BodyError, json_object};

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<Arc<Gateway>> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Arc<Gateway>) -> Result<Self, ApiError> {
        json_object(request, gateway.config.common.max_body_bytes).await.map(JsonObject).map_err(|error| {
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
            }
        })
    }
}
