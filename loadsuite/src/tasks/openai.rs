//! OpenAI model calls, plain and streamed (Chat Completions or the Responses API, with extra
//! fields such as tools and structured outputs checked in the answer), and the SSE reader every
//! streamed model call shares. A streamed call measures time to first token, the gaps between tokens and tokens/s,
//! and fails as `stream_cut` when its end (`[DONE]`) never comes.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::deadline::{Deadline, Expired};
use super::{Http, Outcome, exchange, judge};
use crate::stats::{Failure, FailureKind, StreamSample};

/// Longest SSE event read before the stream is judged broken (memory stays bounded).
const MAX_SSE_EVENT: usize = 1 << 20;

/// What one SSE frame was to the reader.
#[derive(Debug)]
pub(super) enum Frame {
    /// It carried a token (content, or a piece of a tool call): timed for TTFT and pacing.
    Token,
    /// Anything else (role, usage, bookkeeping events).
    Other,
    /// The stream's own end (a Responses API stream ends with `response.completed`, no `[DONE]`).
    Done,
    /// An error frame, or one that is not JSON: the stream fails with it (reading goes on).
    Failed(Failure),
}

/// One model call of a `chat` task: Chat Completions or the Responses API, plain or streamed,
/// with extra request fields whose promise the answer is checked against.
pub(super) struct ChatCall<'a> {
    /// The endpoint URL.
    pub url: String,
    /// Model.
    pub model: &'a str,
    /// The user's message (the Responses API's `input`).
    pub prompt: &'a str,
    /// `max_tokens` (`max_output_tokens`).
    pub max_tokens: u64,
    /// Streamed.
    pub stream: bool,
    /// More request fields, merged in.
    pub extra: &'a Map<String, Value>,
    /// The Responses API.
    pub responses_api: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Expected status.
    pub expect: Option<u16>,
}

impl ChatCall<'_> {
    fn body(&self) -> Value {
        let mut body = if self.responses_api {
            json!({"model": self.model, "input": self.prompt, "max_output_tokens": self.max_tokens})
        } else {
            json!({"model": self.model, "messages": [{"role": "user", "content": self.prompt}], "max_tokens": self.max_tokens})
        };
        if let Value::Object(fields) = &mut body {
            fields.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            if self.stream {
                fields.insert("stream".into(), Value::Bool(true));
            }
        }
        body
    }

    /// Whether the extra fields ask for JSON text (a `json_object` or `json_schema` format), which
    /// the answer's text is then checked to be.
    fn wants_json(&self) -> bool {
        let format = if self.responses_api {
            self.extra.get("text").map(|text| &text["format"])
        } else {
            self.extra.get("response_format")
        };
        matches!(format.unwrap_or(&Value::Null)["type"].as_str(), Some("json_object" | "json_schema"))
    }

    /// What the extra fields promise and the answer must keep: JSON text for a JSON format, tool
    /// calls when `tool_choice` requires them (`None`: nothing to check, or it holds).
    fn check(&self, answer: &Value) -> Option<Failure> {
        let wants_json = self.wants_json();
        let wants_calls = match self.extra.get("tool_choice") {
            Some(Value::String(choice)) => choice == "required",
            Some(Value::Object(_)) => true,
            _ => false,
        };
        let (text, calls, finish) = if self.responses_api {
            let output = answer["output"].as_array().cloned().unwrap_or_default();
            let text: String = output
                .iter()
                .filter(|i| i["type"] == "message")
                .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c["text"].as_str().map(str::to_owned))
                .collect();
            let calls = output.iter().filter(|i| i["type"] == "function_call").count();
            (text, calls, answer["status"].as_str().unwrap_or_default().to_owned())
        } else {
            let choice = &answer["choices"][0];
            let text = choice["message"]["content"].as_str().unwrap_or_default().to_owned();
            let calls = choice["message"]["tool_calls"].as_array().map_or(0, Vec::len);
            (text, calls, choice["finish_reason"].as_str().unwrap_or_default().to_owned())
        };
        if wants_calls && calls == 0 {
            return Some(Failure::new(
                FailureKind::CheckFailed,
                "tool_choice requires a tool call; the answer has none",
            ));
        }
        if wants_json && calls == 0 && serde_json::from_str::<Value>(&text).is_err() {
            let hint =
                if matches!(finish.as_str(), "length" | "incomplete") { " (cut at max_tokens: raise it)" } else { "" };
            return Some(Failure::new(
                FailureKind::CheckFailed,
                format!(
                    "the structured output is not valid JSON{hint}: {}",
                    text.chars().take(120).collect::<String>()
                ),
            ));
        }
        None
    }
}

/// One `chat` task call: the answer read whole or from its stream, then checked.
pub(super) async fn chat(client: &Http, call: &ChatCall<'_>) -> Outcome {
    let body = call.body();
    if !call.stream {
        let request = client.post(&call.url).json(&body).timeout(call.timeout);
        let (mut outcome, answer) = exchange(request, call.expect, super::KEEP_BYTES).await;
        if outcome.failure.is_none() {
            outcome.failure = answer.as_ref().and_then(|a| call.check(a));
        }
        return outcome;
    }
    let (mut outcome, answer) = if call.responses_api {
        let mut whole = None;
        let outcome =
            sse(client, &call.url, &body, call.timeout, call.expect, |f| responses_frame(f, &mut whole)).await;
        (outcome, whole)
    } else {
        // The text is only read back when it must be JSON: otherwise no copy of it is kept.
        let mut message = StreamedMessage::new(call.wants_json());
        let outcome = sse(client, &call.url, &body, call.timeout, call.expect, |f| message.add(f)).await;
        (outcome, Some(message.into_answer()))
    };
    if outcome.failure.is_none() {
        outcome.failure = answer.as_ref().and_then(|a| call.check(a));
    }
    outcome
}

/// A Responses API stream event to the SSE reader: text and argument deltas are tokens,
/// `response.completed` ends the stream and leaves the whole response in `whole`.
pub(super) fn responses_frame(data: &[u8], whole: &mut Option<Value>) -> Frame {
    let kind = match super::frames::responses_type(data) {
        Ok(kind) => kind,
        Err(frame) => return frame,
    };
    match kind.as_ref().map(|k| k.0.as_ref()) {
        Some("response.output_text.delta" | "response.function_call_arguments.delta") => Frame::Token,
        Some("response.completed") => {
            // Once per stream: the whole response, read in full.
            *whole = serde_json::from_slice::<Value>(data).ok().map(|mut frame| frame["response"].take());
            Frame::Done
        }
        _ => Frame::Other,
    }
}

/// A streamed chat answer put back together from its deltas.
pub(super) struct StreamedMessage {
    /// Whether the text is kept (`content` stays `None` otherwise: a copy of every token is
    /// memory and cache misses per frame that a reader which never looks at the text does not need).
    keep_text: bool,
    content: Option<String>,
    /// By `index`: id, name, arguments so far.
    calls: std::collections::BTreeMap<u64, (String, String, String)>,
}

impl StreamedMessage {
    /// An empty answer; its text is put back together only when `keep_text` (tool calls always are).
    pub(super) fn new(keep_text: bool) -> Self {
        StreamedMessage { keep_text, content: None, calls: Default::default() }
    }

    /// Takes one frame's deltas in; says whether it carried a token.
    pub(super) fn add(&mut self, data: &[u8]) -> Frame {
        let delta = match super::frames::chat_delta(data) {
            Ok(Some(delta)) => delta,
            Ok(None) => return Frame::Other,
            Err(frame) => return frame,
        };
        let mut token = false;
        if let Some(text) = delta.content.filter(|t| !t.0.is_empty()) {
            if self.keep_text {
                self.content.get_or_insert_default().push_str(&text.0);
            }
            token = true;
        }
        for piece in delta.tool_calls.into_iter().flatten() {
            let call = self.calls.entry(piece.index.unwrap_or_default()).or_default();
            if let Some(id) = piece.id {
                call.0 = id.0.into_owned();
            }
            if let Some(function) = piece.function {
                if let Some(name) = function.name {
                    call.1.push_str(&name.0);
                }
                if let Some(arguments) = function.arguments {
                    call.2.push_str(&arguments.0);
                }
            }
            token = true;
        }
        if token { Frame::Token } else { Frame::Other }
    }

    /// The answer in the non-streamed completion's shape.
    pub(super) fn into_answer(self) -> Value {
        let mut message = json!({"role": "assistant", "content": self.content});
        if !self.calls.is_empty() {
            let calls: Vec<Value> = self
                .calls
                .into_values()
                .map(|(id, name, arguments)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        json!({"choices": [{"message": message}]})
    }
}

/// The lines of an event (its last, empty ones included), cut with `memchr`: a byte-by-byte
/// split was a tenth of the reader's time per frame.
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', event).map(move |end| {
        let line = &event[start..end];
        start = end + 1;
        line
    })
}

/// Hands every complete event of `data` (the bytes up to and including its blank line) to
/// `on_event`, searching for blank lines from `from`; returns how many bytes the events took.
fn events(data: &[u8], from: usize, blank_line: &memchr::memmem::Finder<'_>, mut on_event: impl FnMut(&[u8])) -> usize {
    let (mut consumed, mut from) = (0, from);
    while let Some(at) = blank_line.find(&data[from..]) {
        let end = from + at + 2;
        on_event(&data[consumed..end]);
        consumed = end;
        from = end;
    }
    consumed
}

/// Posts `body` and reads its answer as a server-sent event stream, handing every JSON frame to
/// `on_frame`: time to first token, the gaps between tokens and tokens/s from the frames it calls
/// tokens; `stream_cut` when the stream ends before `[DONE]` (or a frame `on_frame` calls the end).
pub(super) async fn sse(
    client: &Http,
    url: &str,
    body: &Value,
    timeout: Duration,
    expect: Option<u16>,
    mut on_frame: impl FnMut(&[u8]) -> Frame,
) -> Outcome {
    let started = Instant::now();
    // The whole request's limit, as reqwest's `timeout` would set it, without a timer poll per frame.
    let mut deadline = Deadline::after(timeout);
    let mut answer = match deadline.run(client.post_streamed(url, body)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(failure)) => return Outcome { failure: Some(failure), ..Outcome::default() },
        Err(Expired) => {
            return Outcome {
                failure: Some(Failure::new(FailureKind::Timeout, format!("no answer within {timeout:?}"))),
                ..Outcome::default()
            };
        }
    };
    let status = answer.status();
    if !(200..300).contains(&status) || !answer.is_event_stream() {
        let kept = deadline
            .run(answer.kept(super::KEEP_BYTES))
            .await
            .unwrap_or(super::Kept { head: Default::default(), total: 0 });
        let failure = judge(status, &kept.head, expect).or_else(|| {
            Some(Failure::new(FailureKind::Protocol, "expected text/event-stream for a streamed completion"))
        });
        return Outcome { bytes: kept.total, failure, ..Outcome::default() };
    }
    let mut sample = StreamSample::default();
    let mut bytes = 0u64;
    // Raw bytes: frames are cut on the blank line and parsed in place, with no text copy per token.
    let mut buffer: Vec<u8> = Vec::new();
    let blank_line = memchr::memmem::Finder::new(b"\n\n");
    let mut last_token: Option<Instant> = None;
    let mut first_token: Option<Instant> = None;
    let mut tokens = 0u64;
    let mut done = false;
    let mut failure = None;
    loop {
        let chunk = match deadline.run(answer.chunk()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break,
            Ok(Some(Err(broken))) => {
                let message = format!("stream broken after {tokens} tokens: {}", broken.message);
                failure = Some(Failure::new(broken.kind, message));
                break;
            }
            Err(Expired) => {
                failure = Some(Failure::new(
                    FailureKind::Timeout,
                    format!("stream timed out after {tokens} tokens ({timeout:?})"),
                ));
                break;
            }
        };
        bytes += chunk.len() as u64;
        // A chunk that starts a fresh event is read in place; only an event cut across chunks is
        // copied, into `buffer`, and only the unsearched tail (and the byte before it) can hold
        // its blank line.
        let (data, from): (&[u8], usize) = if buffer.is_empty() {
            (&chunk, 0)
        } else {
            let searched = buffer.len().saturating_sub(1);
            buffer.extend_from_slice(&chunk);
            (&buffer, searched)
        };
        let consumed = events(data, from, &blank_line, |frame| {
            for data in lines(frame).filter_map(|l| l.strip_prefix(b"data: ")) {
                let data = data.strip_suffix(b"\r").unwrap_or(data);
                if data == b"[DONE]" {
                    done = true;
                    continue;
                }
                let token = match on_frame(data) {
                    Frame::Token => true,
                    Frame::Other => false,
                    Frame::Done => {
                        done = true;
                        false
                    }
                    Frame::Failed(failed) => {
                        failure = Some(failed);
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
                        let gap = (now - previous).as_micros();
                        sample.inter_token.push(u32::try_from(gap).unwrap_or(u32::MAX));
                    }
                    last_token = Some(now);
                    tokens += 1;
                }
            }
        });
        if buffer.is_empty() {
            buffer.extend_from_slice(&chunk[consumed..]);
        } else {
            buffer.drain(..consumed);
        }
        if buffer.len() > MAX_SSE_EVENT {
            failure = Some(Failure::new(
                FailureKind::Protocol,
                format!("an SSE event longer than {MAX_SSE_EVENT} bytes (no blank line): not a chat stream"),
            ));
            break;
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn call(extra: Value, responses_api: bool) -> (Map<String, Value>, bool) {
        (extra.as_object().cloned().unwrap_or_default(), responses_api)
    }

    fn check(extra: &(Map<String, Value>, bool), answer: Value) -> Option<String> {
        let call = ChatCall {
            url: String::new(),
            model: "m",
            prompt: "p",
            max_tokens: 8,
            stream: false,
            extra: &extra.0,
            responses_api: extra.1,
            timeout: Duration::from_secs(1),
            expect: None,
        };
        call.check(&answer).map(|f| f.message)
    }

    /// Serves `body` as an event stream cut into pieces of `piece` bytes, each sent on its own.
    async fn sse_server(body: &'static str, piece: usize) -> String {
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || async move {
                let pieces: Vec<Result<bytes::Bytes, std::io::Error>> =
                    body.as_bytes().chunks(piece).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
                let stream = futures::stream::iter(pieces).then(|p| async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    p
                });
                ([("content-type", "text/event-stream")], axum::body::Body::from_stream(stream))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn frames_cut_anywhere_and_crlf_lines_read_the_same() {
        const BODY: &str =
            "data: {\"t\":1}\n\ndata: {\"t\":2}\r\n\r\n\n\ndata: {\"t\":3}\n\n: comment\n\ndata: [DONE]\n\n";
        let none = std::collections::BTreeMap::new();
        let http = Http::new(reqwest::Client::new(), &none, &none);
        for piece in [1, 2, 3, 7, BODY.len()] {
            let url = sse_server(BODY, piece).await;
            let mut seen = Vec::new();
            let outcome = sse(&http, &url, &Value::Null, Duration::from_secs(5), None, |frame| {
                let frame: Value = serde_json::from_slice(frame).unwrap();
                seen.push(frame["t"].as_u64().unwrap());
                Frame::Token
            })
            .await;
            assert!(outcome.failure.is_none(), "pieces of {piece}: {:?}", outcome.failure);
            assert_eq!(seen, [1, 2, 3], "pieces of {piece}");
            let stream = outcome.stream.unwrap();
            assert_eq!(stream.inter_token.len(), 2);
            assert!(stream.ttft.is_some());
        }
        // A broken frame is a protocol failure that quotes it.
        let url = sse_server("data: {oops\n\ndata: [DONE]\n\n", 3).await;
        let outcome = sse(&http, &url, &Value::Null, Duration::from_secs(5), None, super::super::frames::general).await;
        assert!(outcome.failure.unwrap().message.contains("unparseable SSE frame: {oops"));
    }

    #[test]
    fn answers_are_held_to_what_the_extra_fields_ask() {
        let required = call(json!({"tool_choice": "required", "tools": []}), false);
        let words = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]});
        assert!(check(&required, words.clone()).unwrap().contains("requires a tool call"));
        let called = json!({"choices": [{"message": {"content": null, "tool_calls": [{"id": "c"}]}, "finish_reason": "tool_calls"}]});
        assert_eq!(check(&required, called), None);
        let json_format = call(json!({"response_format": {"type": "json_object"}}), false);
        assert!(check(&json_format, words).unwrap().contains("not valid JSON"));
        let cut = json!({"choices": [{"message": {"content": "{\"a\""}, "finish_reason": "length"}]});
        assert!(check(&json_format, cut).unwrap().contains("cut at max_tokens"));
        let ok = json!({"choices": [{"message": {"content": "{\"a\": 1}"}, "finish_reason": "stop"}]});
        assert_eq!(check(&json_format, ok), None);
        let responses = call(json!({"text": {"format": {"type": "json_schema"}}}), true);
        let text = |t: &str| json!({"status": "completed", "output": [{"type": "message", "content": [{"type": "output_text", "text": t}]}]});
        assert_eq!(check(&responses, text("{\"a\": 1}")), None);
        assert!(check(&responses, text("plain words")).unwrap().contains("not valid JSON"));
        assert_eq!(check(&call(json!({}), false), json!({})), None, "nothing asked, nothing checked");
    }
}
