//! The official `mcp` Python client (2.x) against the MCP mock on a real socket, once with
//! `mode="legacy"` (initialize handshake) and once with `mode="auto"` (probes `server/discover`
//! first): list tools, call a file and a git tool, see a sandbox refusal as a tool error.
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
