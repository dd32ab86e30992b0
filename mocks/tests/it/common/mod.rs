//! Helpers shared by the mocks' in-process integration tests: a gateway on 127.0.0.1:0.

#![allow(dead_code, missing_docs)]

use std::sync::Arc;

use mocks::config::MocksConfig;
use mocks::gateway::Gateway;
use mocks::stack::{ServiceKind, Stack};
use serde_json::{Value, json};

/// A running gateway and a client for it.
pub(crate) struct TestGateway {
    pub stack: Stack,
    pub url: String,
    pub client: reqwest::Client,
}

impl TestGateway {
    pub(crate) async fn start() -> Self {
        Self::with_config(MocksConfig::default()).await
    }

    /// Starts with the default config changed by a TOML snippet appended to the `[gateway]` table.
    pub(crate) async fn with_toml(gateway_toml: &str) -> Self {
        let text = format!("seed = 42\n[gateway]\n{gateway_toml}\n");
        Self::with_config(MocksConfig::from_toml(&text, "test.toml").expect("valid test config")).await
    }

    pub(crate) async fn with_config(config: MocksConfig) -> Self {
        let stack = Stack::start_ephemeral(&config).await.expect("stack starts");
        let url = stack.service(ServiceKind::Gateway).expect("gateway runs").url();
        TestGateway { stack, url, client: reqwest::Client::new() }
    }

    pub(crate) fn gateway(&self) -> Arc<Gateway> {
        self.stack.service(ServiceKind::Gateway).and_then(|s| s.gateway()).expect("gateway state")
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self.client.post(format!("{}{path}", self.url)).json(body).send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        (status, headers, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(format!("{}{path}", self.url)).send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
    }

    pub(crate) async fn chat(&self, body: Value) -> (u16, Value) {
        let (status, _, body) = self.post("/v1/chat/completions", &body).await;
        (status, body)
    }

    /// Installs a fault rule through the admin API.
    pub(crate) async fn add_rule(&self, rule: Value) {
        let response = self.client.post(format!("{}/__admin/faults", self.url)).json(&rule).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
    }
}

/// A minimal valid chat body.
pub(crate) fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 8})
}

/// An instant chat model config (no simulated generation time), for fault and load tests.
pub(crate) const FAST_MODELS: &str = r#"
[[gateway.models]]
id = "fast"
kind = "chat"
context_window = 64
max_output_tokens = 32

[[gateway.models]]
id = "no-stream"
kind = "chat"
streaming = false

[[gateway.models]]
id = "embed"
kind = "embedding"
dimensions = 8
context_window = 16
"#;
