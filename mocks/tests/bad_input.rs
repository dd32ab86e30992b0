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
