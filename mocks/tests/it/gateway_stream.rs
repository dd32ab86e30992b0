//! Streamed chat completions: SSE framing over real sockets, pacing checked in paused time, and
//! the stream faults (slower first token, stall, cut without `[DONE]`).

use std::time::Duration;

use crate::common::TestGateway;
use axum::body::Body;
use futures::StreamExt;
use http_body_util::BodyExt;
use mocks::config::MocksConfig;
use mocks::gateway::{Gateway, router};
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::ServiceExt;

const PACED: &str = r#"
[[gateway.models]]
id = "paced"
kind = "chat"
ttft_ms = 500
tokens_per_second = 20.0
"#;

fn stream_body(model: &str, include_usage: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "stream please"}],
        "max_tokens": 16,
        "stream": true,
        "stream_options": {"include_usage": include_usage},
    })
}

/// Splits an SSE body into its `data:` payloads, checking the framing on the way.
fn frames(text: &str) -> Vec<String> {
    assert!(text.ends_with("\n\n"), "every frame ends with a blank line");
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| f.strip_prefix("data: ").unwrap_or_else(|| panic!("frame without `data: `: {f:?}")).to_owned())
        .collect()
}

#[tokio::test]
async fn sse_framing_matches_openai_and_ends_with_done() {
    let gw = TestGateway::with_toml("[[gateway.models]]\nid = \"fast\"\nkind = \"chat\"\n").await;
    let response = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&stream_body("fast", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    let all = frames(&text);
    assert_eq!(all.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = all[..all.len() - 1].iter().map(|f| serde_json::from_str(f).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert!(finish["choices"][0]["finish_reason"].is_string());
    let content: String =
        chunks[1..chunks.len() - 2].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
    let tokens = chunks.len() as u64 - 3;
    assert_eq!(usage_chunk["usage"]["completion_tokens"].as_u64(), Some(tokens));
    assert_eq!(content.split_whitespace().count() as u64, tokens);

    // The streamed text is the same completion a non-streamed request gets.
    let mut plain = stream_body("fast", false);
    plain.as_object_mut().unwrap().remove("stream");
    plain.as_object_mut().unwrap().remove("stream_options");
    let (_, whole) = gw.chat(plain).await;
    assert_eq!(whole["choices"][0]["message"]["content"].as_str(), Some(content.as_str()));

    // Without include_usage there is no usage chunk.
    let text = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&stream_body("fast", false))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let plain_frames = frames(&text);
    let before_done: Value = serde_json::from_str(&plain_frames[plain_frames.len() - 2]).unwrap();
    assert!(before_done["choices"][0]["finish_reason"].is_string());
    assert!(before_done.get("usage").is_none());
}

/// Plays a stream through the router in paused time; returns (virtual time of each frame, frame).
async fn timed_frames(config_toml: &str, rule: Option<Value>) -> Vec<(Duration, String)> {
    let config = MocksConfig::from_toml(&format!("[gateway]\n{config_toml}"), "t").unwrap();
    let gateway = Gateway::new(config.gateway, 1).unwrap();
    if let Some(rule) = rule {
        gateway.engine.upsert(serde_json::from_value(rule).unwrap()).unwrap();
    }
    let app = router(gateway);
    let request = http::Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(stream_body("paced", false).to_string()))
        .unwrap();
    let start = Instant::now();
    let response = app.oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            out.push((start.elapsed(), "<error>".to_owned()));
            break;
        };
        if let Ok(data) = frame.into_data() {
            out.push((start.elapsed(), String::from_utf8(data.to_vec()).unwrap()));
        }
    }
    out
}

/// Whether an SSE frame carries a token: content that is not the empty opening one.
fn carries_token(frame: &str) -> bool {
    frame.contains("\"content\":\"") && !frame.contains("\"content\":\"\"")
}

fn content_times(frames: &[(Duration, String)]) -> Vec<Duration> {
    frames.iter().filter(|(_, f)| carries_token(f)).map(|(t, _)| *t).collect()
}

#[tokio::test(start_paused = true)]
async fn pacing_follows_time_to_first_token_and_tokens_per_second() {
    let frames = timed_frames(PACED, None).await;
    let times = content_times(&frames);
    assert!(times.len() >= 10, "{} content chunks", times.len());
    let ttft = times[0].as_secs_f64();
    assert!((ttft - 0.5).abs() <= 0.05, "time to first token {ttft}s, configured 0.5s");
    let gaps = (times[times.len() - 1] - times[0]).as_secs_f64() / (times.len() - 1) as f64;
    let tokens_per_second = 1.0 / gaps;
    assert!((tokens_per_second - 20.0).abs() <= 2.0, "{tokens_per_second} tokens/s, configured 20");
    assert!(frames.last().unwrap().1.contains("[DONE]"));
}

#[tokio::test(start_paused = true)]
async fn stream_faults_slow_stall_and_cut() {
    let slow =
        timed_frames(PACED, Some(json!({"name": "slow", "stream": {"ttft_ms": 2000, "tokens_per_second": 5.0}}))).await;
    let times = content_times(&slow);
    assert!((times[0].as_secs_f64() - 2.0).abs() <= 0.2, "ttft {:?}", times[0]);
    let rate = (times.len() - 1) as f64 / (times[times.len() - 1] - times[0]).as_secs_f64();
    assert!((rate - 5.0).abs() <= 0.5, "{rate} tokens/s");

    let stalled =
        timed_frames(PACED, Some(json!({"name": "stall", "stream": {"stall_at_chunk": 3, "stall_ms": 4000}}))).await;
    let times = content_times(&stalled);
    let gap = (times[3] - times[2]).as_secs_f64();
    assert!((gap - 4.05).abs() <= 0.1, "stall gap {gap}s");
    assert!(stalled.last().unwrap().1.contains("[DONE]"), "a stall still completes");

    let cut = timed_frames(PACED, Some(json!({"name": "cut", "stream": {"cut_after_chunks": 4}}))).await;
    assert_eq!(content_times(&cut).len(), 4);
    assert_eq!(cut.last().unwrap().1, "<error>", "the body fails instead of ending");
    assert!(!cut.iter().any(|(_, f)| f.contains("[DONE]")));
}

#[tokio::test]
async fn real_socket_stream_cut_is_seen_by_the_client() {
    let gw = TestGateway::with_toml("[[gateway.models]]\nid = \"fast\"\nkind = \"chat\"\n").await;
    gw.add_rule(json!({"name": "cut", "match": {"path": "/v1/chat/completions"}, "stream": {"cut_after_chunks": 2}}))
        .await;
    let response = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&stream_body("fast", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client sees the stream break: {text}");
    assert_eq!(text.matches("\"content\":\"").count(), 3, "role chunk and two content chunks arrive first: {text}");
    assert!(!text.contains("[DONE]"));
    let (_, journal) = gw.get("/__admin/journal?limit=1").await;
    assert_eq!(journal["entries"][0]["faults"], json!(["cut"]));
    assert_eq!(journal["entries"][0]["injected"], true);
}

#[tokio::test]
async fn real_socket_time_to_first_token_is_the_configured_one_within_a_millisecond_tick() {
    let gw = TestGateway::with_toml(
        "[[gateway.models]]\nid = \"paced\"\nkind = \"chat\"\nttft_ms = 300\ntokens_per_second = 100.0\n",
    )
    .await;
    // The connection is opened first, so the measured time is the service's and not the handshake's.
    gw.client.get(format!("{}/health", gw.url)).send().await.unwrap();
    let started = std::time::Instant::now();
    let response = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&stream_body("paced", false))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut first_content = None;
    let mut text = String::new();
    while let Some(Ok(bytes)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&bytes));
        if first_content.is_none() && text.split("\n\n").any(carries_token) {
            first_content = Some(started.elapsed());
        }
    }
    let ttft = first_content.expect("content arrived");
    // A token's timer is set one tick early and never fires before that: at most 1 ms early.
    assert!(ttft >= Duration::from_millis(299), "first token after {ttft:?}, configured 300 ms");
    assert!(ttft < Duration::from_millis(400), "first token after {ttft:?}, configured 300 ms");
}

/// Streams of a body, frame by frame (without `[DONE]`).
async fn json_frames(gw: &crate::common::TestGateway, body: &Value) -> Vec<Value> {
    let text = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    text.split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect()
}

#[tokio::test]
async fn logprobs_spell_the_answer_and_streams_with_n_2_interleave_their_choices() {
    let gw = crate::common::TestGateway::start().await;
    let mut body = crate::common::chat_body("gpt-4o-mini");
    body["n"] = json!(2);
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(3);
    let (status, whole) = gw.chat(body.clone()).await;
    assert_eq!(status, 200, "{whole}");
    let mut contents = Vec::new();
    for choice in whole["choices"].as_array().unwrap() {
        let content = choice["message"]["content"].as_str().unwrap().to_owned();
        let tokens = choice["logprobs"]["content"].as_array().unwrap();
        let spelled: String = tokens.iter().map(|t| t["token"].as_str().unwrap()).collect();
        assert_eq!(spelled, content, "the tokens spell the content");
        for t in tokens {
            assert!(t["logprob"].as_f64().unwrap() <= 0.0);
            assert_eq!(t["top_logprobs"].as_array().unwrap().len(), 3, "{t}");
            assert_eq!(t["top_logprobs"][0]["token"], t["token"]);
        }
        contents.push(content);
    }
    assert_ne!(contents[0], contents[1], "two different choices");

    body["stream"] = json!(true);
    let frames = json_frames(&gw, &body).await;
    let mut streamed = [String::new(), String::new()];
    let mut order = Vec::new();
    for frame in &frames {
        for choice in frame["choices"].as_array().unwrap() {
            let index = choice["index"].as_u64().unwrap() as usize;
            if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                streamed[index].push_str(text);
                order.push(index);
                let token = &choice["logprobs"]["content"][0];
                assert_eq!(token["token"].as_str(), Some(text), "each chunk's token is its text: {choice}");
            }
        }
    }
    assert_eq!(streamed.to_vec(), contents, "each index streams its choice's content");
    assert!(order.windows(2).any(|w| w[0] != w[1]), "interleaved indices: {order:?}");

    let (status, refused) = gw
        .chat(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["param"], "top_logprobs");
}

#[tokio::test]
async fn a_models_answer_words_set_its_answers_length_and_max_tokens_still_cuts() {
    let gw = TestGateway::with_toml(
        "[[gateway.models]]\nid = \"long\"\nkind = \"chat\"\nanswer_words = { min = 200, max = 200 }\n",
    )
    .await;
    let mut body = stream_body("long", true);
    body["max_tokens"] = json!(500);
    let text = gw.client.post(format!("{}/v1/chat/completions", gw.url)).json(&body).send().await.unwrap();
    let all = frames(&text.text().await.unwrap());
    let chunks: Vec<Value> = all[..all.len() - 1].iter().map(|f| serde_json::from_str(f).unwrap()).collect();
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 200, "{usage}");
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "stop");
    // The gateway counts the tokens it streamed, for tokens/s delivered.
    let (_, counters) = gw.get("/__admin/counters").await;
    assert_eq!(counters["streamed_tokens"], 200, "{counters}");
    let metrics = gw.client.get(format!("{}/metrics", gw.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("mock_streamed_tokens_total{service=\"gateway\"} 200"), "{metrics}");
    assert!(metrics.contains("mock_late_stream_tokens_total{service=\"gateway\"} "), "{metrics}");
    // Not streamed: the same length; a smaller max_tokens cuts it with `length`.
    body["stream"] = json!(false);
    body.as_object_mut().unwrap().remove("stream_options");
    let (_, whole) = gw.chat(body.clone()).await;
    assert_eq!(whole["usage"]["completion_tokens"], 200);
    assert_eq!(whole["choices"][0]["message"]["content"].as_str().unwrap().split_whitespace().count(), 200);
    body["max_tokens"] = json!(50);
    let (_, cut) = gw.chat(body).await;
    assert_eq!(
        (cut["usage"]["completion_tokens"].as_u64(), cut["choices"][0]["finish_reason"].as_str()),
        (Some(50), Some("length"))
    );

    let bad = "[[gateway.models]]\nid = \"m\"\nkind = \"chat\"\nanswer_words = { min = 30, max = 10 }\n";
    let err = MocksConfig::from_toml(&format!("[gateway]\n{bad}"), "bad.toml").unwrap_err().to_string();
    assert!(err.contains("answer_words") && err.contains("min <= max"), "{err}");
}

/// Tokens a busy gateway sends late are counted apart (`late_stream_tokens`): the target's own
/// lag, which a client would otherwise measure as the model's. The test runtime's one thread also
/// serves the gateway, so blocking it holds every token due meanwhile.
#[tokio::test]
async fn tokens_a_busy_gateway_sends_late_are_counted() {
    let gw = TestGateway::with_toml(
        "[[gateway.models]]\nid = \"quick\"\nkind = \"chat\"\nttft_ms = 0\ntokens_per_second = 100.0\n",
    )
    .await;
    let response = gw.client.post(format!("{}/v1/chat/completions", gw.url)).json(&stream_body("quick", false));
    let mut chunks = response.send().await.unwrap().bytes_stream();
    assert!(chunks.next().await.is_some(), "the stream begins");
    // Tokens are due every 10 ms: the ones due in these 80 ms leave 5 ms or more after their time.
    std::thread::sleep(Duration::from_millis(80));
    while chunks.next().await.is_some() {}
    let (_, counters) = gw.get("/__admin/counters").await;
    let late = counters["late_stream_tokens"].as_u64().unwrap();
    assert!((3..=16).contains(&late), "tokens held by the blocked runtime count as late: {counters}");
    assert_eq!(counters["streamed_tokens"], 16, "{counters}");
}
