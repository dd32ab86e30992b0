//! Who may use the admin API. It changes what every client of the mock gets, so a page in the
//! developer's browser must not be able to reach it: every admin request must name a host that no
//! foreign page can have (an IP literal, a single-label name such as `localhost` or a compose
//! service, or one listed in `[admin] allowed_hosts`: DNS rebinding gives a page a dotted name of
//! the attacker's), a browser `Origin` must be local or listed, a body must be JSON (so no CORS
//! "simple" request can carry one) and at most [`MAX_ADMIN_BODY`] bytes, and when a token is
//! configured (`[admin] token`, `MOCKS_ADMIN_TOKEN`) it must come as `Authorization: Bearer` or
//! `X-Admin-Token`. Refusals answer in the admin error envelope.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, ORIGIN, TRANSFER_ENCODING};

use crate::config::AdminConfig;

/// Largest admin request body (a full rule list fits many times over).
pub(crate) const MAX_ADMIN_BODY: usize = 1 << 20;

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}});
    (status, axum::Json(body)).into_response()
}

/// The host part of `host[:port]` (IPv6 literals keep their brackets).
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| &authority[..h.len() + 1]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// Whether `host` can only be ours: an IP literal, a single-label name, or an allowed one.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty() && !host.contains('.'))
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Whether a browser `Origin` is local or listed.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let authority = origin.split("://").nth(1).unwrap_or(origin);
    matches!(host_part(authority), "localhost" | "127.0.0.1" | "[::1]") || allowed.iter().any(|a| a == origin)
}

fn has_body(request: &Request) -> bool {
    request.headers().contains_key(TRANSFER_ENCODING)
        || request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

fn token_of(request: &Request) -> Option<&str> {
    let bearer =
        request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| request.headers().get("x-admin-token").and_then(|v| v.to_str().ok()))
}

/// The middleware in front of every admin route.
pub(crate) async fn guard(State(config): State<Arc<AdminConfig>>, request: Request, next: Next) -> Response {
    if let Some(token) = &config.token
        && token_of(&request) != Some(token.as_str())
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_admin_token",
            "The admin API needs its token: send `Authorization: Bearer TOKEN` (or `X-Admin-Token`).".into(),
        );
    }
    let authority = request
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host = host_part(&authority);
    if !host_allowed(host, &config.allowed_hosts) {
        return refuse(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "Host `{}` may not use the admin API (DNS-rebinding protection); add it to [admin] allowed_hosts.",
                crate::telemetry::bounded::text(host).escape_debug()
            ),
        );
    }
    if let Some(origin) = request.headers().get(ORIGIN).and_then(|v| v.to_str().ok())
        && !origin_allowed(origin, &config.allowed_origins)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "Origin `{}` may not use the admin API; add it to [admin] allowed_origins.",
                crate::telemetry::bounded::text(origin).escape_debug()
            ),
        );
    }
    if !has_body(&request) {
        return next.run(request).await;
    }
    if crate::json_body::is_json(&request).is_err() {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Admin request bodies must be JSON: send `Content-Type: application/json`.".into(),
        );
    }
    let (parts, body) = request.into_parts();
    match crate::json_body::read_body(body, MAX_ADMIN_BODY).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(crate::json_body::ReadError::TooLarge) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("Admin request bodies are at most {MAX_ADMIN_BODY} bytes."),
        ),
        Err(other) => {
            let error = other.into_body_error(MAX_ADMIN_BODY);
            refuse(error.status(), "invalid_body", error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_a_foreign_page_cannot_have() {
        for host in ["127.0.0.1", "[::1]", "localhost", "gateway", "10.0.0.7"] {
            assert!(host_allowed(host, &[]), "{host}");
        }
        for host in ["evil.example", "localhost.evil.example", ""] {
            assert!(!host_allowed(host, &[]), "{host}");
        }
        assert!(host_allowed("mocks.internal", &["mocks.internal".into()]));
        assert_eq!(host_part("[::1]:8000"), "[::1]");
        assert_eq!(host_part("127.0.0.1:8000"), "127.0.0.1");
        assert!(origin_allowed("http://localhost:3000", &[]));
        assert!(!origin_allowed("https://evil.example", &[]));
    }
}
