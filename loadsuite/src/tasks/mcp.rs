//! MCP tool calls: each simulated user opens one session (the initialize handshake) and reuses it;
//! a lost session (404) is opened again on the next call; the run ends it (`DELETE /mcp`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Http, Outcome, UserState, error_details, exchange};
use crate::stats::{Failure, FailureKind};

const VERSION: &str = "2025-11-25";

async fn open_session(client: &Http, url: &str, timeout: Duration) -> Result<String, Failure> {
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "loadsuite", "version": env!("CARGO_PKG_VERSION")}}});
    let response = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| Failure::new(FailureKind::from_reqwest(&e), e.to_string()))?;
    let status = response.status().as_u16();
    let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(session) = session.filter(|_| status == 200) else {
        return Err(Failure::new(
            FailureKind::Http { status, code: Some("mcp_initialize_failed".into()) },
            "initialize gave no session",
        ));
    };
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = client
        .post(url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", VERSION)
        .json(&note)
        .timeout(timeout)
        .send()
        .await;
    Ok(session)
}

/// One JSON-RPC request in the user's session (opened on first use, opened again after a 404);
/// a JSON-RPC error answer is a failure. Returns the outcome and the parsed answer.
async fn rpc(
    client: &Http,
    url: &str,
    user: &mut UserState,
    method: &str,
    params: Value,
    timeout: Duration,
) -> (Outcome, Option<Value>) {
    let session = match &user.mcp_session {
        Some((_, s)) => s.clone(),
        None => match open_session(client, url, timeout).await {
            Ok(s) => {
                user.mcp_session = Some((url.to_owned(), s.clone()));
                s
            }
            Err(failure) => return (Outcome { failure: Some(failure), ..Outcome::default() }, None),
        },
    };
    let body = json!({"jsonrpc": "2.0", "id": user.iteration, "method": method, "params": params});
    let request = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", VERSION)
        .json(&body)
        .timeout(timeout);
    // The whole answer is needed to read `isError`: kept up to a bound well past any tool's output.
    let (mut outcome, parsed) = exchange(request, None, 16 << 20).await;
    if let Some(Failure { kind: FailureKind::Http { status: 404, .. }, .. }) = &outcome.failure {
        user.mcp_session = None;
    }
    if outcome.failure.is_none()
        && let Some(value) = &parsed
        && value.get("error").is_some()
    {
        let (code, message) = error_details(value);
        outcome.failure = Some(Failure::new(FailureKind::Http { status: 200, code }, message.unwrap_or_default()));
    }
    (outcome, parsed)
}

/// One `tools/call` in the user's session; a tool reporting `isError` is a failure. Returns the
/// outcome and the text of the tool's answer.
pub(super) async fn call_tool(
    client: &Http,
    url: &str,
    user: &mut UserState,
    tool: &str,
    arguments: &Value,
    timeout: Duration,
) -> (Outcome, String) {
    let (mut outcome, parsed) =
        rpc(client, url, user, "tools/call", json!({"name": tool, "arguments": arguments}), timeout).await;
    let text = parsed.as_ref().and_then(|v| v["result"]["content"][0]["text"].as_str()).unwrap_or_default().to_owned();
    if outcome.failure.is_none() && parsed.as_ref().is_some_and(|v| v["result"]["isError"] == json!(true)) {
        let message = if text.is_empty() { "tool failed".to_owned() } else { text.clone() };
        outcome.failure = Some(Failure::new(FailureKind::ToolError, message));
    }
    (outcome, text)
}

/// One `tools/call` in the user's session (the `mcp_tool` task).
pub(super) async fn call(
    client: &Http,
    url: &str,
    user: &mut UserState,
    tool: &str,
    arguments: &Value,
    timeout: Duration,
) -> Outcome {
    call_tool(client, url, user, tool, arguments, timeout).await.0
}

/// `tools/list` in the user's session: the declared tools (`name`, `description`, `inputSchema`).
pub(super) async fn list_tools(
    client: &Http,
    url: &str,
    user: &mut UserState,
    timeout: Duration,
) -> (Outcome, Vec<Value>) {
    let (mut outcome, parsed) = rpc(client, url, user, "tools/list", json!({}), timeout).await;
    let tools = parsed.as_ref().and_then(|v| v["result"]["tools"].as_array()).cloned().unwrap_or_default();
    if outcome.failure.is_none() && tools.is_empty() {
        outcome.failure = Some(Failure::new(FailureKind::Protocol, "tools/list returned no tools"));
    }
    (outcome, tools)
}
