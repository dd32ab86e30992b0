//! `http2` in a scenario: the named targets are spoken to over HTTP/2 (h2c) with every user's
//! requests multiplexed on one connection, plain tasks and streams alike; a scenario naming a
//! target that is not there, or one behind https, is refused with its file and line. Streamed
//! answers from such a target are read on their own shared HTTP/2 connection (hyper, no reqwest
//! layers), with the target's key, and judged as any stream is.

use std::convert::Infallible;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

use crate::common::{Mocks, endpoint, run_text};

/// Requests served per connection, in the order the connections came.
type PerConnection = Arc<Mutex<Vec<Arc<AtomicU64>>>>;

/// An event stream of two tokens, ended with `[DONE]` when `done`.
fn two_tokens(done: bool) -> Bytes {
    let frame = |t: &str| format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}}}}]}}\n\n");
    let end = if done { "data: [DONE]\n\n" } else { "" };
    Bytes::from(format!("{}{}{end}", frame("a"), frame(" b")))
}

/// The answer to an HTTP/2 request: the model `m` (and `cut`) in `/v1/models`; to a chat
/// completion with the key `sk-h2`, an event stream of two tokens (without its `[DONE]` for the
/// model `cut`) and 401 without the key; `{}` to anything else.
async fn answer(request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let builder = Response::builder();
    match request.uri().path() {
        "/v1/models" => builder.body(Full::new(Bytes::from_static(br#"{"data":[{"id":"m"},{"id":"cut"}]}"#))),
        "/v1/chat/completions" => {
            let keyed = request.headers().get("authorization").is_some_and(|v| v == "Bearer sk-h2");
            let body = http_body_util::BodyExt::collect(request.into_body()).await.unwrap().to_bytes();
            if !keyed {
                let error = br#"{"error":{"message":"bad key","type":"invalid_request_error"}}"#;
                return builder.status(401).body(Full::new(Bytes::from_static(error))).unwrap();
            }
            let done = !String::from_utf8_lossy(&body).contains("\"cut\"");
            builder.header("content-type", "text/event-stream").body(Full::new(two_tokens(done)))
        }
        _ => builder.body(Full::new(Bytes::from_static(b"{}"))),
    }
    .unwrap()
}

/// A server that answers HTTP/2 requests (see [`answer`]) and 505 to any other, counting the
/// requests of each connection.
async fn http2_only_server() -> (String, PerConnection) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = PerConnection::default();
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let requests = Arc::new(AtomicU64::new(0));
            counted.lock().unwrap().push(requests.clone());
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                requests.fetch_add(1, Ordering::Relaxed);
                async move {
                    if request.version() != Version::HTTP_2 {
                        return Ok::<_, Infallible>(Response::builder().status(505).body(Full::default()).unwrap());
                    }
                    Ok(answer(request).await)
                }
            });
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (url, connections)
}

fn health_scenario(url: &str, http2: bool) -> String {
    let http2 = if http2 { "http2 = [\"svc\"]\n" } else { "" };
    format!(
        "{http2}[targets]\nsvc = \"{url}\"\n[[users]]\nname = \"u\"\ntarget = \"svc\"\nthink = {{ kind = \"constant\", seconds = 0.02 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 8, spawn_rate = 100, duration = \"1s\" }}]\n"
    )
}

#[tokio::test]
async fn plain_tasks_to_an_http2_target_share_one_multiplexed_connection() {
    let _load = crate::common::QUIET.read().await;
    let (url, connections) = http2_only_server().await;
    let (_, run) = run_text(&health_scenario(&url, true), "http2-plain").await;
    let row = endpoint(&run, "/health");
    assert!(row["requests"].as_u64().unwrap() > 50, "{row}");
    assert_eq!(row["failures"], 0, "every request went over HTTP/2: {row}");
    // The preflight, the target-counter reads and every user share the run's HTTP/2 client: its
    // connection carries every user's request (never a connection per user).
    let counts: Vec<u64> = connections.lock().unwrap().iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let most = counts.iter().max().copied().unwrap_or(0);
    assert!(counts.len() <= 3 && most >= row["requests"].as_u64().unwrap(), "8 users on one connection: {counts:?}");
    assert_eq!(run["http2"], serde_json::json!(["svc"]));

    // Without `http2` the run speaks HTTP/1.1, which this server refuses: the preflight says so.
    let (url, connections) = http2_only_server().await;
    let scenario = loadsuite::scenario::parse(&health_scenario(&url, false), "h1.toml", "h1").unwrap();
    let refused =
        loadsuite::run::run(scenario, loadsuite::run::RunOptions::new(crate::common::temp_dir("http1-plain")))
            .await
            .expect_err("HTTP/1.1 is refused");
    assert!(format!("{refused:?}").contains("505"), "{refused:?}");
    assert_eq!(connections.lock().unwrap().len(), 1, "the preflight's connection, and no run");
}

#[tokio::test]
async fn streamed_chat_over_http2_measures_the_first_token() {
    let _load = crate::common::QUIET.read().await;
    let mocks = Mocks::start(
        "[gateway]\nstream_jitter = 0.0\n[[gateway.models]]\nid = \"paced\"\nkind = \"chat\"\nttft_ms = 150\ntokens_per_second = 100.0\nanswer_words = { min = 10, max = 10 }\n",
    )
    .await;
    let text = format!(
        "http2 = [\"gateway\"]\n{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"chat\", model = \"paced\", max_tokens = 10, stream = true }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 20, spawn_rate = 100, duration = \"1.5s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "http2-streams").await;
    let row = endpoint(&run, "/v1/chat/completions (stream)");
    assert!(row["requests"].as_u64().unwrap() >= 20, "{row}");
    assert_eq!(row["failures"], 0, "{row}");
    let ttft = row["ttft_ms"]["p50"].as_f64().unwrap();
    assert!(ttft >= 149.0, "the first token comes after the configured 150 ms (at most a tick early): {ttft}");
    let gap = row["inter_token_ms"]["p50"].as_f64().unwrap();
    assert!(gap >= 9.0, "100 tokens/s paces tokens 10 ms apart: {gap}");
}

#[tokio::test]
async fn streamed_chat_to_an_http2_target_shares_one_connection_carries_the_key_and_is_judged() {
    let _load = crate::common::QUIET.read().await;
    let scenario = |url: &str, key: &str, model: &str| {
        format!(
            "http2 = [\"svc\"]\n[targets]\nsvc = \"{url}\"\n[api_keys]\nsvc = \"{key}\"\n[[users]]\nname = \"u\"\ntarget = \"svc\"\nthink = {{ kind = \"constant\", seconds = 0.02 }}\ntasks = [{{ kind = \"chat\", model = \"{model}\", max_tokens = 2, stream = true }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 8, spawn_rate = 100, duration = \"1s\" }}]\n"
        )
    };
    let (url, connections) = http2_only_server().await;
    let (_, run) = run_text(&scenario(&url, "sk-h2", "m"), "http2-sse").await;
    let row = endpoint(&run, "/v1/chat/completions (stream)");
    let streams = row["requests"].as_u64().unwrap();
    assert!(streams > 50, "{row}");
    assert_eq!(row["failures"], 0, "every stream went over HTTP/2 with the key and ended: {row}");
    assert!(row["ttft_ms"]["p50"].as_f64().is_some(), "{row}");
    // The preflight's connection, and one that carried every stream of the 8 users.
    let counts: Vec<u64> = connections.lock().unwrap().iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert!(
        counts.len() <= 3 && counts.iter().any(|&c| c >= streams),
        "8 users' streams on one connection: {counts:?}"
    );

    // A wrong key is the target's 401, and a stream without its end is cut: both failures.
    let (url, _) = http2_only_server().await;
    let (_, run) = run_text(&scenario(&url, "sk-wrong", "m"), "http2-sse-401").await;
    let row = endpoint(&run, "/v1/chat/completions (stream)");
    assert!(row["requests"].as_u64().unwrap() > 0 && row["failures"] == row["requests"], "{row}");
    let failure = &run["failures"].as_array().unwrap()[0];
    assert!(failure["message"].as_str().unwrap().contains("bad key"), "{failure}");
    let (url, _) = http2_only_server().await;
    let (_, run) = run_text(&scenario(&url, "sk-h2", "cut"), "http2-sse-cut").await;
    let row = endpoint(&run, "/v1/chat/completions (stream)");
    assert!(row["requests"].as_u64().unwrap() > 0 && row["failures"] == row["requests"], "{row}");
    let failure = &run["failures"].as_array().unwrap()[0];
    assert_eq!(failure["kind"], "stream_cut", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains("after 2 tokens without [DONE]"), "{failure}");
}

#[test]
fn a_scenario_naming_an_unknown_or_https_http2_target_is_refused_with_its_line() {
    let dir = crate::common::temp_dir("http2-check");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("h2.toml");
    std::fs::write(
        &path,
        "http2 = [\"gateway\", \"secure\", \"nope\"]\n[targets]\ngateway = \"http://127.0.0.1:8000\"\nsecure = \"https://api.example\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{ kind = \"http\", path = \"/health\" }]\n[load]\nshape = \"stages\"\nstages = [{ users = 1, duration = \"1s\" }]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadsuite")).arg("check").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    let file = path.display().to_string();
    assert!(err.contains(&format!("{file}:1: http2[1]: `secure` is `https://api.example`")), "{err}");
    assert!(err.contains(&format!("{file}:1: http2[2]: unknown target `nope`")), "{err}");
    assert!(!err.contains("http2[0]"), "{err}");
}
