//! MCP tool calls: each simulated user opens one session (the initialize handshake) and reuses it;
//! a lost session (404) is opened again on the next call; the run ends it (`DELETE /mcp`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Outcome, UserState, error_details, exchange};
use crate::stats::{Failure, FailureKind};

const VERSION: &str = "2025-11-25";

async fn open_session(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<String, Failure> {
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

/// One `tools/call` in the user's session.
pub async fn call(
    client: &reqwest::Client,
    url: &str,
    user: &mut UserState,
    tool: &str,
    arguments: &Value,
    timeout: Duration,
) -> Outcome {
    let session = match &user.mcp_session {
        Some((_, s)) => s.clone(),
        None => match open_session(client, url, timeout).await {
            Ok(s) => {
                user.mcp_session = Some((url.to_owned(), s.clone()));
                s
            }
            Err(failure) => return Outcome { failure: Some(failure), ..Outcome::default() },
        },
    };
    let body = json!({"jsonrpc": "2.0", "id": user.iteration, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
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
        && let Some(value) = parsed
    {
        if value.get("error").is_some() {
            let (code, message) = error_details(&value);
            outcome.failure = Some(Failure::new(FailureKind::Http { status: 200, code }, message.unwrap_or_default()));
        } else if value["result"]["isError"] == json!(true) {
            let text = value["result"]["content"][0]["text"].as_str().unwrap_or("tool failed").to_owned();
            outcome.failure = Some(Failure::new(FailureKind::ToolError, text));
        }
    }
    outcome
}
