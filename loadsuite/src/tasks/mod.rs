//! Task kinds: what one iteration of a simulated user sends and how its answer is judged. The
//! engine only calls [`execute`]; everything a protocol needs (OpenAI streams, RAG documents, MCP
//! sessions) lives here, not in the engine.

mod agent;
mod deadline;
mod frames;
mod http1;
mod http2;
mod http_client;

pub use agent::is_step as is_agent_step;
pub use http_client::Http;
pub(crate) use http_client::direct_client;
mod mcp;
mod models;
mod openai;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::scenario::{Task, TaskKind};
use crate::stats::{Failure, FailureKind, StreamSample};

/// What a simulated user carries between iterations.
pub struct UserState {
    /// User number (unique in the run).
    pub id: u64,
    /// Iterations done.
    pub iteration: u64,
    /// The MCP session this user opened (once, then reused): the endpoint and the session id,
    /// ended with `DELETE` when the run ends.
    pub mcp_session: Option<(String, String)>,
    /// The user's random source (seeded per run and user).
    pub rng: StdRng,
    /// The user's own HTTP/1.1 connection for plain HTTP tasks.
    pub connection: http1::Connection,
    /// The tools an `agent` task's MCP endpoint lists (asked once per session).
    pub agent_tools: Option<std::sync::Arc<agent::ToolCatalog>>,
}

impl UserState {
    /// A user seeded from the run seed and its id.
    pub fn new(id: u64, seed: u64) -> Self {
        UserState {
            id,
            iteration: 0,
            mcp_session: None,
            rng: StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            connection: http1::Connection::default(),
            agent_tools: None,
        }
    }

    /// A helper for one of several parallel calls in `user`'s MCP session (its `i`-th).
    fn sharing_session(user: &UserState, i: u64) -> Self {
        UserState {
            id: user.id,
            iteration: user.iteration.wrapping_mul(1000).wrapping_add(i),
            mcp_session: user.mcp_session.clone(),
            rng: StdRng::seed_from_u64(user.id ^ i),
            connection: http1::Connection::default(),
            agent_tools: None,
        }
    }
}

/// The result of one request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Response bytes.
    pub bytes: u64,
    /// Failure, if any.
    pub failure: Option<Failure>,
    /// Stream measurements (streamed chat).
    pub stream: Option<StreamSample>,
    /// Steps of a task made of several requests (an agent turn), each recorded as its own row.
    pub steps: Vec<Step>,
    /// How many steps of each kind the iteration took (`llm`, `tool`), recorded as
    /// distributions on the task's row.
    pub step_counts: Vec<(&'static str, u64)>,
}

/// One request inside a task made of several, recorded as its own row (`METHOD name`, with the
/// task's method).
#[derive(Debug)]
pub struct Step {
    /// Row name.
    pub name: String,
    /// How long it took.
    pub latency: Duration,
    /// What it got.
    pub outcome: Outcome,
}

impl Outcome {
    fn failed(failure: Failure) -> Self {
        Outcome { failure: Some(failure), ..Outcome::default() }
    }

    /// Records `result` as one step of this task (its own row) and turns its failure into the
    /// task's, the step named in the message.
    fn step(&mut self, name: String, latency: Duration, result: Outcome) -> Result<(), Failure> {
        let failure = result.failure.clone();
        self.bytes += result.bytes;
        self.steps.push(Step { name: name.clone(), latency, outcome: result });
        match failure {
            Some(f) => Err(Failure::new(f.kind, format!("{name}: {}", f.message))),
            None => Ok(()),
        }
    }
}

/// The error code and message of an error body: OpenAI `error.code`/`error.message`, the RAG
/// `error.type`, or a JSON-RPC `error.code`.
pub fn error_details(body: &Value) -> (Option<String>, Option<String>) {
    let error = &body["error"];
    let code = match &error["code"] {
        Value::String(code) => Some(code.clone()),
        Value::Number(n) => Some(jsonrpc_key(n.as_i64().unwrap_or(0))),
        _ => error["type"].as_str().map(str::to_owned),
    };
    (code, error["message"].as_str().map(str::to_owned))
}

fn jsonrpc_key(code: i64) -> String {
    match code {
        -32010 => "server_busy".into(),
        -32700 => "parse_error".into(),
        -32600 => "invalid_request".into(),
        -32601 => "method_not_found".into(),
        -32602 => "invalid_params".into(),
        other => format!("jsonrpc_{other}"),
    }
}

/// Judges a buffered HTTP answer: status against the expectation, error bodies classified.
fn judge(status: u16, body: &[u8], expect: Option<u16>) -> Option<Failure> {
    let ok = match expect {
        Some(want) => status == want,
        None => (200..300).contains(&status),
    };
    // Some servers (older LiteLLM) answer errors with 200: an error body is a failure anyway. Only
    // a body that mentions "error" is worth parsing (this runs on every response).
    let mentions_error = body.windows(7).any(|w| w == b"\"error\"");
    if ok && !mentions_error {
        return None;
    }
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if ok && !(parsed["error"].is_object() && expect.is_none()) {
        return None;
    }
    let (code, message) = error_details(&parsed);
    if !ok && expect.is_some() && !(400..600).contains(&status) {
        return Some(Failure::new(
            FailureKind::CheckFailed,
            format!("expected status {}, got {status}", expect.unwrap_or(0)),
        ));
    }
    let message = message.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    Some(Failure::new(FailureKind::Http { status, code }, message))
}

/// How much of an answer is kept to judge it (error bodies, checks); the rest is only counted, so
/// memory does not grow with response sizes.
pub const KEEP_BYTES: usize = 64 << 10;

/// The start of an answer (at most the keep limit) and its whole size.
pub struct Kept {
    /// The first bytes.
    pub head: bytes::Bytes,
    /// Every byte received.
    pub total: u64,
}

impl Kept {
    /// Whether the whole answer was kept.
    pub fn complete(&self) -> bool {
        self.head.len() as u64 == self.total
    }
}

/// Builds a [`Kept`] from an answer's chunks as they arrive: every HTTP path (reqwest, hyper's
/// HTTP/1.1 and HTTP/2) reads its bodies through this one rule.
pub(crate) struct Keeper {
    head: bytes::BytesMut,
    total: u64,
    keep: usize,
}

impl Keeper {
    /// Keeps at most `keep` bytes.
    pub(crate) fn new(keep: usize) -> Self {
        Keeper { head: bytes::BytesMut::new(), total: 0, keep }
    }

    /// Counts `chunk` and keeps what fits.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.keep.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The kept start and the whole size.
    pub(crate) fn finish(self) -> Kept {
        Kept { head: self.head.freeze(), total: self.total }
    }
}

/// Reads an answer, keeping at most `keep` bytes and counting the rest.
pub(crate) async fn read_kept(mut response: reqwest::Response, keep: usize) -> Result<Kept, reqwest::Error> {
    let mut kept = Keeper::new(keep);
    while let Some(chunk) = response.chunk().await? {
        kept.push(&chunk);
    }
    Ok(kept.finish())
}

/// Sends a request and judges the answer (its first `keep` bytes; the rest counted).
async fn exchange(request: reqwest::RequestBuilder, expect: Option<u16>, keep: usize) -> (Outcome, Option<Value>) {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return (Outcome::failed(Failure::new(FailureKind::from_reqwest(&e), e.to_string())), None),
    };
    let status = response.status().as_u16();
    let body = match read_kept(response, keep).await {
        Ok(b) => b,
        Err(e) if e.is_timeout() => {
            let failure = Failure::new(FailureKind::Timeout, format!("timed out reading the body: {e}"));
            return (Outcome::failed(failure), None);
        }
        Err(e) => return (Outcome::failed(Failure::new(FailureKind::ConnectionReset, format!("body cut: {e}"))), None),
    };
    let failure = judge(status, &body.head, expect);
    let parsed = if body.complete() { serde_json::from_slice(&body.head).ok() } else { None };
    (Outcome { bytes: body.total, failure, ..Outcome::default() }, parsed)
}

const WORDS: &[&str] = &[
    "gateway",
    "latency",
    "vector",
    "store",
    "index",
    "query",
    "model",
    "token",
    "stream",
    "cache",
    "agent",
    "tool",
    "sandbox",
    "timeout",
    "baseline",
    "regression",
    "capacity",
    "throughput",
    "error",
    "budget",
];

/// Ends the MCP sessions the users opened (`DELETE` with the session id), as a client leaving
/// does: at most a few seconds, errors ignored (the server expires idle sessions anyway).
pub async fn end_sessions(client: &Http, users: Vec<UserState>) {
    let ends = users.into_iter().filter_map(|u| u.mcp_session).map(|(url, session)| {
        client.delete(url).header("mcp-session-id", session).timeout(Duration::from_secs(2)).send()
    });
    let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(ends)).await;
}

/// Distinct document ids a user's `rag_index` task cycles through (times its `documents`).
pub const RAG_INDEX_SLOTS: u64 = 20;

/// Runs one task against the target at `base` (tasks that use several services, such as an agent
/// turn, find the others by name in `targets`).
pub async fn execute(
    task: &Task,
    base: &str,
    targets: &std::collections::BTreeMap<String, String>,
    client: &Http,
    user: &mut UserState,
    timeout: Duration,
) -> Outcome {
    user.iteration += 1;
    let url = |path: &str| format!("{}{path}", base.trim_end_matches('/'));
    match &task.kind {
        TaskKind::Http { method, path, body, headers } => {
            if let Some(authority) = base.strip_prefix("http://").map(|a| a.trim_end_matches('/'))
                && !client.is_http2(base)
            {
                let request = PlainRequest {
                    authority,
                    key: client.key_for(base),
                    method,
                    path,
                    body: body.as_deref(),
                    headers,
                    timeout,
                    expect: task.expect_status,
                };
                return plain_http(user, &request).await;
            }
            let mut request = client.request(method.clone(), url(path)).timeout(timeout);
            for (k, v) in headers {
                request = request.header(k, v);
            }
            if let Some(body) = body {
                request = match serde_json::from_str::<Value>(body) {
                    Ok(json) => request.json(&json),
                    Err(_) => request.body(body.clone()),
                };
            }
            exchange(request, task.expect_status, KEEP_BYTES).await.0
        }
        TaskKind::Chat { model, prompt, max_tokens, stream, extra, responses_api } => {
            let path = if *responses_api { "/v1/responses" } else { "/v1/chat/completions" };
            let call = openai::ChatCall {
                url: url(path),
                model,
                prompt,
                max_tokens: *max_tokens,
                stream: *stream,
                extra,
                responses_api: *responses_api,
                timeout,
                expect: task.expect_status,
            };
            openai::chat(client, &call).await
        }
        TaskKind::Embeddings { model, input } => {
            let body = json!({"model": model, "input": input});
            exchange(client.post(url("/v1/embeddings")).json(&body).timeout(timeout), task.expect_status, KEEP_BYTES)
                .await
                .0
        }
        TaskKind::RagQuery { query, top_k } => {
            let body = json!({"query": query, "top_k": top_k});
            exchange(client.post(url("/v1/query")).json(&body).timeout(timeout), task.expect_status, KEEP_BYTES).await.0
        }
        TaskKind::RagIndex { documents, words } => {
            let docs: Vec<Value> = (0..*documents)
                .map(|k| {
                    let text: Vec<&str> = (0..*words).map(|_| WORDS[user.rng.random_range(0..WORDS.len())]).collect();
                    // Ids cycle through a bounded space per user: a soak re-indexes (replaces) its
                    // documents instead of growing the collection without end.
                    let slot = user.iteration % RAG_INDEX_SLOTS;
                    json!({"id": format!("u{}-{slot}-{k}", user.id), "text": text.join(" "), "metadata": {"user": user.id}})
                })
                .collect();
            exchange(
                client.post(url("/v1/index")).json(&json!({"documents": docs})).timeout(timeout),
                task.expect_status,
                KEEP_BYTES,
            )
            .await
            .0
        }
        TaskKind::McpTool { tool, arguments } => mcp::call(client, &url("/mcp"), user, tool, arguments, timeout).await,
        TaskKind::Agent {
            model,
            prompt,
            max_tokens,
            mcp_target,
            rag_target,
            top_k,
            max_steps,
            tools,
            responses_api,
            stream,
        } => {
            let target = |name: &str| targets.get(name).map_or("", String::as_str).trim_end_matches('/').to_owned();
            let (model_url, api) = if *responses_api {
                (url("/v1/responses"), agent::ModelApi::Responses)
            } else {
                (url("/v1/chat/completions"), agent::ModelApi::Chat)
            };
            let turn = agent::AgentTurn {
                model_url,
                api,
                mcp_url: format!("{}/mcp", target(mcp_target)),
                query_url: rag_target.as_ref().map(|r| format!("{}/v1/query", target(r))),
                model,
                prompt,
                max_tokens: *max_tokens,
                top_k: *top_k,
                max_steps: *max_steps,
                tools,
                stream: *stream,
                timeout,
            };
            agent::turn(client, user, &turn).await
        }
        TaskKind::ModelCycle { model, hold } => {
            models::cycle(client, &models::ModelCycle { base, model, hold: *hold, timeout }).await
        }
    }
}

/// One plain-HTTP request of an `http` task, as [`plain_http`] sends it.
struct PlainRequest<'a> {
    /// `host:port` of the target.
    authority: &'a str,
    /// The target's API key, sent as a bearer token.
    key: Option<&'a str>,
    method: &'a http::Method,
    path: &'a str,
    body: Option<&'a str>,
    headers: &'a [(String, String)],
    timeout: Duration,
    /// The status the task expects (any success when absent).
    expect: Option<u16>,
}

/// A plain-HTTP task over the user's own connection.
async fn plain_http(user: &mut UserState, request: &PlainRequest<'_>) -> Outcome {
    let PlainRequest { authority, key, method, path, body, headers, timeout, expect } = *request;
    let mut builder = http::Request::builder().method(method.clone()).uri(path).header(http::header::HOST, authority);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if let Some(key) = key {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(body) = body
        && serde_json::from_str::<Value>(body).is_ok()
        && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let payload = http_body_util::Full::new(bytes::Bytes::from(body.unwrap_or("").to_owned()));
    let request = match builder.body(payload) {
        Ok(r) => r,
        Err(e) => {
            return Outcome::failed(Failure::new(FailureKind::Protocol, format!("cannot build the request: {e}")));
        }
    };
    match user.connection.send(authority, request, timeout).await {
        Ok((status, kept)) => {
            Outcome { bytes: kept.total, failure: judge(status, &kept.head, expect), ..Outcome::default() }
        }
        Err(failure) => Outcome::failed(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::Keeper;

    #[test]
    fn a_keeper_keeps_the_first_bytes_across_chunks_and_counts_them_all() {
        let mut kept = Keeper::new(5);
        for chunk in [&b"abc"[..], b"defg", b"", b"hij"] {
            kept.push(chunk);
        }
        let kept = kept.finish();
        assert_eq!((&kept.head[..], kept.total, kept.complete()), (&b"abcde"[..], 10, false));
        let mut whole = Keeper::new(5);
        whole.push(b"abcde");
        assert!(whole.finish().complete(), "exactly the limit is the whole answer");
    }
}
