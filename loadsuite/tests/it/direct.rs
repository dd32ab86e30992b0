//! loadsuite speaks to each target itself, on every path alike (plain requests and streams, HTTP/1.1
//! and HTTP/2): proxy variables in the environment are not used, and a redirect is the answer
//! recorded (its status, a failure unless the task expects it), never followed to another URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::common::{serve, temp_dir};

/// A target whose chat completions redirect (307) to `/moved`, which would answer them; and how
/// many requests reached `/moved`.
async fn redirecting_target() -> (String, Arc<AtomicU64>) {
    let moved = Arc::new(AtomicU64::new(0));
    let reached = moved.clone();
    let app = axum::Router::new()
        .route("/v1/models", get(|| async { r#"{"object":"list","data":[{"id":"m","object":"model"}]}"# }))
        .route(
            "/v1/chat/completions",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/moved")]).into_response() }),
        )
        .route(
            "/moved",
            post(move || {
                reached.fetch_add(1, Ordering::Relaxed);
                async { "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n" }
            }),
        );
    (serve(app).await, moved)
}

/// A listener posing as the environment's proxy: it counts the connections made to it.
async fn proxy() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    });
    (url, connections)
}

#[tokio::test]
async fn proxies_in_the_environment_are_not_used_and_redirects_are_recorded_not_followed() {
    let _load = crate::common::QUIET.read().await;
    let (target, moved) = redirecting_target().await;
    let (proxy, proxied) = proxy().await;
    for http2 in [false, true] {
        let dir = temp_dir(&format!("direct-{http2}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("direct.toml");
        let http2_line = if http2 { "http2 = [\"svc\"]\n" } else { "" };
        std::fs::write(
            &file,
            format!(
                "{http2_line}[targets]\nsvc = \"{target}\"\n[[users]]\nname = \"u\"\ntarget = \"svc\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"chat\", model = \"m\", max_tokens = 2, stream = true }}, {{ kind = \"chat\", model = \"m\", max_tokens = 2 }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 100, duration = \"1s\" }}]\n"
            ),
        )
        .unwrap();
        let out = dir.join("out");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadsuite"));
        command.args(["run", "--quiet", "--no-preflight", "--out"]).arg(&out).arg(&file);
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            command.env(name, &proxy);
        }
        let output = command.env_remove("NO_PROXY").env_remove("no_proxy").output().await.unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "every request failed: {said}");
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        for name in ["/v1/chat/completions", "/v1/chat/completions (stream)"] {
            let row = crate::common::endpoint(&run, name);
            assert!(row["requests"].as_u64().unwrap() > 0, "http2 {http2}: {row}");
            assert_eq!(row["failures"], row["requests"], "http2 {http2}: every request is its 307: {row}");
        }
        let kinds: Vec<&str> =
            run["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert!(kinds.iter().all(|&k| k == "http_307"), "http2 {http2}: the target's own answer: {kinds:?}");
        assert_eq!(proxied.load(Ordering::Relaxed), 0, "http2 {http2}: nothing went to the proxy");
        assert_eq!(moved.load(Ordering::Relaxed), 0, "http2 {http2}: no redirect was followed");
    }
}
