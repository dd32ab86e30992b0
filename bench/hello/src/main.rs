//! A bare axum hello-world server, the baseline the mock benchmarks compare against.
//!
//! `hello ADDR` serves `GET /` and `GET /health` with a tiny JSON body and nothing else, so any
//! requests/s the mocks lose against it is the cost of the mocks' own work. `POST /chat` answers a
//! canned chat completion with the headers and body size of the gateway's: the benchmark's
//! reference for how much of the chat figure is only the larger answer on the wire. `POST /stream`
//! (also at `/v1/chat/completions`, for clients that only speak that path)
//! streams a chat completion with axum's own SSE support, frames like the gateway's at the pacing
//! of `bench/mocks-streams.toml` (200 ms to the first token, then 20 tokens/s, 200 tokens): the
//! yardstick of the gateway's tokens/s per core under streams.
//! `--current-thread` swaps `#[tokio::main]`'s scheduler for the one the mocks pick on one core.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;

/// A non-streamed completion as the mock gateway answers the benchmark's request.
const CHAT_BODY: &str = r#"{"id":"chatcmpl-5aa9a73441d0b248","object":"chat.completion","created":1795451611,"model":"bench-chat","choices":[{"index":0,"message":{"role":"assistant","content":"read on new one when low as put sent this map when each one map git","refusal":null},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":11,"completion_tokens":16,"total_tokens":27},"system_fingerprint":"fp_mock"}"#;

/// The canned completion, after reading the request body as the gateway does.
async fn chat(_body: Bytes) -> impl IntoResponse {
    (
        [
            ("content-type", "application/json"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-reset-requests", "58s"),
            ("x-ratelimit-limit-tokens", "10000000"),
            ("x-ratelimit-remaining-tokens", "9999973"),
            ("x-ratelimit-reset-tokens", "58s"),
            ("x-request-id", "req_000000000000000100000001"),
            ("openai-processing-ms", "0"),
        ],
        CHAT_BODY,
    )
}

/// The streamed answer's pacing and length, as the streams benchmark's model has them.
const TTFT: Duration = Duration::from_millis(200);
const GAP: Duration = Duration::from_millis(50);
const TOKENS: usize = 200;

/// Word chunks sent so far (`GET /tokens`), as the gateway counts `streamed_tokens`.
static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One chunk of the streamed answer, in the gateway's shape and size.
fn chunk(delta: &str, finish: &str) -> String {
    format!(
        r#"{{"id":"chatcmpl-5aa9a73441d0b248","object":"chat.completion.chunk","created":1795451611,"model":"bench-stream","system_fingerprint":"fp_mock","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}"#
    )
}

/// The opening chunk, `TOKENS` paced word chunks on an absolute schedule, the finish and `[DONE]`.
async fn stream(_body: Bytes) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let start = tokio::time::Instant::now() + TTFT;
    let frames = futures::stream::unfold(0usize, move |i| async move {
        let data = match i {
            0 => chunk(r#"{"role":"assistant","content":"","refusal":null}"#, "null"),
            i if i <= TOKENS => {
                tokio::time::sleep_until(start + GAP * (i as u32 - 1)).await;
                SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                chunk(&format!(r#"{{"content":"{}word"}}"#, if i == 1 { "" } else { " " }), "null")
            }
            i if i == TOKENS + 1 => chunk("{}", r#""length""#),
            i if i == TOKENS + 2 => "[DONE]".to_owned(),
            _ => return None,
        };
        if i == 0 {
            tokio::time::sleep_until(start).await;
        }
        Some((Ok(Event::default().data(data)), i + 1))
    });
    Sse::new(frames)
}

/// `hello ADDR [--current-thread]`: `#[tokio::main]`'s runtime by default (the canonical
/// hello-world); `--current-thread` runs tokio's current-thread scheduler, as the mocks do on one
/// core, so the benchmark can also show the bare server on the same footing.
fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7999".to_owned());
    let mut runtime = if args.any(|a| a == "--current-thread") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().build().expect("runtime").block_on(serve(addr));
}

async fn serve(addr: String) {
    let app = Router::new()
        .route("/", get(|| async { "{\"status\":\"ok\"}" }))
        .route("/health", get(|| async { "{\"status\":\"ok\"}" }))
        .route("/chat", post(chat))
        .route("/stream", post(stream))
        .route("/v1/chat/completions", post(stream))
        .route("/tokens", get(|| async { SENT.load(std::sync::atomic::Ordering::Relaxed).to_string() }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("hello listening on {}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
