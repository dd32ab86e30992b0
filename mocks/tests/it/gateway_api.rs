//! The gateway through real HTTP on 127.0.0.1:0: endpoints, OpenAI's validation errors with
//! their exact status and body, the unknown-model case, policies, dialects and rate limits.

use crate::common::{FAST_MODELS, TestGateway, chat_body};
use serde_json::{Value, json};

fn error(status: u16, message: &str, kind: &str, param: Value, code: Value) -> (u16, Value) {
    (status, json!({"error": {"message": message, "type": kind, "param": param, "code": code}}))
}

#[tokio::test]
async fn health_and_models() {
    let gw = TestGateway::start().await;
    let health = gw.client.get(format!("{}/health", gw.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["content-type"], "application/json");
    let health: Value = health.json().await.unwrap();
    let (status, list) = gw.get("/v1/models").await;
    let (_, specs) = gw.get("/__admin/models").await;
    let served = specs["models"].as_array().unwrap().len();
    assert_eq!(health, json!({"status": "ok", "service": "gateway", "models_served": served}));
    // Aliases are listed as models of their own, and answered under the name asked for.
    let aliases: usize =
        specs["models"].as_array().unwrap().iter().map(|m| m["aliases"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(list["data"].as_array().unwrap().len(), served + aliases);
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"gpt-4o-mini") && !ids.contains(&"qwen2.5-14b-instruct"), "{ids:?}");
    for model in list["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model");
        assert!(model["created"].is_u64() && model["owned_by"].is_string());
    }
    let (status, one) = gw.get("/v1/models/gpt-4o-mini").await;
    assert_eq!((status, one["id"].as_str()), (200, Some("gpt-4o-mini")));
    assert!(ids.contains(&"gpt-4o-mini-2024-07-18"), "the configured alias is listed: {ids:?}");
    let (status, alias) = gw.get("/v1/models/gpt-4o-mini-2024-07-18").await;
    assert_eq!((status, alias["id"].as_str()), (200, Some("gpt-4o-mini-2024-07-18")));
    let (status, answer) = gw.chat(chat_body("gpt-4o-mini-2024-07-18")).await;
    assert_eq!((status, answer["model"].as_str()), (200, Some("gpt-4o-mini-2024-07-18")), "answered as asked");
    // Every answer has its own id; the content is the request's.
    let (_, again) = gw.chat(chat_body("gpt-4o-mini-2024-07-18")).await;
    assert_ne!(answer["id"], again["id"]);
    assert_eq!(answer["choices"], again["choices"]);
    let other = TestGateway::start().await;
    let (_, elsewhere) = other.chat(chat_body("gpt-4o-mini-2024-07-18")).await;
    assert_ne!(answer["id"], elsewhere["id"], "two gateways with the same seed issue different ids");
    assert_eq!(answer["choices"], elsewhere["choices"], "and the same content");
    let (status, missing) = gw.get("/v1/models/qwen2.5-14b-instruct").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn unknown_model_is_a_404_naming_the_model_and_the_served_ones() {
    let gw = TestGateway::start().await;
    for _ in 0..3 {
        let (status, body) = gw.chat(chat_body("qwen2.5-14b-instruct")).await;
        assert_eq!(
            (status, body),
            error(
                404,
                "The model `qwen2.5-14b-instruct` does not exist or you do not have access to it. This gateway serves: gpt-4o-mini, llama-3.1-8b-instruct, mistral-7b-instruct.",
                "invalid_request_error",
                Value::Null,
                json!("model_not_found"),
            )
        );
    }
    let (_, counters) = gw.get("/__admin/counters").await;
    assert_eq!(counters["events"]["unknown_model"]["qwen2.5-14b-instruct"], 3);
    assert_eq!(counters["genuine_errors"], 3);
    assert_eq!(counters["injected_faults"], 0);
    let (_, journal) = gw.get("/__admin/journal?limit=1").await;
    let entry = &journal["entries"][0];
    assert_eq!((entry["status"].as_u64(), entry["error_code"].as_str()), (Some(404), Some("model_not_found")));
    assert_eq!(entry["attribute"], "qwen2.5-14b-instruct");
    assert_eq!(entry["injected"], false);
}

#[tokio::test]
async fn chat_validation_errors_match_openai() {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let cases: Vec<(Value, (u16, Value))> = vec![
        (
            json!({"model": "fast"}),
            error(
                400,
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                json!("messages"),
                json!("missing_required_parameter"),
            ),
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            error(
                400,
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                json!("model"),
                json!("missing_required_parameter"),
            ),
        ),
        (
            json!({"model": "fast", "messages": []}),
            error(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                "invalid_request_error",
                json!("messages"),
                json!("empty_array"),
            ),
        ),
        (
            json!({"model": "fast", "messages": "hi"}),
            error(
                400,
                "Invalid type for 'messages': expected an array, but got a string instead.",
                "invalid_request_error",
                json!("messages"),
                json!("invalid_type"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "robot", "content": "x"}]}),
            error(
                400,
                "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                "invalid_request_error",
                json!("messages[0].role"),
                json!("invalid_value"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": 7}]}),
            error(
                400,
                "Invalid type for 'messages[0].content': expected a string or an array of content parts, but got an integer instead.",
                "invalid_request_error",
                json!("messages[0].content"),
                json!("invalid_type"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            error(
                400,
                "Invalid type for 'stream': expected a boolean, but got a string instead.",
                "invalid_request_error",
                json!("stream"),
                json!("invalid_type"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "x"}], "bogus": 1, "other": 2}),
            error(
                400,
                "Unrecognized request arguments supplied: bogus, other",
                "invalid_request_error",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
            error(
                400,
                "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.",
                "invalid_request_error",
                json!("max_tokens"),
                json!("integer_below_min_value"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "x"}], "max_tokens": 60}),
            error(
                400,
                "max_tokens is too large: 60. This model supports at most 32 completion tokens, whereas you provided 60.",
                "invalid_request_error",
                json!("max_tokens"),
                json!("invalid_value"),
            ),
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twentyone twentytwo twentythree twentyfour twentyfive"}], "max_tokens": 30}),
            error(
                400,
                "This model's maximum context length is 64 tokens. However, your messages resulted in 86 tokens (56 in the messages, 30 in the completion). Please reduce the length of the messages or completion.",
                "invalid_request_error",
                json!("messages"),
                json!("context_length_exceeded"),
            ),
        ),
        (
            json!({"model": "no-stream", "messages": [{"role": "user", "content": "x"}], "stream": true}),
            error(
                400,
                "The model `no-stream` does not support streaming. Send the request without `stream: true`.",
                "invalid_request_error",
                json!("stream"),
                json!("unsupported_value"),
            ),
        ),
        (
            json!({"model": "embed", "messages": [{"role": "user", "content": "x"}]}),
            error(
                400,
                "The model `embed` is an embedding model and not supported in the v1/chat/completions endpoint. Chat models here: fast, no-stream.",
                "invalid_request_error",
                json!("model"),
                json!("model_not_supported"),
            ),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(gw.chat(body.clone()).await, expected, "request {body}");
    }
}

#[tokio::test]
async fn bad_bodies_get_openai_shaped_400_413_415() {
    let gw = TestGateway::with_toml("max_body_bytes = 200").await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let send = |content_type: &'static str, body: String| {
        let request = gw.client.post(url.clone()).header("content-type", content_type).body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, content_type, body)
        }
    };
    let (status, content_type, body) = send("application/json", "{not json".into()).await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("We could not parse the JSON body of your request.")
    );
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, _, body) = send("text/plain", "{}".into()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_content_type")));
    let (status, _, body) = send("application/json", format!("{{\"model\":\"{}\"}}", "x".repeat(500))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("request_too_large")));
    let (status, _, body) = send("application/json", "[1,2]".into()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_type")));
    for (method, path, expected) in [("DELETE", "/v1/models", 405), ("GET", "/v1/nothing", 404)] {
        let response = gw.client.request(method.parse().unwrap(), format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn completions_are_deterministic_and_usage_is_consistent() {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "tell me a tale"}], "max_tokens": 20});
    let (status, first) = gw.chat(body.clone()).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = gw.chat(body.clone()).await;
    assert_eq!(first["choices"], second["choices"]);
    assert_eq!(first["object"], "chat.completion");
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let content = first["choices"][0]["message"]["content"].as_str().unwrap();
    let words = content.split_whitespace().count() as u64;
    assert_eq!(first["usage"]["completion_tokens"].as_u64(), Some(words));
    // 3 priming + 4 framing + 4 words.
    assert_eq!(first["usage"]["prompt_tokens"], 11);
    assert_eq!(first["usage"]["total_tokens"].as_u64(), Some(11 + words));
    let finish = first["choices"][0]["finish_reason"].as_str().unwrap();
    assert_eq!(finish == "length", words == 20, "finish_reason {finish} with {words} words");
    let (_, other) =
        gw.chat(json!({"model": "fast", "messages": [{"role": "user", "content": "something else"}]})).await;
    assert_ne!(other["choices"][0]["message"]["content"], first["choices"][0]["message"]["content"]);

    let reseeded = TestGateway::with_config({
        let mut c = mocks::config::MocksConfig::from_toml(&format!("[gateway]\n{FAST_MODELS}"), "t").unwrap();
        c.seed = 7;
        c
    })
    .await;
    let (_, third) = reseeded.chat(body).await;
    assert_ne!(third["choices"], first["choices"], "another seed gives another answer");
}

#[tokio::test]
async fn embeddings_float_base64_and_errors() {
    use base64::Engine;
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let (status, _, floats) = gw.post("/v1/embeddings", &json!({"model": "embed", "input": ["a b", "c"]})).await;
    assert_eq!(status, 200, "{floats}");
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["data"].as_array().unwrap().len(), 2);
    assert_eq!(floats["data"][1]["index"], 1);
    let vector: Vec<f32> = serde_json::from_value(floats["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(vector.len(), 8);
    assert_eq!(floats["usage"]["prompt_tokens"], 3);
    let (_, _, again) = gw.post("/v1/embeddings", &json!({"model": "embed", "input": "a b"})).await;
    assert_eq!(again["data"][0]["embedding"], floats["data"][0]["embedding"], "same text, same vector");
    let (_, _, b64) =
        gw.post("/v1/embeddings", &json!({"model": "embed", "input": "a b", "encoding_format": "base64"})).await;
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(b64["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(decoded, vector);
    let (_, _, short) = gw.post("/v1/embeddings", &json!({"model": "embed", "input": "a b", "dimensions": 3})).await;
    assert_eq!(short["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let (status, _, body) = gw.post("/v1/embeddings", &json!({"model": "fast", "input": "x"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (400, Some("model_not_supported"), Some("model"))
    );
    let (status, _, body) = gw.post("/v1/embeddings", &json!({"model": "embed"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("missing_required_parameter")));
    let (status, _, body) = gw.post("/v1/embeddings", &json!({"model": "embed", "input": "w ".repeat(40)})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("context_length_exceeded")));
    let (status, _, body) = gw.post("/v1/embeddings", &json!({"model": "nope", "input": "x"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("model_not_found")));
}

#[tokio::test]
async fn unknown_model_policies_alias_and_accept_any() {
    let gw = TestGateway::with_toml(&format!(
        "unknown_model = \"alias\"\n[gateway.aliases]\n\"qwen2.5-14b-instruct\" = \"fast\"\n{FAST_MODELS}"
    ))
    .await;
    let (status, body) = gw.chat(chat_body("qwen2.5-14b-instruct")).await;
    assert_eq!((status, body["model"].as_str()), (200, Some("qwen2.5-14b-instruct")), "{body}");
    let (status, _) = gw.chat(chat_body("other-unknown")).await;
    assert_eq!(status, 404);

    let any = TestGateway::with_toml(&format!("unknown_model = \"accept-any\"\n{FAST_MODELS}")).await;
    let (status, body) = any.chat(chat_body("whatever-model")).await;
    assert_eq!((status, body["model"].as_str()), (200, Some("whatever-model")));
}

#[tokio::test]
async fn dialects_reshape_errors() {
    let vllm = TestGateway::with_toml("dialect = \"vllm\"").await;
    let (status, body) = vllm.chat(chat_body("qwen2.5-14b-instruct")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "NotFoundError");
    assert_eq!(body["error"]["code"], 404);
    let litellm = TestGateway::with_toml("dialect = \"litellm-200\"").await;
    let (status, body) = litellm.chat(chat_body("qwen2.5-14b-instruct")).await;
    assert_eq!(status, 200, "litellm-200 answers errors with HTTP 200");
    assert_eq!(body["error"]["code"], "model_not_found");
    // Injected faults follow the dialect too.
    litellm
        .add_rule(json!({"name": "boom", "match": {"path": "/v1/chat/completions"}, "error": {"status": 503}}))
        .await;
    let (status, body) = litellm.chat(chat_body("gpt-4o-mini")).await;
    assert_eq!((status, body["error"]["type"].as_str()), (200, Some("server_error")));
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers() {
    let gw = TestGateway::with_toml(
        r#"
[[gateway.models]]
id = "limited"
kind = "chat"
rate_limit = { requests_per_minute = 3 }

[[gateway.models]]
id = "narrow"
kind = "chat"
ttft_ms = 300
rate_limit = { concurrent = 2 }
"#,
    )
    .await;
    let (mut remaining, mut ids) = (Vec::new(), Vec::<String>::new());
    for _ in 0..3 {
        let (status, headers, _) = gw.post("/v1/chat/completions", &chat_body("limited")).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert!(
            headers.contains_key("x-ratelimit-reset-requests") && headers.contains_key("x-ratelimit-remaining-tokens")
        );
        let id = headers["x-request-id"].to_str().unwrap();
        assert!(id.len() == 28 && id.starts_with("req_") && !ids.contains(&id.to_owned()), "{id} after {ids:?}");
        ids.push(id.to_owned());
        assert!(headers["openai-processing-ms"].to_str().unwrap().parse::<u64>().is_ok());
        remaining.push(headers["x-ratelimit-remaining-requests"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let (status, headers, body) = gw.post("/v1/chat/completions", &chat_body("limited")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["type"].as_str()),
        (429, Some("rate_limit_exceeded"), Some("requests"))
    );
    // 3 a minute refill one every 20 s: the request fits again in about 20 s, which retry-after,
    // the message and the reset header all say; the 429 carries all six x-ratelimit-* headers.
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((19..=20).contains(&retry), "retry-after {retry}");
    let retry_ms: u64 = headers["retry-after-ms"].to_str().unwrap().parse().unwrap();
    assert!((19_000..=20_000).contains(&retry_ms), "retry-after-ms {retry_ms}");
    let message = body["error"]["message"].as_str().unwrap();
    let said: f64 = message.split("try again in ").nth(1).and_then(|t| t.strip_suffix("s.")).unwrap().parse().unwrap();
    assert!((19.0..=20.0).contains(&said) && (said * 1000.0 - retry_ms as f64).abs() <= 1.0, "{retry_ms} ms: {body}");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    assert_eq!(headers["x-ratelimit-limit-requests"], "3");
    let reset = headers["x-ratelimit-reset-requests"].to_str().unwrap();
    assert!(
        reset.ends_with('s') && !reset.ends_with("ms") && reset.starts_with('5'),
        "three to refill: ~59 s, {reset}"
    );
    assert!(headers.contains_key("x-ratelimit-remaining-tokens") && headers.contains_key("x-ratelimit-reset-tokens"));

    let narrow = chat_body("narrow");
    // No requests or tokens per minute set: the nominal headers never count down.
    for _ in 0..3 {
        let (status, headers, body) = gw.post("/v1/chat/completions", &narrow).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-ratelimit-limit-requests"], "10000");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "9999");
        let tokens = body["usage"]["prompt_tokens"].as_u64().unwrap() + narrow["max_tokens"].as_u64().unwrap_or(0);
        assert_eq!(headers["x-ratelimit-remaining-tokens"].to_str().unwrap(), (10_000_000 - tokens).to_string());
    }
    let calls = (0..5).map(|_| gw.post("/v1/chat/completions", &narrow));
    let statuses: Vec<u16> = futures::future::join_all(calls).await.into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3, "{statuses:?}");
}

#[tokio::test]
async fn models_change_at_run_time_and_reset_restores_them() {
    let gw = TestGateway::start().await;
    let (status, _) = gw.chat(chat_body("qwen2.5-14b-instruct")).await;
    assert_eq!(status, 404);
    let added = gw
        .client
        .post(format!("{}/__admin/models", gw.url))
        .json(&json!({"id": "qwen2.5-14b-instruct", "kind": "chat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let (status, _) = gw.chat(chat_body("qwen2.5-14b-instruct")).await;
    assert_eq!(status, 200);
    let (_, specs) = gw.get("/__admin/models").await;
    let (_, health) = gw.get("/health").await;
    assert_eq!(health["models_served"], specs["models"].as_array().unwrap().len(), "{health}");
    let bad = gw
        .client
        .post(format!("{}/__admin/models", gw.url))
        .json(&json!({"id": "e", "kind": "embedding"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("dimensions"), "{body}");
    let removed = gw.client.delete(format!("{}/__admin/models/gpt-4o-mini", gw.url)).send().await.unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    assert_eq!(gw.chat(chat_body("gpt-4o-mini")).await.0, 404);
    let reset = gw.client.post(format!("{}/__admin/reset", gw.url)).send().await.unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert_eq!(gw.chat(chat_body("gpt-4o-mini")).await.0, 200);
    assert_eq!(gw.chat(chat_body("qwen2.5-14b-instruct")).await.0, 404);
    let (_, counters) = gw.get("/__admin/counters").await;
    assert_eq!(counters["total_requests"], 2, "reset cleared the counters: {counters}");
}

#[tokio::test]
async fn the_journal_and_counters_name_requests_by_route_template_and_skip_admin_calls() {
    let gw = TestGateway::start().await;
    gw.get("/v1/models/gpt-4o-mini").await;
    gw.get("/v1/models/qwen2.5-14b-instruct").await;
    gw.get("/v1/nowhere").await;
    let metrics = gw.client.get(format!("{}/metrics", gw.url)).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    gw.chat(chat_body("gpt-4o-mini")).await;
    // Unknown admin paths and methods answer in the admin envelope and are not journaled either.
    let (status, body) = gw.get("/__admin/nope").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("/__admin/nope"), "{body}");
    let patch = gw.client.patch(format!("{}/__admin/faults", gw.url)).send().await.unwrap();
    assert_eq!(patch.status(), 405);
    let body: Value = patch.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let (_, journal) = gw.get("/__admin/journal").await;
    let seen: Vec<(&str, &str, u64)> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["route"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/v1/models/gpt-4o-mini", "/v1/models/{id}", 200),
            ("/v1/models/qwen2.5-14b-instruct", "/v1/models/{id}", 404),
            ("/v1/nowhere", "unmatched", 404),
            ("/metrics", "/metrics", 200),
            ("/v1/chat/completions", "/v1/chat/completions", 200),
        ]
    );
    let (_, counters) = gw.get("/__admin/counters").await;
    let model_rows: u64 = counters["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "/v1/models/{id}")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!((model_rows, counters["total_requests"].as_u64()), (2, Some(5)));
}

#[tokio::test]
async fn client_chosen_names_are_bounded_in_counters_journal_and_metrics() {
    let gw = TestGateway::start().await;
    let long = "m".repeat(20_000);
    for i in 0..1100 {
        let (status, body) = gw.chat(chat_body(&format!("{i}-{long}"))).await;
        assert_eq!(status, 404, "{body}");
    }
    let text = |path: &'static str| {
        let client = gw.client.clone();
        let url = format!("{}{path}", gw.url);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let counters = text("/__admin/counters").await;
    let journal = text("/__admin/journal?limit=100000").await;
    let metrics = text("/metrics").await;
    // 1,100 requests carried 22 MB of model names; what is kept does not grow with them.
    assert!(counters.len() < 400_000, "counters {} bytes", counters.len());
    assert!(journal.len() < 1_500_000, "journal {} bytes", journal.len());
    assert!(metrics.len() < 400_000, "metrics {} bytes", metrics.len());
    let counters: Value = serde_json::from_str(&counters).unwrap();
    let unknown = counters["events"]["unknown_model"].as_object().unwrap();
    assert_eq!(unknown.len(), 1001, "1,000 distinct names, then the rest together");
    assert_eq!(unknown["(other values)"], 100);
    assert!(unknown.keys().all(|k| k.len() <= 203), "names stored bounded");
    let entries: Value = serde_json::from_str(&journal).unwrap();
    let entry =
        entries["entries"].as_array().unwrap().iter().rev().find(|e| e["route"] == "/v1/chat/completions").unwrap();
    let attribute = entry["attribute"].as_str().unwrap_or("");
    assert!(attribute.len() <= 203 && attribute.ends_with('…'), "{attribute}");
    let (status, _) = gw.get("/health").await;
    assert_eq!(status, 200, "still serving");
}

#[tokio::test]
async fn an_embeddings_answer_too_large_to_build_is_refused_with_its_cause() {
    let gw = TestGateway::start().await;
    let inputs: Vec<String> = (0..2048).map(|i| format!("text {i}")).collect();
    let (status, _, body) =
        gw.post("/v1/embeddings", &json!({"model": "text-embedding-3-small", "input": inputs})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "answer_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 16 MB"), "{body}");
    let (status, _, _) = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": inputs, "encoding_format": "base64", "dimensions": 512}),
        )
        .await;
    assert_eq!(status, 200, "base64 and fewer dimensions bring the same inputs under the limit");
}

#[tokio::test]
async fn configured_api_keys_are_required_with_openais_401s() {
    let gw = TestGateway::with_toml("api_keys = [\"sk-test-1234567890\"]").await;
    let send = |key: Option<&str>| {
        let mut request = gw.client.post(format!("{}/v1/chat/completions", gw.url)).json(&chat_body("gpt-4o-mini"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let missing = send(None).await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"), "{body}");
    assert_eq!(body["error"]["code"], Value::Null);
    let wrong = send(Some("sk-wrong-0000000000")).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(body["error"]["message"].as_str().unwrap().contains("sk-************0000"), "{body}");
    assert_eq!(send(Some("sk-test-1234567890")).await.unwrap().status(), 200);
    let health = gw.client.get(format!("{}/health", gw.url)).send().await.unwrap();
    assert_eq!(health.status(), 200, "health needs no key");
    let models = gw.client.get(format!("{}/v1/models", gw.url)).send().await.unwrap();
    assert_eq!(models.status(), 401, "every /v1 route does");

    let open = TestGateway::start().await;
    open.add_rule(json!({"name": "auth", "match": {"path": "/v1/chat/completions"}, "error": {"status": 401}})).await;
    let (status, body) = open.chat(chat_body("gpt-4o-mini")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")), "{body}");
}

/// A legacy choice's `logprobs` spell its text: tokens concatenated, offsets at each token's
/// first character, `top` alternatives per place with the chosen token among them.
fn assert_legacy_logprobs(text: &str, logprobs: &Value, top: usize) {
    let tokens: Vec<&str> = logprobs["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tokens.concat(), text, "{logprobs}");
    let mut offset = 0;
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(logprobs["text_offset"][i].as_u64(), Some(offset), "{logprobs}");
        offset += token.chars().count() as u64;
        let chosen = logprobs["token_logprobs"][i].as_f64().unwrap();
        assert!(chosen <= 0.0);
        let places = logprobs["top_logprobs"][i].as_object().unwrap();
        assert_eq!(places.len(), top, "{logprobs}");
        if top > 0 {
            assert_eq!(places.get(*token).and_then(Value::as_f64), Some(chosen), "{logprobs}");
        }
    }
}

#[tokio::test]
async fn legacy_completions_carry_logprobs_consistent_with_their_text_whole_and_streamed() {
    let gw = TestGateway::start().await;
    let body =
        json!({"model": "gpt-4o-mini", "prompt": "Once upon", "max_tokens": 6, "n": 2, "logprobs": 3, "echo": true});
    let (status, _, whole) = gw.post("/v1/completions", &body).await;
    assert_eq!(status, 200, "{whole}");
    for choice in whole["choices"].as_array().unwrap() {
        let text = choice["text"].as_str().unwrap();
        assert!(text.starts_with("Once upon"));
        assert_legacy_logprobs(text, &choice["logprobs"], 3);
    }
    let (_, _, plain) = gw.post("/v1/completions", &json!({"model": "gpt-4o-mini", "prompt": "x"})).await;
    assert!(plain["choices"][0]["logprobs"].is_null(), "null unless asked for: {plain}");
    let (_, _, zero) = gw.post("/v1/completions", &json!({"model": "gpt-4o-mini", "prompt": "x", "logprobs": 0})).await;
    assert_legacy_logprobs(zero["choices"][0]["text"].as_str().unwrap(), &zero["choices"][0]["logprobs"], 0);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = gw.client.post(format!("{}/v1/completions", gw.url)).json(&streamed).send().await.unwrap();
    let text = text.text().await.unwrap();
    let mut spelled = [String::new(), String::new()];
    for frame in text.split("\n\n").filter_map(|f| f.strip_prefix("data: ")).filter(|f| *f != "[DONE]") {
        let frame: Value = serde_json::from_str(frame).unwrap();
        for c in frame["choices"].as_array().unwrap() {
            let (index, piece) = (c["index"].as_u64().unwrap() as usize, c["text"].as_str().unwrap());
            if piece.is_empty() {
                continue;
            }
            let logprobs = &c["logprobs"];
            assert_eq!(logprobs["tokens"][0].as_str(), Some(piece), "one token per chunk: {c}");
            assert_eq!(logprobs["text_offset"][0].as_u64(), Some(spelled[index].chars().count() as u64), "{c}");
            spelled[index].push_str(piece);
        }
    }
    let wholes: Vec<&str> = whole["choices"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(spelled.to_vec(), wholes, "the stream spells the same answers");
}

#[tokio::test]
async fn legacy_completions_answer_text_whole_and_streamed() {
    let gw = TestGateway::start().await;
    let body = json!({"model": "gpt-4o-mini", "prompt": "Once upon a time", "max_tokens": 8, "n": 2});
    let (status, _, whole) = gw.post("/v1/completions", &body).await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["object"], "text_completion");
    assert!(whole["id"].as_str().unwrap().starts_with("cmpl-"));
    let choices = whole["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    for c in choices {
        let words = c["text"].as_str().unwrap().split_whitespace().count();
        assert!((1..=8).contains(&words), "{c}");
        assert!(["stop", "length"].contains(&c["finish_reason"].as_str().unwrap()));
    }
    let completion_tokens = whole["usage"]["completion_tokens"].as_u64().unwrap();
    let words: u64 = choices.iter().map(|c| c["text"].as_str().unwrap().split_whitespace().count() as u64).sum();
    assert_eq!(completion_tokens, words, "usage counts the generated words");

    let mut echoed = body.clone();
    echoed["echo"] = json!(true);
    let (_, _, echo) = gw.post("/v1/completions", &echoed).await;
    assert!(echo["choices"][0]["text"].as_str().unwrap().starts_with("Once upon a time"), "{echo}");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let text = gw.client.post(format!("{}/v1/completions", gw.url)).json(&streamed).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let mut pieces = [String::new(), String::new()];
    let mut usage = None;
    for frame in text.split("\n\n").filter_map(|f| f.strip_prefix("data: ")).filter(|f| *f != "[DONE]") {
        let frame: Value = serde_json::from_str(frame).unwrap();
        assert_eq!(frame["object"], "text_completion");
        usage = usage.or(frame.get("usage").cloned());
        for c in frame["choices"].as_array().unwrap() {
            pieces[c["index"].as_u64().unwrap() as usize].push_str(c["text"].as_str().unwrap());
        }
    }
    let whole_texts: Vec<&str> = choices.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(pieces.to_vec(), whole_texts, "the stream spells the whole answer");
    assert_eq!(usage.unwrap()["completion_tokens"], completion_tokens);

    let (status, _, missing) = gw.post("/v1/completions", &json!({"model": "gpt-4o-mini"})).await;
    assert_eq!((status, missing["error"]["param"].as_str()), (400, Some("prompt")));
    let (status, _, wrong) =
        gw.post("/v1/completions", &json!({"model": "gpt-4o-mini", "prompt": "x", "logprobs": 6})).await;
    assert_eq!((status, wrong["error"]["param"].as_str()), (400, Some("logprobs")), "{wrong}");
    let (status, _, unknown) =
        gw.post("/v1/completions", &json!({"model": "qwen2.5-14b-instruct", "prompt": "x"})).await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (404, Some("model_not_found")));
}
