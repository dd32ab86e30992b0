//! Streamed chat completions: Server-Sent Events in OpenAI's chunk format, paced by the model's
//! time to first token and tokens/s, and degradable by stream faults (slower, stalled, cut).

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::unix_now;
use crate::faults::StreamFault;

/// Default pause of a stall when the rule gives no length.
const DEFAULT_STALL: Duration = Duration::from_secs(5);

/// Everything needed to play one stream.
pub struct StreamPlan {
    /// `chatcmpl-...`.
    pub id: String,
    /// Model name in every chunk.
    pub model: String,
    /// The content, one word (one token) per chunk.
    pub words: Vec<&'static str>,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
    /// Send the usage chunk at the end.
    pub include_usage: bool,
    /// For the usage chunk.
    pub prompt_tokens: u64,
    /// Time to first token.
    pub ttft: Duration,
    /// Pacing; 0 is instant.
    pub tokens_per_second: f64,
    /// Relative pacing jitter, 0..1.
    pub jitter: f64,
    /// Injected degradation.
    pub fault: StreamFault,
    /// Seed for jitter.
    pub seed: u64,
}

fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

impl StreamPlan {
    fn chunk(&self, created: u64, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn interval(&self, rng: &mut StdRng) -> Duration {
        if self.tokens_per_second <= 0.0 {
            return Duration::ZERO;
        }
        let base = 1.0 / self.tokens_per_second;
        let spread = if self.jitter > 0.0 { rng.random_range(-self.jitter..=self.jitter) } else { 0.0 };
        Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

/// Starts playing `plan`; `permit` (a concurrency slot) is held until the stream ends.
pub fn stream_response(plan: StreamPlan, permit: Option<OwnedSemaphorePermit>) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::spawn(async move {
        let _permit = permit;
        play(plan, sender).await;
    });
    let mut response = Response::new(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn play(plan: StreamPlan, sender: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let created = unix_now();
    let mut rng = StdRng::seed_from_u64(plan.seed);
    // A send fails only when the client went away: then stop quietly.
    macro_rules! send {
        ($bytes:expr) => {
            if sender.send(Ok($bytes)).await.is_err() {
                return;
            }
        };
    }
    tokio::time::sleep(plan.ttft).await;
    send!(frame(&plan.chunk(created, json!({"role": "assistant", "content": "", "refusal": null}), None)));
    for (index, word) in plan.words.iter().enumerate() {
        let index = index as u32;
        if plan.fault.cut_after_chunks == Some(index) {
            return cut(&sender).await;
        }
        if index > 0 {
            tokio::time::sleep(plan.interval(&mut rng)).await;
        }
        if plan.fault.stall_at_chunk == Some(index) {
            tokio::time::sleep(plan.fault.stall_ms.map_or(DEFAULT_STALL, Duration::from_millis)).await;
        }
        let text = if index == 0 { (*word).to_owned() } else { format!(" {word}") };
        send!(frame(&plan.chunk(created, json!({"content": text}), None)));
    }
    if plan.fault.cut_after_chunks.is_some_and(|n| n as usize >= plan.words.len()) {
        return cut(&sender).await;
    }
    send!(frame(&plan.chunk(created, json!({}), Some(plan.finish_reason))));
    if plan.include_usage {
        let completion = plan.words.len() as u64;
        let usage = json!({
            "id": plan.id, "object": "chat.completion.chunk", "created": created, "model": plan.model,
            "system_fingerprint": "fp_mock", "choices": [],
            "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": completion, "total_tokens": plan.prompt_tokens + completion},
        });
        send!(frame(&usage));
    }
    send!(Bytes::from_static(b"data: [DONE]\n\n"));
}

/// Fails the body so the server drops the connection without `[DONE]`; the pause first lets the
/// chunks already sent reach the client.
async fn cut(sender: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = sender.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected stream cut"))).await;
}
