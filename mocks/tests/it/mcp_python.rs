//! The official `mcp` Python client (2.x) against the MCP mock on a real socket, once with
//! `mode="legacy"` (initialize handshake) and once with `mode="auto"` (probes `server/discover`
//! first): list tools, call a file and a git tool, see a sandbox refusal as a tool error. And an
//! agent loop of the official `openai` SDK whose tool calls run through the official `mcp` client.
//! Needs `pip install -r mocks/tests/python/requirements.txt` (CI's `.ci/run` does it).

use mocks::config::MocksConfig;
use mocks::stack::{ServiceKind, Stack};

async fn run_client(mode: &str) -> String {
    let stack =
        Stack::start(&MocksConfig::default(), &[(ServiceKind::Mcp, "127.0.0.1:0".parse().unwrap())]).await.unwrap();
    let url = format!("{}/mcp", stack.service(ServiceKind::Mcp).unwrap().url());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_client.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = tokio::process::Command::new(&python)
        .args(["-c", "from mcp import Client"])
        .output()
        .await
        .expect("python3 runs");
    assert!(probe.status.success(), "the `mcp` package is missing: pip install -r mocks/tests/python/requirements.txt");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(&python).arg(script).arg(&url).arg(mode).output(),
    )
    .await
    .expect("the client finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let counters = stack.service(ServiceKind::Mcp).unwrap().mcp().unwrap().telemetry.counters();
    assert_eq!(counters.events["sandbox_violation"]["read_file"], 1, "the server counted the refusal");
    stack.shutdown().await;
    stdout
}

#[tokio::test]
async fn official_client_legacy_handshake() {
    let stdout = run_client("legacy").await;
    assert!(stdout.contains("era legacy") && stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test]
async fn official_client_auto_mode_uses_the_stateless_era() {
    let stdout = run_client("auto").await;
    assert!(stdout.contains("era modern") && stdout.contains("all checks passed"), "{stdout}");
}

/// Agent code as users write it: the official `openai` SDK's tool loop executing each call
/// through the official `mcp` client. The mocks' own counters agree with what the client did:
/// every tool call the gateway's model emitted reached the MCP server exactly once, and every
/// model call reached the gateway once.
#[tokio::test]
async fn an_openai_sdk_tool_loop_runs_its_calls_through_the_mcp_sdk_and_the_journals_agree() {
    let stack = Stack::start(
        &MocksConfig::default(),
        &[(ServiceKind::Gateway, "127.0.0.1:0".parse().unwrap()), (ServiceKind::Mcp, "127.0.0.1:0".parse().unwrap())],
    )
    .await
    .unwrap();
    let gateway = stack.service(ServiceKind::Gateway).unwrap();
    let mcp = stack.service(ServiceKind::Mcp).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/agent_loop.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new(&python)
            .arg(script)
            .arg(gateway.url())
            .arg(format!("{}/mcp", mcp.url()))
            .arg("6")
            .output(),
    )
    .await
    .expect("the agent finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().find_map(|l| l.strip_prefix("summary ")).expect("a summary line")).unwrap();
    let (model_calls, tool_calls) = (summary["model_calls"].as_u64().unwrap(), summary["tool_calls"].as_u64().unwrap());
    assert!(tool_calls >= 6 && model_calls >= 12, "a tool round per turn, then words: {summary}");

    let emitted: u64 = gateway.gateway().unwrap().telemetry.counters().events["tool_call"].values().sum();
    let ran = mcp
        .mcp()
        .unwrap()
        .telemetry
        .journal(100_000)
        .iter()
        .filter(|e| e.attribute.as_deref().is_some_and(|a| a.starts_with("git_")))
        .count() as u64;
    let chats: u64 = gateway
        .gateway()
        .unwrap()
        .telemetry
        .counters()
        .requests
        .iter()
        .filter(|r| r.key.route == "/v1/chat/completions")
        .map(|r| r.count)
        .sum();
    assert_eq!((emitted, ran), (tool_calls, tool_calls), "emitted by the model = run by the MCP server = the client's");
    assert_eq!(chats, model_calls, "every model call reached the gateway once");
    stack.shutdown().await;
}
