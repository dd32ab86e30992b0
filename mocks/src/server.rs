//! Serving a router on a bound listener until a shutdown signal, with per-connection control and
//! limits.
//!
//! We run our own accept loop (hyper-util) instead of `axum::serve` for two reasons. Transport
//! faults: each connection's task carries a [`ConnectionControl`] (a task-local, so requests pay
//! nothing for it) that the fault layer uses to reset (RST) or close (FIN) the very connection a
//! request arrived on, which is what a crashing upstream looks like. And limits no client can
//! exhaust: a connection cap shared by every service of the process (sized from the open-file
//! limit; one file descriptor per connection), a header timeout that also bounds the idle wait
//! between keep-alive requests (hyper's), and a first-byte timeout before hyper takes over (a
//! connection that sends nothing is closed too). Connections refused at the cap and closed by a
//! timeout are counted as events of the service (`/__admin/counters`).

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use futures::future::{AbortHandle, abortable};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

use crate::telemetry::Telemetry;

/// How a listener limits its connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// Connections open at once, shared by every listener of the process.
    pub connections: Arc<Semaphore>,
    /// Longest wait for a request's headers, and for the next request on a kept-alive connection
    /// (hyper's header read timeout), and for the first byte of a new connection.
    pub header_timeout: Duration,
    /// Requests open at once on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// Where refused and timed-out connections are counted.
    pub telemetry: Option<Arc<Telemetry>>,
}

impl ServeOptions {
    /// Options with a cap of `max_connections` (`None`: sized from the open-file limit).
    pub fn new(max_connections: Option<usize>, header_timeout: Duration) -> Self {
        let cap = max_connections.unwrap_or_else(default_max_connections);
        ServeOptions {
            connections: Arc::new(Semaphore::new(cap.max(1))),
            header_timeout,
            http2_max_streams: crate::config::DEFAULT_HTTP2_MAX_STREAMS,
            telemetry: None,
        }
    }

    fn count(&self, event: &str, value: &str) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.event(event, value);
        }
    }
}

/// File descriptors kept back from the connection cap for listeners, logs and the like.
const FD_RESERVE: usize = 64;

/// The connection cap when none is configured: the process's soft open-file limit less a
/// reserve, since every connection holds one descriptor; 1,024 when the limit is unlimited.
pub(crate) fn default_max_connections() -> usize {
    let limit = common::startup::open_file_limit().map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    limit.map_or(1024, |l| l.saturating_sub(FD_RESERVE).max(16))
}

/// How long in-flight requests get to finish after a shutdown signal.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The connection whose task is running (set around every connection task [`serve`] spawns).
    static CONNECTION: Arc<ConnectionControl>;
}

/// A handle on the TCP connection a request arrived on.
pub(crate) struct ConnectionControl {
    abort: AbortHandle,
    /// Set by [`ConnectionControl::reset`]: the socket is closed with RST when dropped.
    reset: Arc<AtomicBool>,
}

impl ConnectionControl {
    /// The connection the current request arrived on; `None` when the service is driven without
    /// a socket (in-process `oneshot` calls).
    pub(crate) fn current() -> Option<Arc<ConnectionControl>> {
        CONNECTION.try_with(Arc::clone).ok()
    }

    /// Aborts the connection with a TCP reset (SO_LINGER 0), without answering.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
        self.abort.abort();
    }

    /// Closes the connection (FIN) without answering.
    pub(crate) fn close(&self) {
        self.abort.abort();
    }
}

/// The accepted socket as the connection uses it: one descriptor (no duplicate), a first-byte
/// deadline until the client sends anything, RST on drop when the fault layer asked for a reset,
/// and the connection's place under the cap, released when it closes.
struct GuardedStream {
    inner: TcpStream,
    first_byte: Option<Pin<Box<tokio::time::Sleep>>>,
    reset: Arc<AtomicBool>,
    _permit: OwnedSemaphorePermit,
    /// Where an answer the client did not stay for is counted (once per connection).
    undelivered: Option<Arc<Telemetry>>,
}

impl GuardedStream {
    /// Counts a write the client's reset or close made fail: an answer nobody received.
    fn note<T>(&mut self, result: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &result
            && matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
            && let Some(telemetry) = self.undelivered.take()
        {
            telemetry.event("answer_not_delivered", "client_gone");
        }
        result
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let Some(deadline) = self.first_byte.as_mut() else { return polled };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.first_byte = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no request within the header timeout",
            ))),
            other => other,
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // Linger 0: the close that follows sends RST instead of FIN.
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

/// Serves `app` (a mock's [`crate::service::MockService`], or any axum router) on `listener` until
/// `shutdown` completes, then drains for at most [`SHUTDOWN_GRACE`]. A panic in any handler
/// becomes a JSON 500.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    // One guard around the whole service: `Router::layer` would wrap (and clone, per request)
    // every route once more.
    let app = CatchPanicLayer::custom(JsonPanicResponse).layer(app);
    let mut builder = Builder::new(TokioExecutor::new());
    // Half-close: a client that shuts its sending side after the request still gets the answer.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(options.header_timeout).half_close(true);
    // HTTP/2 without TLS (prior knowledge, h2c), as load generators and proxies speak it: many
    // requests multiplexed on one connection, each stream's frames written together.
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(options.http2_max_streams);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: log, back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = options.connections.clone().try_acquire_owned() else {
            // At the cap: closed at once (not left in the backlog to hang), and counted.
            drop(stream);
            options.count("connection_refused", "max_connections");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let stream = GuardedStream {
            inner: stream,
            first_byte: Some(Box::pin(tokio::time::sleep(options.header_timeout))),
            reset: reset.clone(),
            _permit: permit,
            undelivered: options.telemetry.clone(),
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        // Aborting drops the connection, which closes the socket (RST when a reset was asked).
        let (connection, abort) = abortable(graceful.watch(connection));
        let control = Arc::new(ConnectionControl { abort, reset });
        let options = options.clone();
        tokio::spawn(CONNECTION.scope(control, async move {
            if let Ok(Err(error)) = connection.await
                && is_timeout(error.as_ref())
            {
                options.count("connection_closed", "timeout");
            }
        }));
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown grace period over; dropping open connections"),
    }
    Ok(())
}

/// Turns a panic in a handler into a JSON 500 in OpenAI's error shape, so nothing ever answers
/// with plain text.
#[derive(Clone, Copy)]
struct JsonPanicResponse;

impl ResponseForPanic for JsonPanicResponse {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(&mut self, _panic: Box<dyn Any + Send + 'static>) -> Response {
        let body = serde_json::json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}});
        (http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
    }
}

/// Whether a connection ended on one of the timeouts (hyper's header timeout, or ours).
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_and_the_server_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        let router = Router::new().route("/boom", get(boom)).route("/ok", get(|| async { "fine" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = ServeOptions::new(None, Duration::from_secs(10));
        let server = tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        let response = reqwest::get(format!("{base}/boom")).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");
        assert_eq!(reqwest::get(format!("{base}/ok")).await.unwrap().text().await.unwrap(), "fine");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
