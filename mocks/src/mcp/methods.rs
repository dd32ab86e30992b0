//! The JSON-RPC methods: `initialize`, `server/discover`, `ping`, `tools/list`, `tools/call`, as
//! one closed [`Method`] enum.
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
pub(super) struct Answer {
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
        // 2026-07-28: servers SHOULD identify themselves on every response.
        result["_meta"][era::SERVER_INFO_META] = server_info();
        if cacheable {
            result["ttlMs"] = json!(TTL_MS);
            result["cacheScope"] = json!("public");
        }
    }
    result
}

/// One JSON-RPC request method, parsed once from its name and params (one type per method, in
/// mini-redis's `Command` style): what a method needs is checked here, and [`Method::execute`] only
/// runs it.
#[derive(Debug)]
pub(super) enum Method {
    /// `initialize`: opens a session at the negotiated version.
    Initialize(Initialize),
    /// `server/discover`: the stateless era's capability discovery.
    Discover,
    /// `ping`.
    Ping,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`.
    ToolsCall(ToolsCall),
    /// Any other name: answered `-32601 Method not found`.
    Unknown(String),
}

/// `initialize`'s params.
#[derive(Debug)]
pub(super) struct Initialize {
    /// The version the client asks for.
    requested: String,
}

/// `tools/call`'s params: a known tool and arguments its schema accepts.
#[derive(Debug)]
pub(super) struct ToolsCall {
    tool: &'static tools::ToolSpec,
    arguments: Map<String, Value>,
}

impl Method {
    /// Parses a request's method and params; an `Err` is the `-32602 Invalid params` to answer.
    pub(super) fn parse(name: &str, mut params: Map<String, Value>) -> Result<Method, RpcError> {
        Ok(match name {
            "initialize" => {
                let Some(Value::String(requested)) = params.remove("protocolVersion") else {
                    return Err(RpcError::new(INVALID_PARAMS, "Invalid params: initialize needs `protocolVersion`"));
                };
                Method::Initialize(Initialize { requested })
            }
            "server/discover" => Method::Discover,
            "ping" => Method::Ping,
            "tools/list" => Method::ToolsList,
            "tools/call" => Method::ToolsCall(ToolsCall::parse(params)?),
            other => Method::Unknown(other.to_owned()),
        })
    }

    /// Runs the method. An injected latency delays every method (for `tools/call` inside its
    /// concurrency slot), so a rule that fires always adds what it says.
    pub(super) async fn execute(self, mcp: &Arc<Mcp>, era: &Era, latency: InjectedLatency) -> Result<Answer, RpcError> {
        let modern = era.is_modern();
        let plain = |result: Value| Ok(Answer { result, new_session: None });
        // Every method but `tools/call` (which waits inside its slot) waits first.
        let held = crate::faults::hold(latency.duration, &latency.release);
        match self {
            Method::ToolsCall(call) => plain(complete(call.execute(mcp, &latency).await?, modern, false)),
            Method::Initialize(initialize) => {
                held.await;
                Ok(initialize.execute(mcp))
            }
            Method::Discover => {
                held.await;
                plain(json!({
                    "resultType": "complete",
                    "supportedVersions": era::supported_versions(),
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                    "ttlMs": TTL_MS,
                    "cacheScope": "public",
                    "_meta": {era::SERVER_INFO_META: server_info()},
                }))
            }
            Method::Ping if modern => {
                held.await;
                Err(RpcError::new(METHOD_NOT_FOUND, "Method not found: ping (removed in 2026-07-28)"))
            }
            Method::Ping => {
                held.await;
                plain(complete(json!({}), modern, false))
            }
            Method::ToolsList => {
                held.await;
                let tools: Vec<Value> = TOOLS.iter().map(tools::ToolSpec::describe).collect();
                plain(complete(json!({"tools": tools}), modern, true))
            }
            Method::Unknown(name) => {
                held.await;
                Err(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {name}")))
            }
        }
    }
}

impl Initialize {
    fn execute(self, mcp: &Mcp) -> Answer {
        let version = era::negotiate(Some(&self.requested));
        let session = mcp.sessions.open(version);
        Answer {
            result: json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": server_info(),
                "instructions": INSTRUCTIONS,
            }),
            new_session: Some(session),
        }
    }
}

impl ToolsCall {
    fn parse(mut params: Map<String, Value>) -> Result<ToolsCall, RpcError> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(RpcError::new(INVALID_PARAMS, "Invalid params: tools/call needs a string `name`"));
        };
        let Some(tool) = tools::find(name) else {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            return Err(RpcError::new(INVALID_PARAMS, format!("Unknown tool: {name}. Tools: {}", names.join(", "))));
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a,
            Some(_) => return Err(RpcError::new(INVALID_PARAMS, "Invalid params: `arguments` must be an object")),
        };
        tool.check(&arguments)?;
        Ok(ToolsCall { tool, arguments })
    }

    async fn execute(self, mcp: &Arc<Mcp>, latency: &InjectedLatency) -> Result<Value, RpcError> {
        let ToolsCall { tool, arguments } = self;
        let name = tool.name;
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
            let owner = mcp.clone();
            tokio::task::spawn_blocking(move || tools::run(tool, &arguments, &owner.sandbox, &owner.pages))
                .await
                .map_err(|e| RpcError::new(super::jsonrpc::INTERNAL_ERROR, format!("Internal error: {e}")))?
        } else {
            tools::run(tool, &arguments, &mcp.sandbox, &mcp.pages)
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
}
