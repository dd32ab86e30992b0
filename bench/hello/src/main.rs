//! A bare axum hello-world server, the baseline the mock benchmarks compare against.
//!
//! `hello ADDR` serves `GET /` and `GET /health` with a tiny JSON body and nothing else, so any
//! requests/s the mocks lose against it is the cost of the mocks' own work.

use axum::{Router, routing::get};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7999".to_owned());
    let app = Router::new()
        .route("/", get(|| async { "{\"status\":\"ok\"}" }))
        .route("/health", get(|| async { "{\"status\":\"ok\"}" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("hello listening on {}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
