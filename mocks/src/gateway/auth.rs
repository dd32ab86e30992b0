//! Optional API keys. With `[gateway] api_keys` set, every `/v1/...` request needs
//! `Authorization: Bearer KEY` with one of them and is answered with OpenAI's 401 otherwise
//! (`invalid_api_key` for a wrong key, OpenAI's wording for a missing one). Off by default, so
//! setups without keys keep working; `/health` and the admin API never ask for one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::AUTHORIZATION;

use super::Gateway;
use super::errors::ApiError;

/// How OpenAI shows a key it refused: the start and the end, the middle starred.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len().max(3));
    }
    let (head, tail): (String, String) = (chars[..3].iter().collect(), chars[chars.len() - 4..].iter().collect());
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// The 401 of a wrong key (also what an injected 401 says).
pub(super) fn wrong_key(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        format!(
            "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
            redact(key)
        ),
        None,
        Some("invalid_api_key"),
    )
}

/// Lets a request through when keys are off or it carries one of them.
pub(super) async fn require_key(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let keys = &gateway.config.api_keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match given {
        Some(key) if keys.iter().any(|k| k == key) => next.run(request).await,
        Some(key) => wrong_key(key).into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            None,
            None,
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refused_keys_show_only_their_ends() {
        assert_eq!(super::redact("sk-test-1234567890"), "sk-***********7890");
        assert_eq!(super::redact("short"), "*****");
    }
}
