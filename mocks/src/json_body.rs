//! Reading a request body as a JSON object, for every mock. The failures are typed so that each
//! service can answer them in its own error shape (OpenAI's, the RAG envelope, JSON-RPC).
//! [`read_body`] is the one way the mocks read a whole body (requests, and responses the fault
//! layer degrades).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

/// Why a body is not a usable JSON object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum BodyError {
    /// `Content-Type` is not JSON (carries what was sent, or `none`).
    #[error(
        "Invalid Content-Type header ({0}), expected application/json. Send the body as JSON with `Content-Type: application/json`."
    )]
    UnsupportedMediaType(String),
    /// Larger than the service's limit (carries the limit).
    #[error("Request body too large: the limit is {0} bytes. Send a smaller request.")]
    TooLarge(usize),
    /// Not JSON at all (carries the parser's message).
    #[error("The body is not valid JSON: {0}.")]
    Unparseable(String),
    /// JSON, but not an object (carries the JSON type found).
    #[error("Invalid type for request body: expected an object, but got {0} instead.")]
    NotObject(&'static str),
    /// The body did not arrive within the body timeout (carries it).
    #[error("Request body not received within {0:?}: send the whole body promptly.")]
    TimedOut(Duration),
    /// The body was not valid HTTP framing (e.g. a malformed chunk).
    #[error("Malformed request body: {0}.")]
    Malformed(String),
    /// The client went away while sending the body: nobody will read an answer.
    #[error("The client closed the connection while sending the body.")]
    ClientAborted,
}

impl BodyError {
    /// The HTTP status this failure answers with (499, nginx's "client closed request", for a
    /// client that is gone: recorded as its own outcome, never as a server error).
    pub(crate) fn status(&self) -> http::StatusCode {
        match self {
            BodyError::UnsupportedMediaType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::TooLarge(_) => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Unparseable(_) | BodyError::NotObject(_) | BodyError::Malformed(_) => {
                http::StatusCode::BAD_REQUEST
            }
            BodyError::TimedOut(_) => http::StatusCode::REQUEST_TIMEOUT,
            BodyError::ClientAborted => CLIENT_CLOSED_REQUEST,
        }
    }
}

/// 499: the client closed the connection before the answer (nginx's convention).
pub(crate) const CLIENT_CLOSED_REQUEST: http::StatusCode = match http::StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => http::StatusCode::BAD_REQUEST,
};

/// Longest wait for a whole request body, set once per process from `[server] body_timeout_seconds`
/// (a slow body is answered 408 instead of holding its connection forever).
static BODY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Sets the body timeout for every service of this process.
pub(crate) fn set_body_timeout(timeout: Duration) {
    BODY_TIMEOUT_MS.store(timeout.as_millis().try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Why a whole body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Over the limit.
    TooLarge,
    /// Not there within the body timeout.
    TimedOut(Duration),
    /// Bad framing.
    Malformed(String),
    /// The client went away.
    Aborted,
}

impl ReadError {
    /// As a [`BodyError`], given the limit that applied.
    pub(crate) fn into_body_error(self, limit: usize) -> BodyError {
        match self {
            ReadError::TooLarge => BodyError::TooLarge(limit),
            ReadError::TimedOut(t) => BodyError::TimedOut(t),
            ReadError::Malformed(why) => BodyError::Malformed(why),
            ReadError::Aborted => BodyError::ClientAborted,
        }
    }

    /// Classifies a body error: hyper's framing errors are malformed input, I/O errors a client
    /// that went away.
    fn of(error: &(dyn std::error::Error + 'static)) -> ReadError {
        if error.is::<LengthLimitError>() {
            return ReadError::TooLarge;
        }
        let mut source = Some(error);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                        ReadError::Malformed(io.to_string())
                    }
                    _ => ReadError::Aborted,
                };
            }
            if let Some(hyper) = e.downcast_ref::<hyper::Error>()
                && hyper.is_parse()
            {
                return ReadError::Malformed(hyper.to_string());
            }
            source = e.source();
        }
        ReadError::Aborted
    }
}

/// Whether the request says its body is JSON.
pub(crate) fn is_json(request: &Request) -> Result<(), BodyError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let structured_json = essence.len() > 5 && essence.as_bytes()[essence.len() - 5..].eq_ignore_ascii_case(b"+json");
    if essence.eq_ignore_ascii_case("application/json") || structured_json {
        Ok(())
    } else {
        Err(BodyError::UnsupportedMediaType(if content_type.is_empty() { "none".into() } else { content_type.into() }))
    }
}

/// Reads at most `limit` bytes of a body that says it is JSON, without parsing it (for services
/// that parse straight into their own types).
pub(crate) async fn json_bytes(request: Request, limit: usize) -> Result<Bytes, BodyError> {
    is_json(&request)?;
    read_body(request.into_body(), limit).await.map_err(|e| e.into_body_error(limit))
}

/// A whole body of at most `limit` bytes, within the body timeout. A body that arrives as one
/// frame, as every small request does, is returned as it came: no copy and none of a general
/// collect's bookkeeping.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    let timeout = Duration::from_millis(BODY_TIMEOUT_MS.load(Ordering::Relaxed));
    match tokio::time::timeout(timeout, read_all(body, limit)).await {
        Ok(read) => read,
        Err(_) => Err(ReadError::TimedOut(timeout)),
    }
}

async fn read_all(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = Limited::new(body, limit);
    let mut whole: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::of(e.as_ref()))?;
        let Ok(data) = frame.into_data() else { continue };
        match (&mut joined, whole.take()) {
            (Some(buffer), _) => buffer.extend_from_slice(&data),
            (None, None) => whole = Some(data),
            (None, Some(first)) => {
                let mut buffer = BytesMut::with_capacity(first.len() + data.len());
                buffer.extend_from_slice(&first);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or_else(|| whole.unwrap_or_default(), BytesMut::freeze))
}

/// Parses bytes as any JSON value.
pub(crate) fn parse_value(bytes: &[u8]) -> Result<Value, BodyError> {
    serde_json::from_slice::<Value>(bytes).map_err(|e| BodyError::Unparseable(e.to_string()))
}

/// Parses bytes as a JSON object.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        other => Err(BodyError::NotObject(json_type(&other))),
    }
}

/// Reads at most `limit` bytes and parses them as any JSON value.
pub(crate) async fn json_value(request: Request, limit: usize) -> Result<Value, BodyError> {
    parse_value(&json_bytes(request, limit).await?)
}

/// Reads at most `limit` bytes and parses them as a JSON object.
pub(crate) async fn json_object(request: Request, limit: usize) -> Result<Map<String, Value>, BodyError> {
    parse_object(&json_bytes(request, limit).await?)
}

/// JSON type names as OpenAI's messages use them.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p.as_bytes()))).collect();
        Body::from_stream(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_are_read_whole_in_one_frame_or_many_and_limited() {
        assert_eq!(read_body(Body::from("{\"a\":1}"), 64).await.unwrap(), "{\"a\":1}");
        assert_eq!(read_body(chunked(&["{\"a\"", ":", "1}"]), 64).await.unwrap(), "{\"a\":1}");
        assert_eq!(read_body(Body::empty(), 64).await.unwrap(), "");
        assert_eq!(read_body(chunked(&["12345", "67890"]), 8).await, Err(ReadError::TooLarge));
        assert_eq!(read_body(Body::from("123456789"), 8).await, Err(ReadError::TooLarge));
        let broken = Body::from_stream(futures::stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ]));
        assert_eq!(read_body(broken, 64).await, Err(ReadError::Aborted), "a client reset is not a 413");
        let garbled = Body::from_stream(futures::stream::iter([Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid chunk size line",
        ))]));
        assert!(matches!(read_body(garbled, 64).await, Err(ReadError::Malformed(_))));
    }

    #[test]
    fn json_content_types_are_recognised_in_any_case() {
        let request = |ct: &str| Request::builder().header("content-type", ct).body(Body::empty()).unwrap();
        for ok in ["application/json", "Application/JSON; charset=utf-8", "application/vnd.api+JSON"] {
            assert!(is_json(&request(ok)).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "+json", "application/jsonx"] {
            assert!(is_json(&request(bad)).is_err(), "{bad}");
        }
    }
}
