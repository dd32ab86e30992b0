//! `mocks demo`: a short, bounded tour of the mock stack on free local ports, with no Docker and
//! no setup. It reproduces the motivating failure (every chat request for a model the gateway does
//! not serve) and shows how the journal, counters and an injected fault tell the story honestly.

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::MocksConfig;
use crate::stack::{ServiceKind, Stack, StackError};

/// Why the demo could not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DemoError {
    /// The stack did not start.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// A request failed where it should not.
    #[error("demo request failed: {0}")]
    Http(#[from] reqwest::Error),
}

struct Tour {
    client: reqwest::Client,
    url: String,
    out: String,
}

impl Tour {
    async fn chat(&self, model: &str) -> Result<(u16, Value), reqwest::Error> {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16});
        let response = self.client.post(format!("{}/v1/chat/completions", self.url)).json(&body).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> Result<Value, reqwest::Error> {
        self.client.get(format!("{}{path}", self.url)).send().await?.json().await
    }

    fn say(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}", line.as_ref());
    }
}

/// Runs the tour and returns its transcript.
pub(crate) async fn run(config: &MocksConfig) -> Result<String, DemoError> {
    // Its own in-process services, never through a proxy from the environment.
    let client = reqwest::Client::builder().no_proxy().build()?;
    let stack = Stack::start_ephemeral(config).await?;
    let url_of = |kind| stack.service(kind).map(|s| s.url()).unwrap_or_default();
    let (rag, mcp) = (url_of(ServiceKind::Rag), url_of(ServiceKind::Mcp));
    let mut tour = Tour { client, url: url_of(ServiceKind::Gateway), out: String::new() };
    let mut result = tour_steps(&mut tour).await;
    if result.is_ok() {
        result = rag_and_mcp(&mut tour, &rag, &mcp).await;
    }
    stack.shutdown().await;
    result.map(|()| tour.out)
}

async fn tour_steps(tour: &mut Tour) -> Result<(), DemoError> {
    tour.say(format!("mock gateway on {}", tour.url));
    let models = tour.get("/v1/models").await?;
    let ids: Vec<&str> = models["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).collect();
    tour.say(format!("1. GET /v1/models -> {}", ids.join(", ")));

    let started = Instant::now();
    let (status, body) = tour.chat("gpt-4o-mini").await?;
    tour.say(format!(
        "2. chat with gpt-4o-mini -> {status} in {:.0} ms: \"{}\"",
        started.elapsed().as_secs_f64() * 1000.0,
        body["choices"][0]["message"]["content"].as_str().unwrap_or("")
    ));

    tour.say("3. the motivating baseline: 10 chat requests for `qwen2.5-14b-instruct`");
    let mut failures = 0;
    let mut last = Value::Null;
    for _ in 0..10 {
        let (status, body) = tour.chat("qwen2.5-14b-instruct").await?;
        if status != 200 {
            failures += 1;
            last = body;
        }
    }
    tour.say(format!(
        "   {failures}/10 failed ({}% error rate): {}",
        failures * 10,
        last["error"]["message"].as_str().unwrap_or("")
    ));
    let counters = tour.get("/__admin/counters").await?;
    tour.say(format!("   admin counters: unknown_model = {}", counters["events"]["unknown_model"]));

    tour.say("4. inject a fault at run time: 503 on every 2nd chat request");
    let rule = json!({"name": "demo-overload", "every": 2, "match": {"path": "/v1/chat/completions"}, "error": {"status": 503, "retry_after": 1}});
    tour.client.post(format!("{}/__admin/faults", tour.url)).json(&rule).send().await?.error_for_status()?;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(tour.chat("gpt-4o-mini").await?.0);
    }
    tour.say(format!("   statuses: {statuses:?}"));
    let journal = tour.get("/__admin/journal?limit=4").await?;
    for entry in journal["entries"].as_array().into_iter().flatten() {
        tour.say(format!(
            "   journal: {} {} -> {} injected={} faults={}",
            entry["method"].as_str().unwrap_or(""),
            entry["path"].as_str().unwrap_or(""),
            entry["status"],
            entry["injected"],
            entry["faults"]
        ));
    }
    let counters = tour.get("/__admin/counters").await?;
    tour.say(format!(
        "5. gateway totals: {} requests, {} genuine errors, {} injected faults",
        counters["total_requests"], counters["genuine_errors"], counters["injected_faults"]
    ));
    Ok(())
}

async fn rag_and_mcp(tour: &mut Tour, rag: &str, mcp: &str) -> Result<(), DemoError> {
    let query = json!({"query": "why did every chat request fail?", "top_k": 1});
    let hits: Value = tour.client.post(format!("{rag}/v1/query")).json(&query).send().await?.json().await?;
    tour.say(format!(
        "6. RAG query -> best match `{}` (score {:.2})",
        hits["results"][0]["id"].as_str().unwrap_or("?"),
        hits["results"][0]["score"].as_f64().unwrap_or(0.0)
    ));
    let call = |id: u64, path: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": path},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})
    };
    for (id, path) in [(1, "README.md"), (2, "../../etc/passwd")] {
        let reply: Value = tour
            .client
            .post(format!("{mcp}/mcp"))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "read_file")
            .json(&call(id, path))
            .send()
            .await?
            .json()
            .await?;
        let text = reply["result"]["content"][0]["text"].as_str().unwrap_or("").lines().next().unwrap_or("").to_owned();
        tour.say(format!("{}. MCP read_file {path} -> isError={} \"{text}\"", 6 + id, reply["result"]["isError"]));
    }
    Ok(())
}
