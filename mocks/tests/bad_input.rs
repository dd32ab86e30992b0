//! Property test: no request body, however malformed, makes the gateway panic or answer with
//! anything but JSON in OpenAI's shape (an error envelope or a success object).

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
