//! Streamed answers from the targets a scenario speaks HTTP/2 to (h2c, prior knowledge): one
//! connection per target shared by every user, driven with hyper directly. reqwest wraps every
//! answer's body in two boxed, error-mapping layers that are polled once per SSE frame; at
//! 10,000 streams their own code was 6% of loadsuite's samples (perf, `make bench-streams`' setup).
//! Everything else sent to such a target (plain requests) still goes through reqwest.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::http1::{classify, transport};
use crate::stats::{Failure, FailureKind};

/// A new HTTP/2 connection to `authority`, its connection task spawned.
async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream =
        tokio::net::TcpStream::connect(authority).await.map_err(|e| Failure::new(transport(&e), e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| Failure::new(classify(&e), format!("HTTP/2 handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The open HTTP/2 connection of each target (by `host:port`), opened on first use and again
/// when it closed.
#[derive(Default)]
pub(super) struct Connections {
    open: tokio::sync::Mutex<HashMap<String, SendRequest<Full<Bytes>>>>,
}

impl Connections {
    /// A sender on the connection to `authority`: the open one, or a new one when there is none
    /// or it closed (the lock is held while connecting, so users starting together share one).
    async fn sender(&self, authority: &str) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let mut open = self.open.lock().await;
        if let Some(sender) = open.get(authority).filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        // Boxed: the connect and handshake futures are kilobytes, and every user's request future
        // would otherwise hold room for them (18 MB at 10,000 users) though they run once.
        let sender = Box::pin(connect(authority)).await?;
        open.insert(authority.to_owned(), sender.clone());
        Ok(sender)
    }

    /// Sends `request` (its URI absolute: `http://host:port/path`) and returns the answer's head,
    /// its body still to read.
    pub(super) async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<http::Response<Incoming>, Failure> {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| Failure::new(FailureKind::Protocol, format!("no host in {}", request.uri())))?;
        let mut sender = self.sender(&authority).await?;
        sender.ready().await.map_err(|e| Failure::new(classify(&e), e.to_string()))?;
        sender.send_request(request).await.map_err(|e| Failure::new(classify(&e), e.to_string()))
    }
}
