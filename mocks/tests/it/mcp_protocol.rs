//! The MCP mock through real HTTP: both eras' session and envelope rules, every JSON-RPC error,
//! JSON or SSE answers, the sandbox escape table, the concurrency limit, and per-tool faults.

use std::time::{Duration, Instant};

use mocks::config::MocksConfig;
use mocks::stack::{ServiceKind, Stack};
use serde_json::{Value, json};

struct TestMcp {
    _stack: Stack,
    url: String,
    client: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl TestMcp {
    async fn start(mcp_toml: &str) -> Self {
        let config = MocksConfig::from_toml(&format!("[mcp]\n{mcp_toml}\n"), "mcp.toml").unwrap();
        let stack = Stack::start(&config, &[(ServiceKind::Mcp, "127.0.0.1:0".parse().unwrap())]).await.unwrap();
        let url = stack.service(ServiceKind::Mcp).unwrap().url();
        TestMcp { _stack: stack, url, client: reqwest::Client::new() }
    }

    async fn send(&self, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    /// Opens a handshake session at `version`; returns its id and the negotiated version.
    async fn initialize(&self, version: &str) -> (String, String) {
        let reply = self
            .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}), &[])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let session = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
        let negotiated = reply.body["result"]["protocolVersion"].as_str().unwrap().to_owned();
        let note = self
            .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), &[("mcp-session-id", &session)])
            .await;
        assert_eq!(note.status, 202);
        (session, negotiated)
    }

    /// A stateless (2026-07-28) request.
    async fn stateless(&self, id: u64, method: &str, mut params: Value) -> Reply {
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
        let name = params.get("name").and_then(Value::as_str).map(str::to_owned);
        if let Some(name) = &name {
            headers.push(("mcp-name", name));
        }
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}), &headers).await
    }

    async fn call(&self, session: &str, id: u64, tool: &str, arguments: Value) -> Reply {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        self.send(&body, &[("mcp-session-id", session), ("mcp-protocol-version", "2025-11-25")]).await
    }

    async fn admin(&self, path: &str) -> Value {
        self.client.get(format!("{}{path}", self.url)).send().await.unwrap().json().await.unwrap()
    }
}

#[tokio::test]
async fn handshake_versions_and_session_rules() {
    let mcp = TestMcp::start("").await;
    for (asked, expected) in [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2024-11-05", "2025-11-25")]
    {
        assert_eq!(mcp.initialize(asked).await.1, expected, "asked {asked}");
    }
    let (session, _) = mcp.initialize("2025-11-25").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let reply = mcp.send(&list, &[("mcp-session-id", &session)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["result"]["tools"].as_array().unwrap().len(), 8);
    assert!(reply.body["result"].get("resultType").is_none(), "no 2026 fields in the handshake era");
    let missing = mcp.send(&list, &[]).await;
    assert_eq!((missing.status, missing.body["error"]["code"].as_i64()), (400, Some(-32600)));
    let unknown = mcp.send(&list, &[("mcp-session-id", "nope")]).await;
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_i64()), (404, Some(-32600)));
    let bad_version = mcp.send(&list, &[("mcp-session-id", &session), ("mcp-protocol-version", "1999-01-01")]).await;
    assert_eq!(bad_version.status, 400);
    let ping = mcp.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}), &[("mcp-session-id", &session)]).await;
    assert_eq!((ping.status, &ping.body["result"]), (200, &json!({})));

    let end = mcp.client.delete(format!("{}/mcp", mcp.url)).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(end.status().as_u16(), 200);
    assert_eq!(mcp.send(&list, &[("mcp-session-id", &session)]).await.status, 404, "an ended session is unknown");
    let again = mcp.client.delete(format!("{}/mcp", mcp.url)).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let get = mcp.client.get(format!("{}/mcp", mcp.url)).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn stateless_era_discover_envelope_and_errors() {
    let mcp = TestMcp::start("").await;
    let discover = mcp.stateless(1, "server/discover", json!({})).await;
    assert_eq!(discover.status, 200, "{}", discover.body);
    let result = &discover.body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"], json!(["2025-06-18", "2025-11-25", "2026-07-28"]));
    assert!(
        result["ttlMs"].is_u64() && result["cacheScope"] == "public" && result["capabilities"]["tools"].is_object()
    );
    assert!(discover.headers.get("mcp-session-id").is_none(), "no session in the stateless era");

    let list = mcp.stateless(2, "tools/list", json!({})).await;
    assert_eq!(list.body["result"]["resultType"], "complete");
    assert!(list.body["result"]["ttlMs"].is_u64());
    let names: Vec<&str> =
        list.body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["read_file", "write_file", "list_dir", "search_files", "git_status", "git_log", "git_diff", "web_fetch"]
    );
    let call = mcp.stateless(3, "tools/call", json!({"name": "git_status", "arguments": {}})).await;
    assert_eq!(
        (call.body["result"]["resultType"].as_str(), call.body["result"]["isError"].as_bool()),
        (Some("complete"), Some(false))
    );

    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let mismatch = mcp
        .send(
            &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": meta}}),
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
    assert_eq!((mismatch.status, mismatch.body["error"]["code"].as_i64()), (400, Some(-32020)));
    let no_header =
        mcp.send(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta}}), &[]).await;
    assert_eq!((no_header.status, no_header.body["error"]["code"].as_i64()), (400, Some(-32020)));
    let old = json!({"io.modelcontextprotocol/protocolVersion": "2030-01-01"});
    let unsupported = mcp
        .send(
            &json!({"jsonrpc": "2.0", "id": 6, "method": "server/discover", "params": {"_meta": old}}),
            &[("mcp-protocol-version", "2030-01-01")],
        )
        .await;
    assert_eq!((unsupported.status, unsupported.body["error"]["code"].as_i64()), (400, Some(-32022)));
    assert_eq!(unsupported.body["error"]["data"]["requested"], "2030-01-01");
    assert!(unsupported.body["error"]["data"]["supported"].as_array().unwrap().contains(&json!("2026-07-28")));
    let unknown = mcp.stateless(7, "resources/list", json!({})).await;
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_i64()), (404, Some(-32601)));
    let wrong_name = mcp
        .send(
            &json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "git_log", "arguments": {}, "_meta": meta}}),
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "read_file")],
        )
        .await;
    assert_eq!((wrong_name.status, wrong_name.body["error"]["code"].as_i64()), (400, Some(-32020)));
}

#[tokio::test]
async fn json_rpc_errors_have_the_right_codes() {
    let mcp = TestMcp::start("").await;
    let (session, _) = mcp.initialize("2025-11-25").await;
    let raw = |body: &'static str| {
        let request = mcp
            .client
            .post(format!("{}/mcp", mcp.url))
            .header("content-type", "application/json")
            .header("mcp-session-id", session.clone())
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = raw("{not json").await;
    assert_eq!((status, body["error"]["code"].as_i64(), &body["id"]), (400, Some(-32700), &Value::Null));
    let (status, body) = raw("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]").await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(-32600)));
    let (_, body) = raw("{\"id\":1,\"method\":\"ping\"}").await;
    assert_eq!(body["error"]["code"], -32600, "jsonrpc field missing");
    let (_, body) = raw("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"no/such\"}").await;
    assert_eq!((body["error"]["code"].as_i64(), &body["id"]), (Some(-32601), &json!(9)));
    for (tool, arguments, needle) in [
        ("nope", json!({}), "Unknown tool"),
        ("read_file", json!({}), "missing required argument `path`"),
        ("read_file", json!({"path": 3}), "`path` must be a string"),
        ("read_file", json!({"path": "a", "extra": 1}), "unknown argument `extra`"),
        ("git_log", json!({"max_count": "ten"}), "`max_count` must be a non-negative integer"),
    ] {
        let reply = mcp.call(&session, 10, tool, arguments).await;
        assert_eq!(reply.body["error"]["code"], -32602, "{}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(needle), "{}", reply.body);
    }
    let missing_file = mcp.call(&session, 11, "read_file", json!({"path": "nope.txt"})).await;
    assert_eq!(
        missing_file.body["result"]["isError"], true,
        "a tool that ran and failed is a result, not a protocol error"
    );
    let web = mcp.call(&session, 12, "web_fetch", json!({"url": "https://evil.example/"})).await;
    assert_eq!(web.body["result"]["isError"], true);
    let page = mcp.call(&session, 13, "web_fetch", json!({"url": "https://status.example.com/"})).await;
    assert_eq!(page.body["result"]["content"][0]["text"], "All systems operational.");
    let forbidden = mcp
        .send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            &[("mcp-session-id", &session), ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(forbidden.status, 403);
}

#[tokio::test]
async fn answers_json_or_sse_as_the_client_prefers() {
    let mcp = TestMcp::start("").await;
    let (session, _) = mcp.initialize("2025-11-25").await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string();
    let ask = |accept: &'static str| {
        let request = mcp
            .client
            .post(format!("{}/mcp", mcp.url))
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", session.clone())
            .body(body.clone());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            (status, content_type, response.text().await.unwrap())
        }
    };
    let (_, content_type, _) = ask("application/json, text/event-stream").await;
    assert!(content_type.starts_with("application/json"));
    let (status, content_type, text) = ask("text/event-stream").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).expect("a data line");
    let message: Value = serde_json::from_str(data).unwrap();
    assert_eq!((message["id"].as_i64(), message["result"]["tools"].as_array().map(Vec::len)), (Some(5), Some(8)));
    let (_, content_type, _) = ask("application/json;q=0.5, text/event-stream;q=0.9").await;
    assert!(content_type.starts_with("text/event-stream"));
    assert_eq!(ask("text/html").await.0, 406);
}

#[tokio::test]
async fn every_sandbox_escape_is_refused_counted_and_never_executed() {
    let mcp = TestMcp::start("").await;
    let (session, _) = mcp.initialize("2025-11-25").await;
    let attempts: &[(&str, Value)] = &[
        ("read_file", json!({"path": "../../etc/passwd"})),
        ("read_file", json!({"path": "/etc/passwd"})),
        ("read_file", json!({"path": "src/../../secret"})),
        ("read_file", json!({"path": "..\\..\\windows\\win.ini"})),
        ("read_file", json!({"path": "C:\\Windows\\win.ini"})),
        ("read_file", json!({"path": "%2e%2e/%2e%2e/etc/passwd"})),
        ("read_file", json!({"path": "..%2f..%2fetc/passwd"})),
        ("read_file", json!({"path": "\u{FF0E}\u{FF0E}/etc/passwd"})),
        ("read_file", json!({"path": "~/.ssh/id_rsa"})),
        ("read_file", json!({"path": "docs/outside/passwd"})),
        ("read_file", json!({"path": "src/\u{0}/x"})),
        ("read_file", json!({"path": "..."})),
        ("write_file", json!({"path": "../escaped.txt", "content": "pwned"})),
        ("write_file", json!({"path": "/tmp/escaped.txt", "content": "pwned"})),
        ("list_dir", json!({"path": ".."})),
        ("list_dir", json!({"path": "docs/outside"})),
        ("search_files", json!({"pattern": "root", "path": "../"})),
        ("git_diff", json!({"path": "../../etc/passwd"})),
    ];
    for (i, (tool, arguments)) in attempts.iter().enumerate() {
        let reply = mcp.call(&session, i as u64, tool, arguments.clone()).await;
        assert_eq!(reply.status, 200);
        let result = &reply.body["result"];
        assert_eq!(result["isError"], true, "{tool} {arguments}: {}", reply.body);
        assert!(result["content"][0]["text"].as_str().unwrap().contains("outside the sandbox"), "{}", reply.body);
    }
    let counters = mcp.admin("/__admin/counters").await;
    let violations: u64 =
        counters["events"]["sandbox_violation"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(violations, attempts.len() as u64);
    let metrics = mcp.client.get(format!("{}/metrics", mcp.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("event=\"sandbox_violation\",value=\"read_file\"} 12"), "{metrics}");
    let status = mcp.call(&session, 99, "git_status", json!({})).await;
    assert_eq!(
        status.body["result"]["content"][0]["text"], "nothing to commit, working tree clean",
        "no escape wrote anything"
    );
    // Inside the sandbox, the same tools work.
    assert_eq!(
        mcp.call(&session, 100, "write_file", json!({"path": "notes/a.txt", "content": "hi"})).await.body["result"]["isError"],
        false
    );
    let status = mcp.call(&session, 101, "git_status", json!({})).await;
    assert_eq!(status.body["result"]["content"][0]["text"], "?? notes/a.txt");
}

async fn parallel_git_logs(mcp: &TestMcp, session: &str, n: u64) -> Vec<Value> {
    let calls = (0..n).map(|i| mcp.call(session, i, "git_log", json!({})));
    futures::future::join_all(calls).await.into_iter().map(|r| r.body).collect()
}

#[tokio::test]
async fn concurrency_limit_rejects_or_queues() {
    let slow = json!({"name": "slow-git", "match": {"attribute": "git_log"}, "latency": {"kind": "fixed", "ms": 300}});
    let reject = TestMcp::start("max_concurrent_tools = 2").await;
    reject.client.post(format!("{}/__admin/faults", reject.url)).json(&slow).send().await.unwrap();
    let (session, _) = reject.initialize("2025-11-25").await;
    let replies = parallel_git_logs(&reject, &session, 6).await;
    let ok = replies.iter().filter(|r| r["result"]["isError"] == false).count();
    let busy: Vec<&Value> = replies.iter().filter(|r| r["error"]["code"] == -32010).collect();
    assert_eq!((ok, busy.len()), (2, 4), "{replies:?}");
    assert!(busy[0]["error"]["message"].as_str().unwrap().contains("limit 2"));
    let counters = reject.admin("/__admin/counters").await;
    assert_eq!(counters["events"]["server_busy"]["git_log"], 4);

    let queue = TestMcp::start("max_concurrent_tools = 2\nover_limit = \"queue\"").await;
    queue.client.post(format!("{}/__admin/faults", queue.url)).json(&slow).send().await.unwrap();
    let (session, _) = queue.initialize("2025-11-25").await;
    let started = Instant::now();
    let replies = parallel_git_logs(&queue, &session, 6).await;
    assert!(replies.iter().all(|r| r["result"]["isError"] == false), "{replies:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "three waves of two: {:?}", started.elapsed());
}

#[tokio::test]
async fn faults_match_tool_names_and_answer_json_rpc_errors() {
    let mcp = TestMcp::start("").await;
    let (session, _) = mcp.initialize("2025-11-25").await;
    for rule in [
        json!({"name": "slow-status", "match": {"attribute": "git_status"}, "latency": {"kind": "fixed", "ms": 250}}),
        json!({"name": "broken-diff", "match": {"attribute": "git_diff"}, "error": {"status": 500, "code": "-32603", "message": "git backend crashed"}}),
    ] {
        assert_eq!(
            mcp.client.post(format!("{}/__admin/faults", mcp.url)).json(&rule).send().await.unwrap().status().as_u16(),
            201
        );
    }
    let started = Instant::now();
    mcp.call(&session, 1, "read_file", json!({"path": "README.md"})).await;
    let fast = started.elapsed();
    let started = Instant::now();
    mcp.call(&session, 2, "git_status", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(250), "git_status slowed, read_file not ({fast:?})");
    let broken = mcp.call(&session, 77, "git_diff", json!({})).await;
    assert_eq!(broken.status, 500);
    assert_eq!(
        broken.body,
        json!({"jsonrpc": "2.0", "id": 77, "error": {"code": -32603, "message": "git backend crashed"}})
    );
    let journal = mcp.admin("/__admin/journal?limit=1").await;
    assert_eq!(
        (journal["entries"][0]["attribute"].as_str(), journal["entries"][0]["injected"].as_bool()),
        (Some("git_diff"), Some(true))
    );
}

#[tokio::test]
async fn oversized_paths_are_refused_as_invalid_params_without_stalling_other_services() {
    let config = MocksConfig::default();
    let stack = Stack::start_ephemeral(&config).await.unwrap();
    let mcp = stack.service(ServiceKind::Mcp).unwrap().url();
    let gateway = stack.service(ServiceKind::Gateway).unwrap().url();
    let client = reqwest::Client::new();
    let call = |path: String| {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": path}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        client
            .post(format!("{mcp}/mcp"))
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "read_file")
            .body(body.to_string())
            .send()
    };
    // 240 KB of path (the size that used to hold every service for ~27 s), sent twice at once, with
    // a gateway health check beside them.
    let long = vec!["a"; 120_000].join("/");
    let (one, two, health) =
        tokio::join!(call(long.clone()), call(long), client.get(format!("{gateway}/health")).send());
    assert_eq!(health.unwrap().status(), 200);
    for reply in [one, two] {
        let body: Value = reply.unwrap().json().await.unwrap();
        assert_eq!(body["error"]["code"], -32602, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("paths are at most 4096"), "{body}");
    }
    let deep = vec!["a"; 300].join("/");
    let body: Value = call(deep).await.unwrap().json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 256"), "{body}");
    let fine: Value = call("src/main.rs".into()).await.unwrap().json().await.unwrap();
    assert_eq!(fine["result"]["isError"], false, "{fine}");
}

#[tokio::test]
async fn the_sandbox_has_a_file_and_a_total_size_limit() {
    let mcp = TestMcp::start("max_file_bytes = 1000\nmax_sandbox_bytes = 4000").await;
    let (session, _) = mcp.initialize("2025-11-25").await;
    let write = |n: usize, path: &'static str| json!({"path": path, "content": "x".repeat(n)});
    let big = mcp.call(&session, 2, "write_file", write(1001, "big.txt")).await;
    assert_eq!(big.body["result"]["isError"], true, "{}", big.body);
    assert!(big.body["result"]["content"][0]["text"].as_str().unwrap().contains("file limit"), "{}", big.body);
    let mut refused = 0;
    for (i, path) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let reply =
            mcp.call(&session, 3 + i as u64, "write_file", json!({"path": path, "content": "y".repeat(900)})).await;
        refused += usize::from(reply.body["result"]["isError"] == true);
    }
    assert!(refused >= 2, "the total limit stops the writes ({refused} refused)");
    let counters = mcp.admin("/__admin/counters").await;
    assert!(counters.to_string().len() < 100_000);
}

#[tokio::test]
async fn a_flood_of_initialize_calls_does_not_evict_a_session_in_use_and_idle_sessions_expire() {
    let mcp = TestMcp::start("session_capacity = 50\nsession_idle_seconds = 2").await;
    let (live, _) = mcp.initialize("2025-11-25").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let headers = [("mcp-session-id", live.as_str()), ("mcp-protocol-version", "2025-11-25")];
    assert_eq!(mcp.send(&list, &headers).await.status, 200);
    for _ in 0..300 {
        mcp.initialize("2025-11-25").await;
    }
    let after = mcp.send(&list, &headers).await;
    assert_eq!(after.status, 200, "the session in use survived 300 unused sessions: {}", after.body);
    let health: Value = mcp.client.get(format!("{}/health", mcp.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["sessions"], 50, "bounded by capacity");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let expired = mcp.send(&list, &headers).await;
    assert_eq!(expired.status, 404, "idle past session_idle_seconds: {}", expired.body);
}

#[tokio::test]
async fn latency_rules_on_non_tool_methods_add_their_latency_and_wrong_methods_answer_json() {
    let mcp = TestMcp::start("").await;
    let rule =
        json!({"name": "slow-list", "match": {"attribute": "tools/list"}, "latency": {"kind": "fixed", "ms": 300}});
    let status = mcp.client.post(format!("{}/__admin/faults", mcp.url)).json(&rule).send().await.unwrap().status();
    assert_eq!(status, 201);
    let started = Instant::now();
    let reply = mcp.stateless(3, "tools/list", json!({})).await;
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the fired rule's latency applied: {:?}",
        started.elapsed()
    );
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
        let response = mcp.client.request(method.clone(), format!("{}/mcp", mcp.url)).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST, DELETE");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600, "{method}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("Method Not Allowed"));
    }
}

/// The published schema's definition `name` of `version` (`../shared/specs/mcp/`), as a validator.
fn mcp_schema(version: &str, name: &str) -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/mcp/");
    let text = std::fs::read_to_string(format!("{path}{version}/schema.json")).expect("the shared MCP schemas");
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    let defs = if schema.get("$defs").is_some() { "$defs" } else { "definitions" };
    schema["$ref"] = json!(format!("#/{defs}/{name}"));
    jsonschema::validator_for(&schema).unwrap()
}

#[tokio::test]
async fn the_2026_revision_requires_its_headers_drops_ping_and_ignores_stray_sessions() {
    let mcp = TestMcp::start("").await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let body =
        |id: u64, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    // Mcp-Method on every request, Mcp-Name on tools/call: missing ones are a header mismatch.
    let no_method =
        mcp.send(&body(1, "tools/list", json!({"_meta": meta})), &[("mcp-protocol-version", "2026-07-28")]).await;
    assert_eq!((no_method.status, no_method.body["error"]["code"].as_i64()), (400, Some(-32020)), "{}", no_method.body);
    let call = json!({"name": "git_status", "arguments": {}, "_meta": meta});
    let version_and_method = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")];
    let no_name = mcp.send(&body(2, "tools/call", call.clone()), &version_and_method).await;
    assert_eq!((no_name.status, no_name.body["error"]["code"].as_i64()), (400, Some(-32020)), "{}", no_name.body);
    let encoded = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?Z2l0X3N0YXR1cw==?="),
    ];
    let base64 = mcp.send(&body(3, "tools/call", call.clone()), &encoded).await;
    assert_eq!(base64.status, 200, "a Base64-encoded Mcp-Name is decoded: {}", base64.body);
    // Every 2026 result identifies the server; ping is gone in this revision (not in the others).
    assert_eq!(base64.body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mocks-mcp");
    let ping = mcp.stateless(4, "ping", json!({})).await;
    assert_eq!((ping.status, ping.body["error"]["code"].as_i64()), (404, Some(-32601)), "{}", ping.body);
    let (session, _) = mcp.initialize("2025-11-25").await;
    let old_ping = mcp.send(&body(5, "ping", json!({})), &[("mcp-session-id", &session)]).await;
    assert_eq!(old_ping.status, 200, "{}", old_ping.body);
    // A stray session id on a stateless request is ignored, not a 404.
    let mut headers = encoded.to_vec();
    headers.push(("mcp-session-id", "no-such-session"));
    let stray = mcp.send(&body(6, "tools/call", call), &headers).await;
    assert_eq!(stray.status, 200, "{}", stray.body);
    assert!(stray.headers.get("mcp-session-id").is_none(), "no session id minted or echoed");

    // Answers validate against each revision's published schema; an unreadable request's error
    // carries no `id` (the 2025-11-25 and 2026-07-28 schemas allow none, never `null`).
    let unreadable = mcp.send(&json!({"jsonrpc": "2.0", "method": 5}), &[]).await;
    assert!(unreadable.body.get("id").is_none(), "{}", unreadable.body);
    for version in ["2025-11-25", "2026-07-28"] {
        let errors = mcp_schema(version, "JSONRPCErrorResponse");
        for reply in [&unreadable, &no_method, &no_name, &ping] {
            assert!(errors.is_valid(&reply.body), "{version}: {}", reply.body);
        }
    }
    let results = mcp_schema("2026-07-28", "CallToolResult");
    assert!(results.is_valid(&stray.body["result"]), "{}", stray.body);
    let sse = mcp
        .client
        .post(format!("{}/mcp", mcp.url))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .body(body(7, "tools/list", json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["x-accel-buffering"], "no", "SSE answers are not to be buffered by proxies");
}
