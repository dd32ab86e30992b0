//! The JSON-RPC methods: `initialize`, `server/discover`, `ping`, `tools/list`, `tools/call`.
//! Results carry the 2026 fields (`resultType`, `ttlMs`, `cacheScope`) only in the stateless era.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Mcp;
use super::era::{self, Era};
use super::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, SERVER_BUSY};
use super::tools::{self, TOOLS};
use crate::config::OverLimit;
use crate::faults::InjectedLatency;

/// Largest tree a scanning tool reads on the async worker itself (a few hundred microseconds);
/// larger trees are scanned on a blocking thread.
const INLINE_SCAN_BYTES: usize = 256 << 10;

/// How long results may be cached (stateless era hint).
const TTL_MS: u64 = 60_000;

/// A successful method result, and the session it opened (for `initialize`).
pub struct Answer {
    /// The `result` object.
    pub result: Value,
    /// Set by `initialize`: sent back as `Mcp-Session-Id`.
    pub new_session: Option<String>,
}

fn server_info() -> Value {
    json!({"name": "mocks-mcp", "version": env!("CARGO_PKG_VERSION")})
}

const INSTRUCTIONS: &str = "A mock tool server for load tests: file tools work inside a sandbox, git tools on a simulated repository, web_fetch on an allowlist.";

fn complete(mut result: Value, modern: bool, cacheable: bool) -> Value {
    if modern {
        result["resultType"] = json!("complete");
        if cacheable {
            result["ttlMs"] = json!(TTL_MS);
            result["cacheScope"] = json!("public");
        }
    }
    result
}

/// Runs one request method. An injected latency delays every method (for `tools/call` inside its
/// concurrency slot), so a rule that fires always adds what it says.
pub async fn dispatch(
    mcp: &Arc<Mcp>,
    era: &Era,
    method: &str,
    params: &Map<String, Value>,
    latency: InjectedLatency,
) -> Result<Answer, RpcError> {
    let modern = era.is_modern();
    let plain = |result: Value| Ok(Answer { result, new_session: None });
    if method != "tools/call" {
        crate::faults::hold(latency.duration, &latency.release).await;
    }
    match method {
        "initialize" => {
            let requested = params.get("protocolVersion").and_then(Value::as_str);
            if requested.is_none() {
                return Err(RpcError::new(INVALID_PARAMS, "Invalid params: initialize needs `protocolVersion`"));
            }
            let version = era::negotiate(requested);
            let session = mcp.sessions.open(version);
            Ok(Answer {
                result: json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }),
                new_session: Some(session),
            })
        }
        "server/discover" => plain(json!({
            "resultType": "complete",
            "supportedVersions": era::supported_versions(),
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
            "ttlMs": TTL_MS,
            "cacheScope": "public",
            "_meta": {era::SERVER_INFO_META: server_info()},
        })),
        "ping" => plain(complete(json!({}), modern, false)),
        "tools/list" => {
            let tools: Vec<Value> = TOOLS.iter().map(tools::ToolSpec::describe).collect();
            plain(complete(json!({"tools": tools}), modern, true))
        }
        "tools/call" => {
            call(mcp, params, &latency).await.map(|r| Answer { result: complete(r, modern, false), new_session: None })
        }
        other => Err(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    }
}

async fn call(mcp: &Arc<Mcp>, params: &Map<String, Value>, latency: &InjectedLatency) -> Result<Value, RpcError> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(RpcError::new(INVALID_PARAMS, "Invalid params: tools/call needs a string `name`"));
    };
    let Some(tool) = tools::find(name) else {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        return Err(RpcError::new(INVALID_PARAMS, format!("Unknown tool: {name}. Tools: {}", names.join(", "))));
    };
    let empty = Map::new();
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(a)) => a,
        Some(_) => return Err(RpcError::new(INVALID_PARAMS, "Invalid params: `arguments` must be an object")),
    };
    tool.check(arguments)?;
    let busy = || {
        mcp.telemetry.event("server_busy", name);
        RpcError::new(
            SERVER_BUSY,
            format!(
                "Server busy: {} tool executions in flight (limit {}). Retry later.",
                mcp.config.max_concurrent_tools, mcp.config.max_concurrent_tools
            ),
        )
    };
    let _slot = match mcp.config.over_limit {
        OverLimit::Reject => mcp.slots.clone().try_acquire_owned().map_err(|_| busy())?,
        OverLimit::Queue => {
            let wait = Duration::from_millis(mcp.config.queue_timeout_ms);
            match tokio::time::timeout(wait, mcp.slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => slot,
                _ => return Err(busy()),
            }
        }
    };
    crate::faults::hold(latency.duration, &latency.release).await;
    let outcome = if tool.scans_the_tree() && mcp.sandbox.bytes() > INLINE_SCAN_BYTES {
        // Searches, status and diffs read the whole (bounded) tree: past a small size, off the
        // async workers, so other requests on this process do not wait for them.
        let (owner, arguments) = (mcp.clone(), arguments.clone());
        tokio::task::spawn_blocking(move || tools::run(tool, &arguments, &owner.sandbox, &owner.pages))
            .await
            .map_err(|e| RpcError::new(super::jsonrpc::INTERNAL_ERROR, format!("Internal error: {e}")))?
    } else {
        tools::run(tool, arguments, &mcp.sandbox, &mcp.pages)
    };
    if let Some(violation) = &outcome.violation {
        mcp.telemetry.event("sandbox_violation", name);
        tracing::warn!(tool = name, violation = %violation.escape_debug(), "sandbox escape refused");
    }
    let mut result = json!({"content": [{"type": "text", "text": outcome.text}], "isError": outcome.is_error});
    if let Some(structured) = outcome.structured {
        result["structuredContent"] = structured;
    }
    Ok(result)
}
