//! Property tests: no request body, however malformed, makes a mock panic or answer with anything
//! but its own shape: OpenAI's for the gateway, the RAG envelope, JSON-RPC for MCP.

use axum::body::Body;
use mocks::config::MocksConfig;
use mocks::gateway::{Gateway, router};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![Just("fast".to_owned()), Just("user".to_owned()), Just("embed".to_owned()), ".{0,12}"]
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_owned()),
                    Just("messages".to_owned()),
                    Just("role".to_owned()),
                    Just("content".to_owned()),
                    Just("input".to_owned()),
                    Just("stream".to_owned()),
                    Just("max_tokens".to_owned()),
                    Just("n".to_owned()),
                    Just("dimensions".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| {
            // A well-formed chat request with a random part swapped in.
            serde_json::json!({"model": "fast", "messages": [{"role": "user", "content": v}], "max_tokens": 4})
                .to_string()
                .into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn any_body_gets_an_openai_shaped_answer(body in body_strategy(), path in prop_oneof![Just("/v1/chat/completions"), Just("/v1/embeddings")]) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = MocksConfig::from_toml(
            "[gateway]\n[[gateway.models]]\nid = \"fast\"\nkind = \"chat\"\ncontext_window = 64\n[[gateway.models]]\nid = \"embed\"\nkind = \"embedding\"\ndimensions = 4\n",
            "t",
        ).unwrap();
        let app = router(Gateway::new(config.gateway, 1).unwrap());
        let (status, text) = runtime.block_on(async move {
            let request = http::Request::post(path).header("content-type", "application/json").body(Body::from(body)).unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        });
        prop_assert!(status < 500, "status {} for {}", status, text);
        let value: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        if status >= 400 {
            prop_assert!(value["error"]["message"].is_string() && value["error"]["type"].is_string(), "{}", text);
        } else {
            prop_assert!(value["object"].is_string(), "{}", text);
        }
    }
}

fn answer(
    app: mocks::service::MockService,
    path: &'static str,
    body: Vec<u8>,
    headers: &[(&'static str, &'static str)],
) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let mut request = http::Request::post(path).header("content-type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = app.oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn rag_answers_any_body_in_its_error_shape(body in body_strategy(), path in prop_oneof![Just("/v1/index"), Just("/v1/query")]) {
        let config = MocksConfig::from_toml("[rag]\n", "t").unwrap();
        let app = mocks::rag::router(mocks::rag::Rag::new(config.rag, 1).unwrap());
        let (status, text) = answer(app, path, body, &[]);
        prop_assert!(status < 500 || status == 507, "status {} for {}", status, text);
        let value: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        if status >= 400 {
            prop_assert!(value["error"]["type"].is_string() && value["error"]["message"].is_string(), "{}", text);
        }
    }

    #[test]
    fn mcp_answers_any_body_with_json_rpc(body in body_strategy()) {
        let config = MocksConfig::from_toml("[mcp]\n", "t").unwrap();
        let app = mocks::mcp::router(mocks::mcp::Mcp::new(config.mcp, 1).unwrap());
        let meta = [("mcp-protocol-version", "2026-07-28")];
        let (status, text) = answer(app, "/mcp", body, &meta);
        prop_assert!(status < 500, "status {} for {}", status, text);
        if !text.is_empty() {
            let value: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert!(value["jsonrpc"] == "2.0", "{}", text);
            prop_assert!(value.get("result").is_some() || value["error"]["code"].is_i64(), "{}", text);
        }
    }
}

/// Every route of every mock, and the admin API, under random methods, paths, content types and
/// bodies: nothing panics (no 5xx without a fault rule), every answer is JSON in the service's own
/// shape, and the service still answers afterwards.
mod every_route {
    use std::sync::OnceLock;

    use super::*;

    const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"];
    const PATHS: &[&str] = &[
        "/health",
        "/metrics",
        "/v1/models",
        "/v1/models/gpt-4o-mini",
        "/v1/models/%2e%2e",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/index",
        "/v1/query",
        "/v1/documents/doc-1",
        "/v1/collections",
        "/mcp",
        "/__admin/faults",
        "/__admin/faults/x",
        "/__admin/journal?limit=5",
        "/__admin/journal?limit=-1",
        "/__admin/counters",
        "/__admin/models",
        "/__admin/models/gpt-4o-mini",
        "/__admin/nope",
        "/nope",
        "//v1//chat/completions/",
    ];
    const TYPES: &[&str] =
        &["application/json", "text/plain", "", "application/json; charset=latin1", "multipart/form-data"];

    #[derive(Debug, Clone, Copy)]
    enum Shape {
        OpenAi,
        Rag,
        JsonRpc,
    }

    struct Service {
        app: mocks::service::MockService,
        shape: Shape,
    }

    fn services() -> &'static Vec<Service> {
        static SERVICES: OnceLock<Vec<Service>> = OnceLock::new();
        SERVICES.get_or_init(|| {
            let config = MocksConfig::default();
            vec![
                Service { app: router(Gateway::new(config.gateway.clone(), 1).unwrap()), shape: Shape::OpenAi },
                Service {
                    app: mocks::rag::router(mocks::rag::Rag::new(config.rag.clone(), 1).unwrap()),
                    shape: Shape::Rag,
                },
                Service {
                    app: mocks::mcp::router(mocks::mcp::Mcp::new(config.mcp.clone(), 1).unwrap()),
                    shape: Shape::JsonRpc,
                },
            ]
        })
    }

    fn send(
        app: &mocks::service::MockService,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let mut request = http::Request::builder().method(method).uri(path).header("host", "127.0.0.1");
            if !content_type.is_empty() {
                request = request.header("content-type", content_type);
            }
            let response = app.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
            (status, bytes.to_vec())
        })
    }

    fn shaped(shape: Shape, admin: bool, value: &Value) -> bool {
        if admin {
            return value["error"]["message"].is_string() && value["error"]["code"].is_string();
        }
        match shape {
            Shape::OpenAi => value["error"]["message"].is_string() && value["error"]["type"].is_string(),
            Shape::Rag => value["error"]["message"].is_string() && value["error"]["type"].is_string(),
            Shape::JsonRpc => value["jsonrpc"] == "2.0" && value["error"]["code"].is_i64(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        #[test]
        fn any_request_to_any_route_answers_in_the_services_shape(
            service in 0usize..3,
            method in prop::sample::select(METHODS),
            path in prop::sample::select(PATHS),
            content_type in prop::sample::select(TYPES),
            body in body_strategy(),
        ) {
            let Service { app, shape } = &services()[service];
            // Writes that would change the service for later cases are left to the admin tests.
            let mutating_admin = path.starts_with("/__admin/") && method != "GET";
            let body = if mutating_admin { br#"{"name": 1}"#.to_vec() } else { body };
            let (status, bytes) = send(app, method, path, content_type, body);
            prop_assert!(status < 500, "{method} {path}: status {status}: {}", String::from_utf8_lossy(&bytes));
            if status >= 400 && method != "HEAD" {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| TestCaseError::fail(format!("{method} {path} ({status}): not JSON ({e}): {}", String::from_utf8_lossy(&bytes))))?;
                prop_assert!(shaped(*shape, path.starts_with("/__admin/"), &value), "{method} {path} ({status}): {value}");
            }
            let (health, _) = send(app, "GET", "/health", "", Vec::new());
            prop_assert_eq!(health, 200, "still serving");
        }
    }
}
