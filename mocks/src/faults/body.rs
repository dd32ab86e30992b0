//! Response-body degradations: truncated and dribbled bodies.
//!
//! Both buffer the service's body (bounded), then re-send it with its full `content-length` so the
//! client expects every byte: a truncated body ends early with the connection dropped, a dribbled
//! one arrives a few bytes at a time.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, HeaderValue};

/// Upper bound on a body buffered for degradation.
const MAX_BUFFERED: usize = 64 * 1024 * 1024;

async fn buffered(response: Response) -> (http::response::Parts, Bytes) {
    let (mut parts, body) = response.into_parts();
    let bytes = crate::json_body::read_body(body, MAX_BUFFERED).await.unwrap_or_default();
    // (A failed or partial service body degrades to what arrived: it is being broken anyway.)
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    (parts, bytes)
}

/// Sends the head and the first `after_bytes` (default: half) of the body, then fails the body so
/// the server drops the connection mid-message.
pub(super) async fn truncated(response: Response, after_bytes: Option<u64>) -> Response {
    let (parts, bytes) = buffered(response).await;
    let keep = after_bytes.map_or(bytes.len() / 2, |n| n as usize).min(bytes.len().saturating_sub(1));
    let head = bytes.slice(..keep);
    // The pause lets the server flush what was sent before the failure drops the connection.
    let failure = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected truncation"))
    };
    let stream = futures::stream::once(async { Ok(head) }).chain(futures::stream::once(failure));
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Sends the body `chunk_bytes` at a time with `interval` between pieces.
pub(super) async fn dribbled(response: Response, chunk_bytes: usize, interval: Duration) -> Response {
    let (parts, bytes) = buffered(response).await;
    let chunk_bytes = chunk_bytes.max(1);
    let stream = futures::stream::unfold((bytes, true), move |(rest, first)| async move {
        if rest.is_empty() {
            return None;
        }
        if !first {
            tokio::time::sleep(interval).await;
        }
        let mut rest = rest;
        let piece = rest.split_to(chunk_bytes.min(rest.len()));
        Some((Ok::<Bytes, std::io::Error>(piece), (rest, false)))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
