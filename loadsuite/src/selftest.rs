//! `loadsuite selftest`: proves the pipeline catches what it should. Against the mocks (embedded or
//! given with --target), it records a clean baseline, checks a clean A/A run passes, then injects
//! each failure mode of the catalog through the mocks' admin API and checks the verdict flags
//! exactly the affected endpoints with the right diagnosis. Each mode also runs alone as
//! `loadsuite repro NAME`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::run::{RunOptions, run};
use crate::scenario;
use crate::verdict::{self, Thresholds, Verdict, baseline};

/// One failure mode: the faults it injects, the endpoints it must flag, the kind it must name.
pub struct Mode {
    /// Name (`loadsuite repro NAME`).
    pub name: &'static str,
    /// What a user sees.
    pub symptom: &'static str,
    /// (service, fault rule) pairs installed through `/__admin/faults`.
    pub faults: fn(Duration) -> Vec<(&'static str, Value)>,
    /// Chat model the scenario asks for.
    pub chat_model: &'static str,
    /// Endpoints the verdict must flag (all others must not be).
    pub flagged: &'static [&'static str],
    /// Text the diagnosis must contain.
    pub diagnosis: &'static str,
}

const QUERY: &str = "POST /v1/query";
const CHAT: &str = "POST /v1/chat/completions";
const STREAM: &str = "POST /v1/chat/completions (stream)";
const HEALTH: &str = "GET /health";
const MCP: &str = "MCP tools/call git_status";

/// The background fault every run carries: 1% of RAG queries fail, so error-rate changes are
/// judged against a realistic, non-zero baseline.
fn background() -> (&'static str, Value) {
    (
        "rag",
        json!({"name": "background-1pct", "probability": 0.01, "match": {"path": "/v1/query"}, "error": {"status": 500, "code": "db_error"}}),
    )
}

/// The catalog.
pub const CATALOG: &[Mode] = &[
    Mode {
        name: "clean",
        symptom: "nothing changed: the verdict must pass (no false alarm)",
        faults: |_| vec![],
        chat_model: "gpt-4o-mini",
        flagged: &[],
        diagnosis: "",
    },
    Mode {
        name: "unknown-model",
        symptom: "every chat request names a model the gateway does not serve: 100% chat failures",
        faults: |_| vec![],
        chat_model: "qwen2.5-14b-instruct",
        flagged: &[CHAT, STREAM],
        diagnosis: "asked for model `qwen2.5-14b-instruct`",
    },
    Mode {
        name: "latency-doubled",
        symptom: "chat completions take twice as long",
        faults: |_| {
            vec![(
                "gateway",
                json!({"name": "slow-chat", "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": 400}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[CHAT, STREAM],
        diagnosis: "",
    },
    Mode {
        name: "error-rate-5pct",
        symptom: "RAG query errors rise from 1% to 5%",
        faults: |_| {
            vec![(
                "rag",
                json!({"name": "more-errors", "probability": 0.04, "match": {"path": "/v1/query"}, "error": {"status": 500, "code": "db_error"}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[QUERY],
        diagnosis: "db_error",
    },
    Mode {
        name: "vector-store-timeouts",
        symptom: "the vector store times out on a tenth of the queries (504 vector_store_timeout)",
        faults: |_| {
            vec![(
                "rag",
                json!({"name": "vs-timeout", "probability": 0.1, "match": {"path": "/v1/query"}, "latency": {"kind": "fixed", "ms": 50}, "error": {"status": 504}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[QUERY],
        diagnosis: "vector_store_timeout",
    },
    Mode {
        name: "mcp-concurrency-limit",
        symptom: "slow tools fill the MCP server's concurrency slots; further calls are refused as busy",
        faults: |_| {
            vec![(
                "mcp",
                json!({"name": "slow-tool", "match": {"attribute": "git_status"}, "latency": {"kind": "fixed", "ms": 1500}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[MCP],
        diagnosis: "server_busy",
    },
    Mode {
        name: "connection-resets",
        symptom: "a fifth of health checks have their connection reset",
        faults: |_| {
            vec![(
                "gateway",
                json!({"name": "resets", "probability": 0.2, "match": {"path": "/health"}, "transport": {"kind": "reset"}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[HEALTH],
        diagnosis: "connection_reset",
    },
    Mode {
        name: "truncated-streams",
        symptom: "a third of chat streams are cut before [DONE]",
        faults: |_| {
            vec![(
                "gateway",
                json!({"name": "cut", "probability": 0.33, "match": {"path": "/v1/chat/completions"}, "stream": {"cut_after_chunks": 3}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[STREAM],
        diagnosis: "stream_cut",
    },
    Mode {
        name: "degradation-mid-run",
        symptom: "chat latency doubles a third of the way through the run",
        faults: |run_time| {
            let after = run_time.as_secs_f64() / 3.0;
            vec![(
                "gateway",
                json!({"name": "mid-run", "window": {"after_seconds": after}, "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": 400}}),
            )]
        },
        chat_model: "gpt-4o-mini",
        flagged: &[CHAT, STREAM],
        diagnosis: "",
    },
];

/// The scenario every selftest run uses.
fn scenario_text(targets: &BTreeMap<String, String>, chat_model: &str, users: u32, run_time: Duration) -> String {
    format!(
        r#"name = "selftest"
description = "the pipeline's self-test workload"
[targets]
gateway = "{}"
rag = "{}"
mcp = "{}"

[[users]]
name = "mixed"
weight = 4
target = "gateway"
tasks = [
  {{ kind = "http", path = "/health", weight = 2 }},
  {{ kind = "chat", model = "{chat_model}", max_tokens = 12, weight = 1 }},
  {{ kind = "chat", model = "{chat_model}", max_tokens = 12, stream = true, weight = 1 }},
]

[[users]]
name = "rag"
target = "rag"
think = {{ kind = "constant", seconds = 0.002 }}
tasks = [{{ kind = "rag_query", query = "vector store timeout", weight = 1 }}]

[[users]]
name = "mcp"
weight = 3
target = "mcp"
think = {{ kind = "constant", seconds = 0.02 }}
tasks = [{{ kind = "mcp_tool", tool = "git_status", weight = 1 }}]

[load]
shape = "stages"
stages = [{{ users = {users}, spawn_rate = 1000, duration = "{}s" }}]
"#,
        targets["gateway"],
        targets["rag"],
        targets["mcp"],
        run_time.as_secs_f64()
    )
}

/// One row of the detection matrix.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Mode name.
    pub mode: String,
    /// Expected flagged endpoints.
    pub expected: Vec<String>,
    /// Endpoints the verdict flagged (regression).
    pub flagged: Vec<String>,
    /// Whether the diagnosis named the expected kind.
    pub diagnosed: bool,
    /// Overall verdict.
    pub verdict: String,
    /// Whether the row is right.
    pub ok: bool,
}

/// Why the self-test could not run.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    /// A run failed.
    #[error("run failed: {0}")]
    Run(#[from] crate::run::RunError),
    /// A verdict failed.
    #[error("verdict failed: {0}")]
    Verdict(#[from] baseline::InputError),
    /// The admin API refused a fault.
    #[error("admin API of {0}: {1}. Are the targets the project's mocks?")]
    Admin(String, String),
}

async fn admin(
    client: &reqwest::Client,
    targets: &BTreeMap<String, String>,
    faults: &[(&str, Value)],
) -> Result<(), SelftestError> {
    for service in ["gateway", "rag", "mcp"] {
        let url = format!("{}/__admin/faults", targets[service]);
        let rules: Vec<&Value> = faults.iter().filter(|(s, _)| *s == service).map(|(_, r)| r).collect();
        let response =
            client.put(&url).json(&rules).send().await.map_err(|e| SelftestError::Admin(url.clone(), e.to_string()))?;
        if !response.status().is_success() {
            return Err(SelftestError::Admin(url, response.text().await.unwrap_or_default()));
        }
    }
    Ok(())
}

/// Settings of a self-test.
#[derive(Debug, Clone)]
pub struct SelftestOptions {
    /// Target URLs (`gateway`, `rag`, `mcp`).
    pub targets: BTreeMap<String, String>,
    /// Where runs and the matrix go.
    pub out: PathBuf,
    /// Length of each run.
    pub run_time: Duration,
    /// Users per run.
    pub users: u32,
}

async fn run_mode(mode: &Mode, options: &SelftestOptions, name: &str) -> Result<PathBuf, SelftestError> {
    let client = reqwest::Client::new();
    let mut faults = vec![background()];
    faults.extend((mode.faults)(options.run_time));
    admin(&client, &options.targets, &faults).await?;
    let text = scenario_text(&options.targets, mode.chat_model, options.users, options.run_time);
    let scenario = scenario::parse(&text, "selftest.toml", "selftest").expect("the self-test scenario is valid");
    let mut run_options = RunOptions::new(options.out.join(name));
    run_options.preflight = false;
    run_options.timeout = Duration::from_secs(10);
    let outcome = run(scenario, run_options).await?;
    admin(&client, &options.targets, &[]).await?;
    Ok(outcome.out)
}

/// The thresholds the self-test judges with (the 1% background is within target).
pub fn thresholds() -> Thresholds {
    Thresholds { max_error_rate: 0.03, ..Thresholds::default() }
}

/// Judges one mode's run against the baseline.
fn judge(mode: &Mode, base: &baseline::Baseline, run: &Path) -> Result<Row, SelftestError> {
    let report = verdict::judge(Some((Path::new("selftest-baseline.json"), base)), run, thresholds())?;
    verdict::write_reports(&report, run).map_err(|e| SelftestError::Admin(run.display().to_string(), e.to_string()))?;
    let flagged: Vec<String> = report
        .endpoints
        .iter()
        .filter(|e| matches!(e.verdict, Verdict::Regression(_)))
        .map(|e| e.endpoint.clone())
        .collect();
    let mut expected: Vec<String> = mode.flagged.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    let mut got = flagged.clone();
    got.sort();
    got.dedup();
    let diagnosed = mode.diagnosis.is_empty() || report.diagnosis.iter().any(|d| d.contains(mode.diagnosis));
    Ok(Row {
        mode: mode.name.into(),
        ok: got == expected && diagnosed,
        expected,
        flagged: got,
        diagnosed,
        verdict: report.overall.label(),
    })
}

/// Runs the whole catalog; returns the detection matrix.
pub async fn selftest(options: &SelftestOptions, only: Option<&str>) -> Result<Vec<Row>, SelftestError> {
    std::fs::create_dir_all(&options.out).ok();
    let base_run = run_mode(&CATALOG[0], options, "baseline").await?;
    let base = baseline::build(&[&base_run])?;
    let mut rows = Vec::new();
    for mode in CATALOG.iter().filter(|m| only.is_none_or(|o| o == m.name)) {
        let run = run_mode(mode, options, mode.name).await?;
        rows.push(judge(mode, &base, &run)?);
    }
    Ok(rows)
}

/// The matrix as Markdown.
pub fn matrix(rows: &[Row]) -> String {
    let mut out = String::from(
        "| failure mode | expected to flag | flagged | diagnosis | verdict | result |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.mode,
            list(&r.expected),
            list(&r.flagged),
            if r.diagnosed { "ok" } else { "missing" },
            r.verdict,
            if r.ok {
                "detected"
            } else if r.expected.is_empty() {
                "FALSE ALARM"
            } else {
                "MISSED"
            }
        ));
    }
    out
}
