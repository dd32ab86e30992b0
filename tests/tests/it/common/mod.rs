//! Helpers shared by the end-to-end tests: runs through loadsuite's library, journals read over
//! the admin API, and the lock that keeps the container tests from loading each other's stacks.

#![allow(dead_code, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loadsuite::run::{RunOptions, RunOutcome, run};
use loadsuite::scenario;
use serde_json::Value;

/// One container test at a time: they share two cores, and their verdicts are timing-sensitive.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aistack-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs a shipped scenario against `targets`, fitted into `run_time` with `users` users.
pub(crate) async fn run_shipped(
    name: &str,
    targets: &BTreeMap<String, String>,
    users: Option<u32>,
    run_time: Duration,
    out: &Path,
    preflight: bool,
) -> RunOutcome {
    let mut scenario = scenario::load(name).expect("a shipped scenario");
    scenario.plan.override_users(users, users.map(f64::from));
    scenario.plan.fit(run_time);
    scenario.targets.extend(targets.clone());
    let mut options = RunOptions::new(out);
    options.preflight = preflight;
    options.timeout = Duration::from_secs(2);
    options.drain = Duration::from_secs(3);
    run(scenario, options).await.expect("the run completes")
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `run.json` rows: `"METHOD name" -> (requests, failures)`.
pub(crate) fn rows(run: &Value) -> BTreeMap<String, (u64, u64)> {
    run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                format!("{} {}", e["method"].as_str().unwrap(), e["name"].as_str().unwrap()),
                (e["requests"].as_u64().unwrap(), e["failures"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// What a service saw, grouped as loadsuite names its rows: for HTTP services the admin counters
/// per method and route (unbounded); for MCP the journal's tool calls as `MCP tools/call TOOL`
/// (the handshake requests are left out).
pub(crate) async fn service_rows(url: &str, service: &str) -> BTreeMap<String, u64> {
    let get = |path: &str| {
        let url = format!("{url}{path}");
        async move { reqwest::get(url).await.expect("admin API").json::<Value>().await.expect("admin JSON") }
    };
    let mut rows = BTreeMap::new();
    if service == "mcp" {
        for e in get("/__admin/journal?limit=100000").await["entries"].as_array().expect("entries") {
            // The attribute is the tool for tools/call, the method for the handshake.
            if let Some(tool) =
                e["attribute"].as_str().filter(|a| *a != "initialize" && !a.starts_with("notifications/"))
            {
                *rows.entry(format!("MCP tools/call {tool}")).or_default() += 1;
            }
        }
    } else {
        for r in get("/__admin/counters").await["requests"].as_array().expect("requests") {
            let key = format!("{} {}", r["method"].as_str().unwrap(), r["route"].as_str().unwrap());
            *rows.entry(key).or_default() += r["count"].as_u64().unwrap();
        }
    }
    rows
}

/// Files every run writes.
pub(crate) const RUN_FILES: [&str; 5] = [
    "run.json",
    "loadsuite_stats.csv",
    "loadsuite_stats_history.csv",
    "loadsuite_failures.csv",
    "loadsuite_exceptions.csv",
];

/// Judges `run` (against `baseline` when given) and writes the reports next to it.
pub(crate) fn judge(run: &Path, baseline: Option<&Path>) -> loadsuite::verdict::Report {
    let loaded = baseline.map(|b| loadsuite::formats::baseline::read(b).expect("baseline loads"));
    let report =
        loadsuite::verdict::judge(baseline.zip(loaded.as_ref()), run, loadsuite::verdict::Thresholds::default())
            .expect("judged");
    loadsuite::verdict::write_reports(&report, run).expect("reports written");
    report
}

/// Records a baseline from `run` into `file`.
pub(crate) fn record_baseline(run: &Path, file: &Path) {
    let options = loadsuite::verdict::baseline::BuildOptions::default();
    let baseline = loadsuite::verdict::baseline::build(&[run], &options).expect("baseline builds");
    loadsuite::verdict::baseline::write(&baseline, file).unwrap();
}
