//! The admin API and fault rules under hostile input, through real HTTP: cross-origin and
//! rebinding requests refused, bodies JSON and bounded, an optional token, an optional address of
//! its own; every fault number bounded; rules capped; deleting a rule releases the requests it
//! holds; a panicking handler answers in the service's shape and is still journaled.

use std::time::{Duration, Instant};

use mocks::config::MocksConfig;
use mocks::stack::{ServiceKind, Stack};
use serde_json::{Value, json};

async fn stack(toml: &str) -> (Stack, String) {
    let config = MocksConfig::from_toml(toml, "test.toml").unwrap();
    let stack = Stack::start(&config, &[(ServiceKind::Gateway, "127.0.0.1:0".parse().unwrap())]).await.unwrap();
    let url = stack.service(ServiceKind::Gateway).unwrap().url();
    (stack, url)
}

fn rule(name: &str) -> Value {
    json!({"name": name, "match": {"path": "/health"}, "error": {"status": 503}})
}

#[tokio::test]
async fn browser_and_rebinding_requests_are_refused_and_bodies_are_json_and_bounded() {
    let (_stack, url) = stack("").await;
    let client = reqwest::Client::new();
    let faults = format!("{url}/__admin/faults");
    // A CORS "simple" request: text/plain, no preflight.
    let simple =
        client.post(&faults).header("content-type", "text/plain").body(rule("x").to_string()).send().await.unwrap();
    assert_eq!(simple.status(), 415);
    let body: Value = simple.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let cross = client.post(&faults).header("origin", "https://evil.example").json(&rule("x")).send().await.unwrap();
    assert_eq!(cross.status(), 403);
    let rebound = client.get(&faults).header("host", "attacker.example:8000").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    assert_eq!(rebound.json::<Value>().await.unwrap()["error"]["code"], "host_not_allowed");
    let reset =
        client.post(format!("{url}/__admin/reset")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(reset.status(), 403, "a body-less cross-origin POST is refused too");
    let local = client.post(&faults).header("origin", "http://localhost:3000").json(&rule("ok")).send().await.unwrap();
    assert_eq!(local.status(), 201);
    let huge = json!({"name": "big", "match": {"path": format!("/{}", "a".repeat(2 << 20))}, "error": {"status": 503}});
    let too_large = client.post(&faults).json(&huge).send().await.unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(too_large.json::<Value>().await.unwrap()["error"]["code"], "request_too_large");
    let (status, _) = (client.get(format!("{url}/health")).send().await.unwrap().status(), ());
    assert_eq!(status, 503, "the one accepted rule is in force");
}

#[tokio::test]
async fn a_configured_token_is_required_and_the_admin_api_can_have_its_own_address() {
    let config = MocksConfig::from_toml("[admin]\ntoken = \"s3cret\"\n", "t.toml").unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let stack =
        Stack::start_with_admin(&config, &[(ServiceKind::Gateway, any)], &[(ServiceKind::Gateway, any)]).await.unwrap();
    let gateway = stack.service(ServiceKind::Gateway).unwrap();
    let (api, admin) = (gateway.url(), format!("http://{}", gateway.admin_addr.unwrap()));
    let client = reqwest::Client::new();
    let moved = client.get(format!("{api}/__admin/faults")).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(moved.status(), 404);
    let message = moved.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&admin), "{message}");
    let refused = client.post(format!("{admin}/__admin/faults")).json(&rule("x")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "invalid_admin_token");
    let accepted =
        client.post(format!("{admin}/__admin/faults")).bearer_auth("s3cret").json(&rule("x")).send().await.unwrap();
    assert_eq!(accepted.status(), 201);
    let other = client
        .post(format!("{admin}/__admin/faults"))
        .header("x-admin-token", "s3cret")
        .json(&rule("y"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
    assert_eq!(client.get(format!("{api}/health")).send().await.unwrap().status(), 503, "the API side serves");
    assert_eq!(client.get(format!("{admin}/health")).send().await.unwrap().status(), 404, "the admin side does not");
    stack.shutdown().await;
}

#[tokio::test]
async fn every_fault_number_is_bounded_and_rules_are_capped() {
    let (_stack, url) = stack("").await;
    let client = reqwest::Client::new();
    let faults = format!("{url}/__admin/faults");
    for (field, latency) in [
        ("latency.ms", json!({"kind": "fixed", "ms": 1e300})),
        ("latency.max_ms", json!({"kind": "uniform", "min_ms": 0, "max_ms": 1e300})),
        ("latency.stddev_ms", json!({"kind": "normal", "mean_ms": 1, "stddev_ms": 1e300})),
        ("latency.sigma", json!({"kind": "lognormal", "median_ms": 10, "sigma": 1000})),
        ("latency.base_ms", json!({"kind": "contention", "base_ms": 1e300, "per_concurrent_ms": 1})),
        ("latency.ms", json!({"kind": "fixed", "ms": 1.5e22})),
    ] {
        let response = client
            .post(&faults)
            .json(&json!({"name": "huge", "match": {"path": "/health"}, "latency": latency}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{field}");
        let message = response.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{field}: {message}");
    }
    let hang = json!({"name": "forever", "transport": {"kind": "hang", "max_ms": 100_000_000_000u64}});
    assert_eq!(client.post(&faults).json(&hang).send().await.unwrap().status(), 400);
    // Two rules at the maximum each: their sum saturates instead of panicking.
    let slow = |n: &str| json!({"name": n, "match": {"path": "/health"}, "window": {"after_seconds": 3600}, "latency": {"kind": "fixed", "ms": 3_600_000}});
    assert_eq!(client.post(&faults).json(&slow("a")).send().await.unwrap().status(), 201);
    assert_eq!(client.post(&faults).json(&slow("b")).send().await.unwrap().status(), 201);
    let many: Vec<Value> = (0..1001).map(|i| rule(&format!("r{i}"))).collect();
    let refused = client.put(&faults).json(&many).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("1001 rules is more than the 1000"), "{message}");
    let allowed: Vec<Value> = (0..1000).map(|i| rule(&format!("r{i}"))).collect();
    assert_eq!(client.put(&faults).json(&allowed).send().await.unwrap().status(), 200);
    assert_eq!(client.post(&faults).json(&rule("one-more")).send().await.unwrap().status(), 400);
    assert_eq!(client.get(format!("{url}/health")).send().await.unwrap().status(), 503, "still serving");
}

#[tokio::test]
async fn deleting_a_rule_releases_the_requests_it_holds() {
    let (_stack, url) = stack("").await;
    let client = reqwest::Client::new();
    let hold = json!({"name": "hold", "match": {"path": "/health"}, "latency": {"kind": "fixed", "ms": 60_000}});
    assert_eq!(client.post(format!("{url}/__admin/faults")).json(&hold).send().await.unwrap().status(), 201);
    let held: Vec<_> = (0..50).map(|_| tokio::spawn(client.get(format!("{url}/health")).send())).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deleted = Instant::now();
    assert_eq!(client.delete(format!("{url}/__admin/faults/hold")).send().await.unwrap().status(), 204);
    for request in held {
        let response =
            tokio::time::timeout(Duration::from_secs(10), request).await.expect("released").unwrap().unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(deleted.elapsed() < Duration::from_secs(10));
}

/// A protocol whose errors have a shape of their own, to see that a panic answers in it.
struct OwnShape;

impl mocks::faults::ServiceProtocol for OwnShape {
    fn attribute(&self, _parts: &http::request::Parts, _body: &[u8]) -> Option<String> {
        None
    }

    fn injected_error(&self, error: &mocks::faults::ErrorSpec, _body: &[u8]) -> axum::response::Response {
        let body = json!({"own": {"status": error.status, "code": error.code, "message": error.message}});
        let status = http::StatusCode::from_u16(error.status).unwrap();
        axum::response::IntoResponse::into_response((status, axum::Json(body)))
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_in_the_service_shape_and_is_journaled_and_counted() {
    use std::sync::Arc;
    use tower::ServiceExt;
    let engine = Arc::new(mocks::faults::FaultEngine::new(Vec::new(), 1).unwrap());
    let telemetry = Arc::new(mocks::telemetry::Telemetry::new("test", 100));
    let api = mocks::service::ApiRoutes::new().route(
        "/boom",
        axum::routing::get(|| async {
            if true {
                panic!("handler bug");
            }
            "unreachable"
        }),
    );
    let parts = mocks::service::ServiceParts {
        engine,
        telemetry: telemetry.clone(),
        protocol: Arc::new(OwnShape),
        on_reset: Arc::new(|| {}),
    };
    let service = mocks::service::assemble(api, parts, &MocksConfig::default().gateway.common, None);
    for _ in 0..3 {
        let request = http::Request::get("/boom").body(axum::body::Body::empty()).unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["own"]["code"], "internal_error", "{body}");
        assert!(body["own"]["message"].as_str().unwrap().contains("handler bug"));
    }
    let counters = telemetry.counters();
    assert_eq!(counters.total_requests, 3, "every panicking request is counted");
    assert_eq!(counters.genuine_errors, 3, "as a genuine error, not an injected one");
    assert_eq!(telemetry.journal(10).len(), 3);
}
