//! OpenAI chat completions, plain and streamed, and the SSE reader every streamed model call
//! shares. A streamed call measures time to first token, the gaps between tokens and tokens/s,
//! and fails as `stream_cut` when its end (`[DONE]`) never comes.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Http, Outcome, exchange, judge};
use crate::stats::{Failure, FailureKind, StreamSample};

/// Longest SSE event read before the stream is judged broken (memory stays bounded).
const MAX_SSE_EVENT: usize = 1 << 20;

/// What one parsed SSE frame was to the reader.
pub enum Frame {
    /// It carried a token (content, or a piece of a tool call): timed for TTFT and pacing.
    Token,
    /// Anything else (role, usage, bookkeeping events).
    Other,
    /// The stream's own end (a Responses API stream ends with `response.completed`, no `[DONE]`).
    Done,
}

/// One chat completion.
#[allow(clippy::too_many_arguments)]
pub async fn chat(
    client: &Http,
    url: &str,
    model: &str,
    prompt: &str,
    max_tokens: u64,
    stream: bool,
    timeout: Duration,
    expect: Option<u16>,
) -> Outcome {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens});
    if !stream {
        return exchange(client.post(url).json(&body).timeout(timeout), expect, super::KEEP_BYTES).await.0;
    }
    body["stream"] = json!(true);
    sse(client, url, &body, timeout, expect, |frame| {
        let content = frame["choices"][0]["delta"]["content"].as_str().unwrap_or("");
        if content.is_empty() { Frame::Other } else { Frame::Token }
    })
    .await
}

/// Posts `body` and reads its answer as a server-sent event stream, handing every JSON frame to
/// `on_frame`: time to first token, the gaps between tokens and tokens/s from the frames it calls
/// tokens; `stream_cut` when the stream ends before `[DONE]` (or a frame `on_frame` calls the end).
pub async fn sse(
    client: &Http,
    url: &str,
    body: &Value,
    timeout: Duration,
    expect: Option<u16>,
    mut on_frame: impl FnMut(&Value) -> Frame,
) -> Outcome {
    let started = Instant::now();
    let response = match client.post(url).json(body).timeout(timeout).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                failure: Some(Failure::new(FailureKind::from_reqwest(&e), e.to_string())),
                ..Outcome::default()
            };
        }
    };
    let status = response.status().as_u16();
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !(200..300).contains(&status) || !is_sse {
        let kept = super::read_kept(response, super::KEEP_BYTES)
            .await
            .unwrap_or(super::Kept { head: Default::default(), total: 0 });
        let failure = judge(status, &kept.head, expect).or_else(|| {
            Some(Failure::new(FailureKind::Protocol, "expected text/event-stream for a streamed completion"))
        });
        return Outcome { bytes: kept.total, failure, ..Outcome::default() };
    }
    let mut sample = StreamSample::default();
    let mut bytes = 0u64;
    let mut buffer = String::new();
    let mut last_token: Option<Instant> = None;
    let mut first_token: Option<Instant> = None;
    let mut tokens = 0u64;
    let mut done = false;
    let mut failure = None;
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let kind = if e.is_timeout() { FailureKind::Timeout } else { FailureKind::StreamCut };
                failure = Some(Failure::new(kind, format!("stream broken after {tokens} tokens: {e}")));
                break;
            }
        };
        bytes += chunk.len() as u64;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        if buffer.len() > MAX_SSE_EVENT {
            failure = Some(Failure::new(
                FailureKind::Protocol,
                format!("an SSE event longer than {MAX_SSE_EVENT} bytes (no blank line): not a chat stream"),
            ));
            break;
        }
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            for data in frame.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if data == "[DONE]" {
                    done = true;
                    continue;
                }
                let Ok(value) = serde_json::from_str::<Value>(data) else {
                    failure = Some(Failure::new(FailureKind::Protocol, format!("unparseable SSE frame: {data}")));
                    continue;
                };
                if value.get("error").is_some() {
                    let message = value["error"]["message"].as_str().unwrap_or("error frame in stream").to_owned();
                    failure = Some(Failure::new(FailureKind::Protocol, message));
                    continue;
                }
                let token = match on_frame(&value) {
                    Frame::Token => true,
                    Frame::Other => false,
                    Frame::Done => {
                        done = true;
                        false
                    }
                };
                if token {
                    let now = Instant::now();
                    if first_token.is_none() {
                        first_token = Some(now);
                        sample.ttft = Some(now - started);
                    }
                    if let Some(previous) = last_token {
                        sample.inter_token.push(now - previous);
                    }
                    last_token = Some(now);
                    tokens += 1;
                }
            }
        }
    }
    if failure.is_none() && !done {
        failure =
            Some(Failure::new(FailureKind::StreamCut, format!("stream ended after {tokens} tokens without [DONE]")));
    }
    if let (Some(first), Some(last)) = (first_token, last_token)
        && tokens > 1
    {
        sample.tokens_per_second = (tokens - 1) as f64 / (last - first).as_secs_f64().max(1e-6);
    }
    Outcome { bytes, failure, stream: Some(sample), ..Outcome::default() }
}
