//! The shared fault engine seen from clients: every transport fault on a real socket, injected
//! errors in the native shape, rule selection (probability, first, every, windows, attribute),
//! latency distributions checked statistically, header faults, and admin changes under load.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{FAST_MODELS, TestGateway, chat_body};
use axum::body::Body;
use mocks::config::MocksConfig;
use mocks::gateway::{Gateway, router};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Sends a raw HTTP/1.1 request and reads until EOF or error: (bytes read, how the read ended).
fn raw_exchange(url: &str, request: &str, read_timeout: Duration) -> (Vec<u8>, Result<(), ErrorKind>) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) => return (received, Err(e.kind())),
        }
    }
}

/// `raw_exchange` of a GET, off the async runtime.
async fn raw_get(url: &str, path: &str, read_timeout: Duration) -> (Vec<u8>, Result<(), ErrorKind>) {
    let (url, request) = (url.to_owned(), get_request(path));
    tokio::task::spawn_blocking(move || raw_exchange(&url, &request, read_timeout)).await.unwrap()
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
}

async fn gateway_with_rule(rule: Value) -> TestGateway {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    gw.add_rule(rule).await;
    gw
}

#[tokio::test]
async fn reset_is_seen_as_a_connection_reset() {
    let gw = gateway_with_rule(json!({"name": "rst", "match": {"path": "/v1/models"}, "transport": {"kind": "reset"}}))
        .await;
    let (bytes, end) = raw_get(&gw.url, "/v1/models", Duration::from_secs(5)).await;
    assert!(bytes.is_empty(), "nothing is answered");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    let (_, journal) = gw.get("/__admin/journal?limit=5").await;
    let entry = journal["entries"].as_array().unwrap().iter().find(|e| e["path"] == "/v1/models").unwrap().clone();
    assert_eq!((entry["status"].as_u64(), entry["injected"].as_bool()), (Some(0), Some(true)));
}

#[tokio::test]
async fn close_is_seen_as_eof_without_a_response() {
    let gw = gateway_with_rule(json!({"name": "fin", "match": {"path": "/v1/models"}, "transport": {"kind": "close"}}))
        .await;
    let (bytes, end) = raw_get(&gw.url, "/v1/models", Duration::from_secs(5)).await;
    assert_eq!((bytes.len(), end), (0, Ok(())));
    // Other routes are untouched.
    assert_eq!(gw.get("/health").await.0, 200);
}

#[tokio::test]
async fn hang_outlasts_the_client_and_is_bounded() {
    let gw = gateway_with_rule(
        json!({"name": "hang", "match": {"path": "/health"}, "transport": {"kind": "hang", "max_ms": 600}}),
    )
    .await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let error = client.get(format!("{}/health", gw.url)).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // A patient client sees the server give up after the bound: EOF, no answer.
    let (bytes, end) = raw_get(&gw.url, "/health", Duration::from_secs(10)).await;
    assert_eq!((bytes.len(), end), (0, Ok(())));
}

#[tokio::test]
async fn truncate_sends_headers_then_part_of_the_body() {
    let gw = gateway_with_rule(
        json!({"name": "cut", "match": {"path": "/v1/models"}, "transport": {"kind": "truncate", "after_bytes": 40}}),
    )
    .await;
    let (bytes, _) = raw_get(&gw.url, "/v1/models", Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&bytes).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers arrive");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("content-length announced");
    assert_eq!(body.len(), 40);
    assert!(length > 40, "announced {length}, sent {}", body.len());
    let error = gw.client.get(format!("{}/v1/models", gw.url)).send().await.unwrap().text().await;
    assert!(error.is_err(), "an HTTP client reports the incomplete body");
}

#[tokio::test]
async fn dribble_delivers_the_whole_body_slowly() {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let (_, whole) = gw.get("/v1/models").await;
    gw.add_rule(json!({"name": "drip", "match": {"path": "/v1/models"}, "transport": {"kind": "dribble", "chunk_bytes": 32, "interval_ms": 20}})).await;
    let started = std::time::Instant::now();
    let (status, dribbled) = gw.get("/v1/models").await;
    let elapsed = started.elapsed();
    assert_eq!((status, &dribbled), (200, &whole));
    let pieces = whole.to_string().len().div_ceil(32) as u32;
    assert!(elapsed >= Duration::from_millis(20) * (pieces - 1), "{pieces} pieces in {elapsed:?}");
}

#[tokio::test]
async fn injected_errors_use_the_native_shape_and_are_told_apart() {
    let gw = gateway_with_rule(json!({
        "name": "overload",
        "match": {"method": "POST", "path": "/v1/chat/completions"},
        "error": {"status": 503, "retry_after": 2.5}
    }))
    .await;
    let (status, headers, body) = gw.post("/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error", "param": null, "code": null}})
    );
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(headers["retry-after-ms"], "2500");
    // A genuine error on the same route stays genuine.
    gw.client.delete(format!("{}/__admin/faults/overload", gw.url)).send().await.unwrap();
    assert_eq!(gw.chat(chat_body("qwen2.5-14b-instruct")).await.0, 404);
    let (_, counters) = gw.get("/__admin/counters").await;
    assert_eq!((counters["injected_faults"].as_u64(), counters["genuine_errors"].as_u64()), (Some(1), Some(1)));
    let metrics = gw.client.get(format!("{}/metrics", gw.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"route="/v1/chat/completions",status="503",injected="true"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"route="/v1/chat/completions",status="404",injected="false"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"mock_injected_faults_total{service="gateway",rule="overload"} 1"#), "{metrics}");
}

#[tokio::test]
async fn selection_first_every_probability_window_and_attribute() {
    let gw =
        TestGateway::with_toml(&format!("{FAST_MODELS}\n[[gateway.models]]\nid = \"other\"\nkind = \"chat\"\n")).await;
    let statuses = |n: usize, model: &'static str| {
        let gw = &gw;
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(gw.chat(chat_body(model)).await.0);
            }
            out
        }
    };
    let rule = |name: &str, extra: Value| {
        let mut rule = json!({"name": name, "match": {"path": "/v1/chat/completions"}, "error": {"status": 500}});
        rule.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        rule
    };
    let put = |rules: Value| {
        let request = gw.client.put(format!("{}/__admin/faults", gw.url)).json(&rules);
        async move { assert_eq!(request.send().await.unwrap().status().as_u16(), 200) }
    };
    put(json!([rule("first", json!({"first": 2}))])).await;
    assert_eq!(statuses(4, "fast").await, [500, 500, 200, 200]);
    put(json!([rule("every", json!({"every": 3}))])).await;
    assert_eq!(statuses(6, "fast").await, [200, 200, 500, 200, 200, 500]);
    put(json!([rule("window", json!({"window": {"after_requests": 2, "until_requests": 4}}))])).await;
    assert_eq!(statuses(5, "fast").await, [200, 200, 500, 500, 200]);
    put(json!([rule("by-model", json!({"match": {"path": "/v1/chat/completions", "attribute": "other"}}))])).await;
    assert_eq!(statuses(2, "fast").await, [200, 200]);
    assert_eq!(statuses(2, "other").await, [500, 500]);
    put(json!([rule("later", json!({"window": {"after_seconds": 60}}))])).await;
    assert_eq!(statuses(2, "fast").await, [200, 200], "not active before its start time");
    let (_, rules) = gw.get("/__admin/faults").await;
    assert_eq!((rules["rules"][0]["matched"].as_u64(), rules["rules"][0]["fired"].as_u64()), (Some(2), Some(0)));
}

/// Runs `n` requests through the router in paused time and returns each one's virtual latency in ms.
async fn latency_samples(rule: Value, n: usize) -> Vec<f64> {
    let gateway = Gateway::new(MocksConfig::default().gateway, 3).unwrap();
    gateway.engine.upsert(serde_json::from_value(rule).unwrap()).unwrap();
    let app = router(gateway);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = tokio::time::Instant::now();
        let response = app.clone().oneshot(http::Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    samples
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn within(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((actual - expected).abs() <= expected * tolerance, "{what}: {actual:.2} vs expected {expected:.2}");
}

#[tokio::test(start_paused = true)]
async fn latency_distributions_have_the_configured_shape() {
    let n = 2000;
    let fixed = latency_samples(json!({"name": "f", "latency": {"kind": "fixed", "ms": 50}}), n).await;
    within(quantile(&fixed, 0.0), 50.0, 0.01, "fixed min");
    within(quantile(&fixed, 1.0), 50.0, 0.01, "fixed max");

    let uniform =
        latency_samples(json!({"name": "u", "latency": {"kind": "uniform", "min_ms": 100, "max_ms": 300}}), n).await;
    within(quantile(&uniform, 0.5), 200.0, 0.05, "uniform median");
    within(quantile(&uniform, 0.9), 280.0, 0.03, "uniform p90");
    assert!(uniform[0] >= 100.0 && uniform[n - 1] <= 300.5);

    let normal =
        latency_samples(json!({"name": "n", "latency": {"kind": "normal", "mean_ms": 200, "stddev_ms": 20}}), n).await;
    within(quantile(&normal, 0.5), 200.0, 0.02, "normal median");
    within(quantile(&normal, 0.95), 200.0 + 1.645 * 20.0, 0.03, "normal p95");

    // Log-normal: median m, p95 = m * exp(1.645 sigma).
    let lognormal =
        latency_samples(json!({"name": "l", "latency": {"kind": "lognormal", "median_ms": 100, "sigma": 0.5}}), n)
            .await;
    within(quantile(&lognormal, 0.5), 100.0, 0.06, "lognormal median");
    within(quantile(&lognormal, 0.95), 100.0 * (1.645f64 * 0.5).exp(), 0.10, "lognormal p95");
}

#[tokio::test(start_paused = true)]
async fn probability_fires_at_the_configured_rate() {
    let gateway = Gateway::new(MocksConfig::default().gateway, 9).unwrap();
    let rule = json!({"name": "p", "probability": 0.3, "match": {"path": "/health"}, "error": {"status": 500}});
    gateway.engine.upsert(serde_json::from_value(rule).unwrap()).unwrap();
    let app = router(gateway);
    let mut errors = 0;
    for _ in 0..2000 {
        let response = app.clone().oneshot(http::Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
        errors += usize::from(response.status() == 500);
    }
    // 0.3 +- 4.5 standard deviations of a binomial(2000, 0.3).
    assert!((508..=692).contains(&errors), "{errors} of 2000");
}

#[tokio::test]
async fn header_faults_only_when_enabled() {
    let off = TestGateway::with_toml(FAST_MODELS).await;
    let response =
        off.client.get(format!("{}/health", off.url)).header("x-mock-fault-status", "502").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "ignored unless allow_header_faults");
    let on = TestGateway::with_toml(&format!("allow_header_faults = true\n{FAST_MODELS}")).await;
    let response = on
        .client
        .post(format!("{}/v1/chat/completions", on.url))
        .header("x-mock-fault-status", "429")
        .header("x-mock-fault-code", "rate_limit_exceeded")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    // An injected 429 always says when to come back, and its message names the same delay.
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["retry-after-ms"], "1000");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("try again in 1s"), "{body}");
    let started = std::time::Instant::now();
    let response =
        on.client.get(format!("{}/health", on.url)).header("x-mock-fault-latency-ms", "150").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let (_, journal) = on.get("/__admin/journal?limit=1").await;
    assert_eq!(journal["entries"][0]["faults"], json!(["header"]));
}

#[tokio::test]
async fn admin_changes_under_load_cause_no_errors() {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (client, url, stop) = (gw.client.clone(), gw.url.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            // Bounded: at most 400 requests per worker, and only while the admin loop runs.
            for _ in 0..400 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let response = client.post(format!("{url}/v1/chat/completions")).json(&chat_body("fast")).send().await;
                statuses.push(response.map(|r| r.status().as_u16()).unwrap_or(0));
            }
            statuses
        }));
    }
    for i in 0..40 {
        let rule = json!({"name": format!("r{}", i % 5), "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": 1}});
        gw.add_rule(rule).await;
        if i % 7 == 0 {
            gw.client.delete(format!("{}/__admin/faults", gw.url)).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for worker in workers {
        let statuses = worker.await.unwrap();
        total += statuses.len();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert!(total > 40, "load ran: {total} requests");
    let (_, counters) = gw.get("/__admin/counters").await;
    assert!(counters["faults"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>() > 0);
}

#[tokio::test]
async fn invalid_rules_are_refused_with_the_field() {
    let gw = TestGateway::start().await;
    for (rule, needle) in [
        (json!({"name": "x", "probability": 2.0, "error": {"status": 500}}), "probability"),
        (json!({"name": "x", "error": {"status": 200}}), "error.status"),
        (json!({"name": "x"}), "does nothing"),
        (json!({"name": "x", "latency": {"kind": "lognormal", "median_ms": 0, "sigma": 1}}), "latency.median_ms"),
        (json!({"name": "x", "error": {"status": 500}, "bogus": 1}), "unknown field"),
    ] {
        let response = gw.client.post(format!("{}/__admin/faults", gw.url)).json(&rule).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let response = gw.client.delete(format!("{}/__admin/faults/none", gw.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

/// Which of `n` health checks an installed rule fails, as a pattern.
async fn firing_pattern(gw: &TestGateway, rule: Value, n: usize) -> Vec<bool> {
    let client = reqwest::Client::new();
    let status = client.put(format!("{}/__admin/faults", gw.url)).json(&json!([rule])).send().await.unwrap().status();
    assert_eq!(status, 200);
    let mut pattern = Vec::with_capacity(n);
    for _ in 0..n {
        pattern.push(gw.get("/health").await.0 == 503);
    }
    pattern
}

#[tokio::test]
async fn a_rule_seed_chooses_which_requests_fire_so_runs_can_differ_and_still_replay() {
    let gw = TestGateway::with_toml(FAST_MODELS).await;
    let rule = |seed: Option<u64>| {
        let mut r =
            json!({"name": "flaky", "probability": 0.2, "match": {"path": "/health"}, "error": {"status": 503}});
        if let Some(seed) = seed {
            r["seed"] = json!(seed);
        }
        r
    };
    let unseeded = firing_pattern(&gw, rule(None), 200).await;
    assert_eq!(firing_pattern(&gw, rule(None), 200).await, unseeded, "without a seed a reinstalled rule replays");
    let one = firing_pattern(&gw, rule(Some(1)), 200).await;
    let two = firing_pattern(&gw, rule(Some(2)), 200).await;
    assert_ne!(one, two, "another seed fires on other requests");
    assert_eq!(firing_pattern(&gw, rule(Some(1)), 200).await, one, "the same seed replays exactly");
    for pattern in [&one, &two] {
        let fired = pattern.iter().filter(|f| **f).count();
        assert!((15..=65).contains(&fired), "about 20% of 200 fire: {fired}");
    }
}

#[tokio::test]
async fn client_aborts_are_their_own_outcome_and_malformed_chunks_are_400() {
    let gw = gateway_with_rule(
        json!({"name": "slow", "match": {"path": "/health"}, "latency": {"kind": "fixed", "ms": 400}}),
    )
    .await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let (a, b, c) = (addr.clone(), addr.clone(), addr.clone());
    tokio::task::spawn_blocking(move || {
        // Reset mid-body: half a body, then RST.
        let mut mid_body = TcpStream::connect(&a).unwrap();
        mid_body
            .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"model\":")
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        socket2::SockRef::from(&mid_body).set_linger(Some(Duration::ZERO)).unwrap();
        drop(mid_body);
        // The whole request, then gone before the (delayed) answer.
        let mut before_answer = TcpStream::connect(&b).unwrap();
        before_answer.write_all(get_request("/health").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        socket2::SockRef::from(&before_answer).set_linger(Some(Duration::ZERO)).unwrap();
        drop(before_answer);
        // A malformed chunked body.
        let (bytes, _) = raw_exchange(
            &format!("http://{c}"),
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            Duration::from_secs(3),
        );
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let counters = gw.gateway().telemetry.counters();
    // Reset mid-body: the request is a client abort (499), not a 413.
    assert_eq!(counters.client_aborts, 1, "{:?}", counters.requests);
    assert!(counters.requests.iter().all(|r| r.key.status != 413), "{:?}", counters.requests);
    let journal = gw.gateway().telemetry.journal(100);
    let aborted: Vec<_> = journal.iter().filter(|e| e.status == 499).collect();
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].error_code.as_deref(), Some("client_aborted"));
    // Reset after the request: the service answers (half-closing clients must get their answer),
    // and every answer that could not be written is counted: that one and the 499.
    assert_eq!(counters.events["answer_not_delivered"]["client_gone"], 2, "{:?}", counters.events);
}
