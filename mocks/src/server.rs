//! Serving a router on a bound listener until a shutdown signal, with per-connection control.
//!
//! We run our own accept loop (hyper-util) instead of `axum::serve` for one reason: transport faults.
//! Every request carries a [`ConnectionControl`] so the fault layer can reset (RST) or close (FIN)
//! the very connection the request arrived on, which is what a crashing upstream looks like.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A handle on the TCP connection a request arrived on.
pub struct ConnectionControl {
    kill: Notify,
    socket: Mutex<Option<std::net::TcpStream>>,
}

impl ConnectionControl {
    /// Aborts the connection with a TCP reset (SO_LINGER 0), without answering.
    pub fn reset(&self) {
        if let Some(socket) = self.socket.lock().take() {
            // Linger 0 applies to the shared socket: the last close then sends RST instead of FIN.
            let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
        }
        self.kill.notify_one();
    }

    /// Closes the connection (FIN) without answering.
    pub fn close(&self) {
        self.socket.lock().take();
        self.kill.notify_one();
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains for at most
/// [`SHUTDOWN_GRACE`].
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
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
        let control = Arc::new(ConnectionControl { kill: Notify::new(), socket: Mutex::new(Some(dup)) });
        let request_control = control.clone();
        let service = router.clone().map_request(move |mut request: http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(request_control.clone());
            request.map(axum::body::Body::new)
        });
        let service = TowerToHyperService::new(service);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = control.kill.notified() => {}
            }
            control.socket.lock().take();
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown grace period over; dropping open connections"),
    }
    Ok(())
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
