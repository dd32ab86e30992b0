//! Plain-HTTP requests over one HTTP/1.1 connection per simulated user (as a browser or a Locust
//! user holds its own), driven with hyper directly: no shared pool to lock, no URL re-parsing.
//! `https://` targets go through reqwest instead.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::stats::{Failure, FailureKind};

/// A user's connection to one authority (`host:port`).
#[derive(Default)]
pub struct Connection {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

pub(super) fn transport(error: &std::io::Error) -> FailureKind {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable => FailureKind::ConnectRefused,
        std::io::ErrorKind::TimedOut => FailureKind::Timeout,
        _ => FailureKind::ConnectionReset,
    }
}

/// What a hyper error means: the socket error underneath when there is one, else a broken
/// exchange (incomplete or cancelled) or a protocol violation.
pub(super) fn classify(error: &hyper::Error) -> FailureKind {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return transport(io);
        }
        source = cause.source();
    }
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        FailureKind::ConnectionReset
    } else {
        FailureKind::Protocol
    }
}

/// A copy of a request (method, URI, version, headers and body) to send again.
fn copy(request: &http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

impl Connection {
    /// The connection to `authority`, ready for a request, and whether it is one used before.
    async fn ready(&mut self, authority: &str) -> Result<(&mut SendRequest<Full<Bytes>>, bool), Failure> {
        let reused = self.authority == authority && self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !reused {
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| Failure::new(transport(&e), e.to_string()))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Failure::new(FailureKind::ConnectionReset, e.to_string()))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.authority = authority.to_owned();
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("set above");
        sender.ready().await.map_err(|e| Failure::new(FailureKind::ConnectionReset, e.to_string()))?;
        Ok((sender, reused))
    }

    /// Sends `request`. A server may close an idle keep-alive connection just as it is reused;
    /// then, as HTTP clients do (RFC 9110 9.2.2), the request goes once more on a fresh connection
    /// when hyper hands it back unsent, or when it is idempotent (GET, HEAD, PUT, DELETE, OPTIONS)
    /// and the reused connection was closed cleanly (end of stream) before any answer. A reset
    /// (RST) is a failure, never retried: that is a server or proxy dropping a request, and a
    /// retry would hide it. A POST that may have reached the server is never sent twice.
    async fn exchange(
        &mut self,
        authority: &str,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, Failure> {
        let (sender, reused) = self.ready(authority).await?;
        let again = (reused && request.method().is_idempotent()).then(|| copy(&request));
        match sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut error) => {
                let kind = classify(error.error());
                let retry = match (error.take_message(), again) {
                    (Some(unsent), _) if reused => Some(unsent),
                    (_, Some(copy)) if error.error().is_incomplete_message() => Some(copy),
                    _ => None,
                };
                let Some(request) = retry else { return Err(Failure::new(kind, error.error().to_string())) };
                self.sender = None;
                let (sender, _) = self.ready(authority).await?;
                sender.send_request(request).await.map_err(|e| Failure::new(classify(&e), e.to_string()))
            }
        }
    }

    /// Sends one request; returns the status and the answer (its first bytes kept, the rest
    /// counted).
    pub async fn send(
        &mut self,
        authority: &str,
        request: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(u16, super::Kept), Failure> {
        let exchange = async {
            let response = self.exchange(authority, request).await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut kept = super::Keeper::new(super::KEEP_BYTES);
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Failure::new(classify(&e), format!("body cut: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    kept.push(&data);
                }
            }
            Ok((status, kept.finish()))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::new(FailureKind::Timeout, format!("no answer within {timeout:?}")))
            }
        }
    }
}
