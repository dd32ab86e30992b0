//! Helpers for loadsuite's tests: the mock stack on 127.0.0.1:0 and a run into a temp directory.

#![allow(dead_code, missing_docs)]

use std::path::PathBuf;

use loadsuite::run::{RunOptions, RunOutcome, run};
use loadsuite::scenario;
use mocks::config::MocksConfig;
use mocks::stack::{ServiceKind, Stack};
use serde_json::Value;

/// The machine, shared between the tests of this binary. Tests whose verdicts other tests' load
/// would disturb (timing, A/A comparisons, a clean night that must pass) hold it exclusively
/// (`write`); tests that only generate load share it (`read`), so they never overlap the former.
pub(crate) static QUIET: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub(crate) struct Mocks {
    pub stack: Stack,
}

impl Mocks {
    pub(crate) async fn start(config_toml: &str) -> Self {
        let config = MocksConfig::from_toml(config_toml, "test.toml").expect("valid mock config");
        Mocks { stack: Stack::start_ephemeral(&config).await.expect("mocks start") }
    }

    pub(crate) fn url(&self, kind: ServiceKind) -> String {
        self.stack.service(kind).unwrap().url()
    }

    /// `[targets]` pointing at this stack.
    pub(crate) fn targets(&self) -> String {
        format!(
            "[targets]\ngateway = \"{}\"\nrag = \"{}\"\nmcp = \"{}\"\n",
            self.url(ServiceKind::Gateway),
            self.url(ServiceKind::Rag),
            self.url(ServiceKind::Mcp)
        )
    }

    pub(crate) fn gateway_counters(&self) -> mocks::telemetry::CountersView {
        self.stack.service(ServiceKind::Gateway).unwrap().gateway().unwrap().telemetry.counters()
    }
}

/// Serves `app` on 127.0.0.1 (an ephemeral port) for the rest of the test; returns its base URL.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadsuite-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs scenario text (targets included) and returns the outcome and `run.json`.
pub(crate) async fn run_text(text: &str, name: &str) -> (RunOutcome, Value) {
    let scenario = scenario::parse(text, &format!("{name}.toml"), name).unwrap_or_else(|e| panic!("{e}"));
    let outcome = run(scenario, RunOptions::new(temp_dir(name))).await.expect("run completes");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&outcome.run_json).unwrap()).unwrap();
    (outcome, json)
}

pub(crate) fn endpoint<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name}"))
}

/// Runs a real Locust (2 users, 4 s, `tests/python/locustfile.py`) against `host` with `--csv
/// DIR/locust`; returns the `_stats.csv` path.
pub(crate) async fn run_locust(host: &str, dir: &std::path::Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let locustfile = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/locustfile.py");
    let output = tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .args([
            "-m",
            "locust",
            "-f",
            locustfile,
            "--headless",
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "4s",
            "--only-summary",
            "--host",
            host,
        ])
        .arg("--csv")
        .arg(dir.join("locust"))
        .output()
        .await
        .expect("python3 runs");
    let stats = dir.join("locust_stats.csv");
    assert!(
        stats.exists(),
        "Locust did not run (pip install -r mocks/tests/python/requirements.txt): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stats
}
