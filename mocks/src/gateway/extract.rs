//! The gateway's JSON body extractor: bad bodies become OpenAI-shaped errors, never axum's plain
//! text rejections (415 wrong content type, 413 too large, 400 unparseable or not an object).

use axum::extract::{FromRequest, Request};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::Gateway;
use super::errors::ApiError;
use std::sync::Arc;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<Arc<Gateway>> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Arc<Gateway>) -> Result<Self, ApiError> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            let shown = if content_type.is_empty() { "none" } else { content_type };
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                format!(
                    "Invalid Content-Type header ({shown}), expected application/json. Send the body as JSON with `Content-Type: application/json`."
                ),
                None,
                Some("unsupported_content_type"),
            ));
        }
        let limit = gateway.config.max_body_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("Request body too large: the limit is {limit} bytes. Send a smaller request."),
                None,
                Some("request_too_large"),
            )
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(other) => Err(ApiError::invalid(
                format!(
                    "Invalid type for request body: expected an object, but got {} instead.",
                    super::errors::json_type(&other)
                ),
                None,
                Some("invalid_type"),
            )),
            Err(e) => Err(ApiError::unparseable(&e.to_string())),
        }
    }
}
