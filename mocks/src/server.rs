//! Serving a router on a bound listener until a shutdown signal, with per-connection control.
//!
//! We run our own accept loop (hyper-util) instead of `axum::serve` for one reason: transport faults.
//! Each connection's task carries a [`ConnectionControl`] (a task-local, so requests pay nothing
//! for it) that the fault layer uses to reset (RST) or close (FIN) the very connection a request
//! arrived on, which is what a crashing upstream looks like.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use futures::future::{AbortHandle, abortable};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tower::{Layer, Service};
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The connection whose task is running (set around every connection task [`serve`] spawns).
    static CONNECTION: Arc<ConnectionControl>;
}

/// A handle on the TCP connection a request arrived on.
pub struct ConnectionControl {
    abort: AbortHandle,
    socket: Mutex<Option<std::net::TcpStream>>,
}

impl ConnectionControl {
    /// The connection the current request arrived on; `None` when the service is driven without
    /// a socket (in-process `oneshot` calls).
    pub fn current() -> Option<Arc<ConnectionControl>> {
        CONNECTION.try_with(Arc::clone).ok()
    }

    /// Aborts the connection with a TCP reset (SO_LINGER 0), without answering.
    pub fn reset(&self) {
        if let Some(socket) = self.socket.lock().take() {
            // Linger 0 applies to the shared socket: the last close then sends RST instead of FIN.
            let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
        }
        self.abort.abort();
    }

    /// Closes the connection (FIN) without answering.
    pub fn close(&self) {
        self.socket.lock().take();
        self.abort.abort();
    }
}

/// Serves `app` (a mock's [`crate::service::MockService`], or any axum router) on `listener` until
/// `shutdown` completes, then drains for at most [`SHUTDOWN_GRACE`]. A panic in any handler
/// becomes a JSON 500.
pub async fn serve<S>(listener: TcpListener, app: S, shutdown: impl Future<Output = ()>) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    // One guard around the whole service: `Router::layer` would wrap (and clone, per request)
    // every route once more.
    let app = CatchPanicLayer::custom(JsonPanicResponse).layer(app);
    let builder = Builder::new(TokioExecutor::new());
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
        let _ = stream.set_nodelay(true);
        let (stream, dup) = match split_handle(stream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "could not prepare connection");
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        // Aborting drops the connection, which closes the socket (RST once linger is 0).
        let (connection, abort) = abortable(graceful.watch(connection));
        let control = Arc::new(ConnectionControl { abort, socket: Mutex::new(Some(dup)) });
        let task_control = control.clone();
        tokio::spawn(CONNECTION.scope(control, async move {
            let _ = connection.await;
            task_control.socket.lock().take();
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

/// Returns the stream plus a duplicate handle of the same socket, used to reset it later.
fn split_handle(stream: tokio::net::TcpStream) -> std::io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let dup = std_stream.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(std_stream)?, dup))
}

/// Completes on SIGTERM or Ctrl-C (what Docker and a terminal send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
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
        let server = tokio::spawn(serve(listener, router, async move {
            let _ = stopped.await;
        }));
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
