//! `loadsuite selftest`: proves the pipeline catches what it should and stays quiet otherwise.
//! Against the mocks (embedded or given with --target) it records a baseline from several clean
//! runs, judges several more clean runs against it (the A/A part: a measured false-alarm count),
//! then injects each failure mode of the catalog through the mocks' admin API and checks the
//! verdict flags exactly the affected rows with the right diagnosis. It judges with the shipped
//! default thresholds. Fault randomness is fresh per run, derived from the run's seed, so `--seed`
//! reproduces a self-test while its runs differ as real ones do. Each mode also runs alone as
//! `loadsuite repro NAME`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::formats::InputError;
use crate::formats::baseline::Baseline;
use crate::run::{RunOptions, run};
use crate::scenario;
use crate::verdict::model::CheckKind;
use crate::verdict::{self, Thresholds, Verdict, baseline};

/// What a mode's faults may depend on.
pub(crate) struct ModeContext {
    /// Length of each run.
    pub run_time: Duration,
    /// The baseline's median chat latency (ms): "twice as long" adds this much.
    pub chat_p50_ms: f64,
}

/// How a mode's run is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// The self-test scenario with this chat model.
    Standard(&'static str),
    /// The scenario without its `/health` task.
    WithoutHealth,
    /// Stopped (as by Ctrl-C) a little over half-way.
    Interrupted,
    /// Arrival-rate load on chat with at most two iterations in flight, so the schedule is missed.
    OpenDropping,
    /// Agent turns alone (retrieve, list tools, model calls, `git_log` calls), judged against a
    /// baseline of their own.
    Agent,
}

/// What the verdict must show.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Exactly these endpoints fail (in every stage, or only in `stage`), nothing else.
    Flags {
        /// The endpoints.
        endpoints: &'static [&'static str],
        /// Only this stage's rows (0-based), when given.
        stage: Option<usize>,
    },
    /// This run-level check fails or is inconclusive, the overall verdict is not a pass, and no
    /// endpoint row fails.
    RunCheck(CheckKind),
}

/// One failure mode: the faults it injects, how the run is driven, what the verdict must show.
pub(crate) struct Mode {
    /// Name (`loadsuite repro NAME`).
    pub name: &'static str,
    /// What a user sees.
    pub symptom: &'static str,
    /// (service, fault rule) pairs installed through `/__admin/faults`; the service
    /// `gateway-models` posts a model (its tool policy, say) to the gateway's `/__admin/models`,
    /// and the gateway is reset after the run.
    pub faults: fn(&ModeContext) -> Vec<(&'static str, Value)>,
    /// How the run is driven.
    pub workload: Workload,
    /// What the verdict must show.
    pub expect: Expect,
    /// Text the diagnosis (or the failing check) must contain.
    pub diagnosis: &'static str,
}

const QUERY: &str = "POST /v1/query";
const CHAT: &str = "POST /v1/chat/completions";
const STREAM: &str = "POST /v1/chat/completions (stream)";
const HEALTH: &str = "GET /health";
const MCP: &str = "MCP tools/call git_status";
const TURN: &str = "AGENT turn";
const TOOL: &str = "AGENT tool git_log";
const RETRIEVE: &str = "AGENT retrieve";
/// Most agent users (the second stage's): under the MCP mock's 8 tool slots in the first stage,
/// over them in the second.
const AGENT_USERS: u32 = 12;
const STANDARD: Workload = Workload::Standard("gpt-4o-mini");

/// The background fault every run carries: 0.33% of RAG queries fail, so error-rate changes are
/// judged against a realistic, non-zero baseline that is within the default 1% target.
fn background() -> (&'static str, Value) {
    (
        "rag",
        json!({"name": "background", "probability": 0.0033, "match": {"path": "/v1/query"}, "error": {"status": 500, "code": "db_error"}}),
    )
}

fn none(_: &ModeContext) -> Vec<(&'static str, Value)> {
    Vec::new()
}

/// The catalog.
pub(crate) const CATALOG: &[Mode] = &[
    Mode {
        name: "clean",
        symptom: "nothing changed: no row may be flagged (the A/A part runs this several times)",
        faults: none,
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[], stage: None },
        diagnosis: "",
    },
    Mode {
        name: "unknown-model",
        symptom: "every chat request names a model the gateway does not serve: 100% chat failures",
        faults: none,
        workload: Workload::Standard("qwen2.5-14b-instruct"),
        expect: Expect::Flags { endpoints: &[CHAT, STREAM], stage: None },
        diagnosis: "model `qwen2.5-14b-instruct`",
    },
    Mode {
        name: "latency-doubled",
        symptom: "chat completions take twice as long (the baseline's median added to each)",
        faults: |c| {
            vec![(
                "gateway",
                json!({"name": "slow-chat", "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": c.chat_p50_ms}}),
            )]
        },
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[CHAT, STREAM], stage: None },
        diagnosis: "",
    },
    Mode {
        name: "error-rate-5pct",
        symptom: "RAG query errors rise from 0.33% to 5%",
        faults: |_| {
            vec![(
                "rag",
                json!({"name": "more-errors", "probability": 0.047, "match": {"path": "/v1/query"}, "error": {"status": 500, "code": "db_error"}}),
            )]
        },
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[QUERY], stage: None },
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
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[QUERY], stage: None },
        diagnosis: "vector_store_timeout",
    },
    Mode {
        name: "mcp-concurrency-limit",
        symptom: "slow tools fill the MCP server's 8 concurrency slots once the second stage brings 12 MCP users: further calls are refused as busy",
        faults: |_| {
            vec![(
                "mcp",
                json!({"name": "slow-tool", "match": {"attribute": "git_status"}, "latency": {"kind": "fixed", "ms": 1500}}),
            )]
        },
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[MCP], stage: Some(1) },
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
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[HEALTH], stage: None },
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
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[STREAM], stage: None },
        diagnosis: "stream_cut",
    },
    Mode {
        name: "degradation-mid-run",
        symptom: "chat latency doubles a third of the way through the run",
        faults: |c| {
            let after = c.run_time.as_secs_f64() / 3.0;
            vec![(
                "gateway",
                json!({"name": "mid-run", "window": {"after_seconds": after}, "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": 2.0 * c.chat_p50_ms}}),
            )]
        },
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[CHAT, STREAM], stage: None },
        diagnosis: "",
    },
    Mode {
        name: "last-stage-regression",
        symptom: "chat latency doubles only in the last (heaviest) stage: judged like the first",
        faults: |c| {
            let after = c.run_time.as_secs_f64() / 2.0 + 0.3;
            vec![(
                "gateway",
                json!({"name": "last-stage", "window": {"after_seconds": after}, "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": c.chat_p50_ms}}),
            )]
        },
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[CHAT, STREAM], stage: Some(1) },
        diagnosis: "",
    },
    Mode {
        name: "missing-endpoint",
        symptom: "the health checks were removed from the load test: a baselined endpoint is not measured",
        faults: none,
        workload: Workload::WithoutHealth,
        expect: Expect::Flags { endpoints: &[HEALTH], stage: None },
        diagnosis: "",
    },
    Mode {
        name: "interrupted-run",
        symptom: "the run is stopped (Ctrl-C) half-way: its partial results are never a pass",
        faults: none,
        workload: Workload::Interrupted,
        expect: Expect::RunCheck(CheckKind::RunCompleted),
        diagnosis: "stopped",
    },
    Mode {
        name: "hung-target",
        symptom: "the gateway accepts connections and never answers: every request sent is a failure",
        faults: |_| vec![("gateway", json!({"name": "hung", "transport": {"kind": "hang", "max_ms": 60000}}))],
        workload: STANDARD,
        expect: Expect::Flags { endpoints: &[HEALTH, CHAT, STREAM], stage: None },
        diagnosis: "unfinished",
    },
    Mode {
        name: "dropped-iterations",
        symptom: "an arrival-rate run cannot start its iterations (slow answers, max in flight reached)",
        faults: |_| {
            vec![(
                "gateway",
                json!({"name": "slow", "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": 300}}),
            )]
        },
        workload: Workload::OpenDropping,
        expect: Expect::RunCheck(CheckKind::ScheduleKept),
        diagnosis: "dropped",
    },
    Mode {
        name: "agent-slow-tool",
        symptom: "one MCP tool (git_log) answers 50 ms slower: agent turns are slower, and the diagnosis names the step",
        faults: |_| {
            vec![
                agent_model(0.0),
                (
                    "mcp",
                    json!({"name": "slow-git-log", "match": {"attribute": "git_log"}, "latency": {"kind": "fixed", "ms": 50}}),
                ),
            ]
        },
        workload: Workload::Agent,
        expect: Expect::Flags { endpoints: &[TOOL, TURN], stage: None },
        diagnosis: "the step `tool git_log`",
    },
    Mode {
        name: "agent-mcp-busy",
        symptom: "slow tools fill the MCP server's 8 slots once the second stage brings 12 agents: their tool calls are refused as busy",
        faults: |_| {
            vec![
                agent_model(0.0),
                (
                    "mcp",
                    json!({"name": "stuck-git-log", "match": {"attribute": "git_log"}, "latency": {"kind": "fixed", "ms": 1500}}),
                ),
            ]
        },
        workload: Workload::Agent,
        expect: Expect::Flags { endpoints: &[TOOL, TURN], stage: Some(1) },
        diagnosis: "server_busy",
    },
    Mode {
        name: "agent-malformed-arguments",
        symptom: "the model sends its tool arguments cut short (not JSON): every turn fails before its tool runs, so the tool row goes missing",
        faults: |_| vec![agent_model(1.0)],
        workload: Workload::Agent,
        expect: Expect::Flags { endpoints: &[TOOL, TURN], stage: None },
        diagnosis: "invalid_tool_arguments",
    },
    Mode {
        name: "agent-slow-retrieval",
        symptom: "RAG queries answer 50 ms slower: the agent's retrieval step and its turns are slower",
        faults: |_| {
            vec![
                agent_model(0.0),
                (
                    "rag",
                    json!({"name": "slow-query", "match": {"path": "/v1/query"}, "latency": {"kind": "fixed", "ms": 50}}),
                ),
            ]
        },
        workload: Workload::Agent,
        expect: Expect::Flags { endpoints: &[RETRIEVE, TURN], stage: None },
        diagnosis: "the step `retrieve`",
    },
];

/// The model agent runs use: quick (10 ms to the first token, instant words), so a turn is short
/// against what the modes add, with `invalid_arguments` as given.
fn agent_model(invalid_arguments: f64) -> (&'static str, Value) {
    (
        "gateway-models",
        json!({"id": AGENT_MODEL, "kind": "chat", "ttft_ms": 10, "tools": {"invalid_arguments": invalid_arguments}}),
    )
}

const AGENT_MODEL: &str = "selftest-agent";

/// The clean agent run its baseline is recorded from.
const AGENT_CLEAN: Mode = Mode {
    name: "agent-clean",
    symptom: "agent turns, nothing changed",
    faults: |_| vec![agent_model(0.0)],
    workload: Workload::Agent,
    expect: Expect::Flags { endpoints: &[], stage: None },
    diagnosis: "",
};

/// The scenario every self-test run uses: two stages (half the users, then all).
fn scenario_text(targets: &BTreeMap<String, String>, workload: Workload, users: u32, run_time: Duration) -> String {
    if workload == Workload::Agent {
        return agent_scenario_text(targets, users.min(AGENT_USERS), run_time);
    }
    let chat_model = match workload {
        Workload::Standard(model) => model,
        _ => "gpt-4o-mini",
    };
    let health = if workload == Workload::WithoutHealth {
        ""
    } else {
        "  { kind = \"http\", path = \"/health\", weight = 2 },\n"
    };
    let half = run_time.as_secs_f64() / 2.0;
    let load = if workload == Workload::OpenDropping {
        format!(
            "shape = \"arrival\"\nmax_in_flight = 2\nstages = [{{ rate = 40, duration = \"{}s\" }}]",
            run_time.as_secs_f64()
        )
    } else {
        format!(
            "shape = \"stages\"\nstages = [{{ users = {}, spawn_rate = 1000, duration = \"{half}s\" }}, {{ users = {users}, spawn_rate = 1000, duration = \"{half}s\" }}]",
            users / 2
        )
    };
    format!(
        r#"name = "selftest"
description = "the pipeline's self-test workload"
[targets]
gateway = "{}"
rag = "{}"
mcp = "{}"

[[users]]
name = "mixed"
weight = 6
target = "gateway"
think = {{ kind = "constant", seconds = 0.02 }}
tasks = [
{health}  {{ kind = "chat", model = "{chat_model}", max_tokens = 12, weight = 1 }},
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
{load}
"#,
        targets["gateway"], targets["rag"], targets["mcp"],
    )
}

/// The agent modes' scenario: agent turns alone, two stages (half the users, then all).
fn agent_scenario_text(targets: &BTreeMap<String, String>, users: u32, run_time: Duration) -> String {
    let half = run_time.as_secs_f64() / 2.0;
    format!(
        r#"name = "selftest-agent"
description = "the pipeline's self-test workload for agent turns"
[targets]
gateway = "{}"
rag = "{}"
mcp = "{}"

[[users]]
name = "agent"
target = "gateway"
think = {{ kind = "constant", seconds = 0.02 }}
tasks = [{{ kind = "agent", model = "{AGENT_MODEL}", max_tokens = 12, rag_target = "rag", tools = ["git_log"], max_steps = 4 }}]

[load]
shape = "stages"
stages = [{{ users = {}, spawn_rate = 1000, duration = "{half}s" }}, {{ users = {users}, spawn_rate = 1000, duration = "{half}s" }}]
"#,
        targets["gateway"],
        targets["rag"],
        targets["mcp"],
        (users / 2).max(1),
    )
}

/// One row of the detection matrix.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    /// Mode name (`clean #2` for the A/A runs).
    pub mode: String,
    /// What had to be flagged.
    pub expected: Vec<String>,
    /// Rows (`stage N endpoint`) or run checks the verdict failed.
    pub flagged: Vec<String>,
    /// Whether the diagnosis named the expected kind.
    pub diagnosed: bool,
    /// Overall verdict.
    pub verdict: String,
    /// Whether the row is right.
    pub ok: bool,
}

/// The A/A part's figure: clean runs judged, and how many raised an alarm.
#[derive(Debug, Serialize)]
pub(crate) struct FalseAlarms {
    /// Clean runs judged against the baseline.
    pub runs: usize,
    /// Of those, runs with any failing row or run check.
    pub alarms: usize,
    /// Runs judged inconclusive overall.
    pub inconclusive: usize,
}

/// Everything the self-test found.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// The detection matrix.
    pub rows: Vec<Row>,
    /// The A/A figure (absent when a single mode ran).
    pub false_alarms: Option<FalseAlarms>,
}

impl Outcome {
    /// Whether every row is right.
    pub(crate) fn ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }
}

/// Why the self-test could not run.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    /// A run failed.
    #[error("run failed: {0}")]
    Run(#[from] crate::run::RunError),
    /// A verdict failed.
    #[error("verdict failed: {0}")]
    Verdict(#[from] InputError),
    /// The admin API refused a fault.
    #[error("admin API of {0}: {1}. Are the targets the project's mocks?")]
    Admin(String, String),
    /// A report could not be written.
    #[error("cannot write the reports of {0}: {1}")]
    Write(String, std::io::Error),
}

/// Installs `faults` through each mock's admin API, replacing what was there (an empty list clears).
pub(crate) async fn install_faults(
    client: &reqwest::Client,
    targets: &BTreeMap<String, String>,
    faults: &[(&str, Value)],
) -> Result<(), SelftestError> {
    for model in faults.iter().filter(|(s, _)| *s == "gateway-models").map(|(_, m)| m) {
        let url = format!("{}/__admin/models", targets["gateway"]);
        admin(client.post(&url).json(model), url).await?;
    }
    for service in ["gateway", "rag", "mcp"] {
        let url = format!("{}/__admin/faults", targets[service]);
        let rules: Vec<&Value> = faults.iter().filter(|(s, _)| *s == service).map(|(_, r)| r).collect();
        admin(client.put(&url).json(&rules), url).await?;
    }
    Ok(())
}

/// Sends one admin request (with the admin token when `MOCKS_ADMIN_TOKEN` is set), refused
/// answers as errors.
async fn admin(request: reqwest::RequestBuilder, url: String) -> Result<(), SelftestError> {
    let request = match std::env::var("MOCKS_ADMIN_TOKEN") {
        Ok(token) => request.bearer_auth(token),
        Err(_) => request,
    };
    let response = request.send().await.map_err(|e| SelftestError::Admin(url.clone(), e.to_string()))?;
    if !response.status().is_success() {
        return Err(SelftestError::Admin(url, response.text().await.unwrap_or_default()));
    }
    Ok(())
}

/// Settings of a self-test.
#[derive(Debug, Clone)]
pub(crate) struct SelftestOptions {
    /// Target URLs (`gateway`, `rag`, `mcp`).
    pub targets: BTreeMap<String, String>,
    /// Where runs and the matrix go.
    pub out: PathBuf,
    /// Length of each run.
    pub run_time: Duration,
    /// Users per run (the second stage's; the first has half).
    pub users: u32,
    /// Seed of the first run; each later run uses the next one.
    pub seed: u64,
    /// Runs merged into the baseline.
    pub baseline_runs: usize,
    /// Clean runs judged against it (the A/A part).
    pub aa_runs: usize,
}

/// Runs one mode into `out/name` with seed `seed`; returns the results directory.
async fn run_mode(
    mode: &Mode,
    options: &SelftestOptions,
    context: &ModeContext,
    name: &str,
    seed: u64,
) -> Result<PathBuf, SelftestError> {
    let client = reqwest::Client::new();
    let mut faults = vec![background()];
    faults.extend((mode.faults)(context));
    // Fresh randomness per run, reproducible from the run's seed.
    for (i, (_, rule)) in faults.iter_mut().enumerate().filter(|(_, (service, _))| *service != "gateway-models") {
        rule["seed"] = json!(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64));
    }
    install_faults(&client, &options.targets, &faults).await?;
    let text = scenario_text(&options.targets, mode.workload, options.users, options.run_time);
    let scenario = scenario::parse(&text, "selftest.toml", "selftest").expect("the self-test scenario is valid");
    let mut run_options = RunOptions::new(options.out.join(name));
    run_options.preflight = false;
    run_options.overwrite = true;
    run_options.seed = seed;
    run_options.timeout = Duration::from_secs(30);
    run_options.drain = Duration::from_secs(2);
    if mode.workload == Workload::Interrupted {
        let stop = run_options.stop.clone();
        let after = options.run_time.mul_f64(0.7);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.cancel();
        });
    }
    let outcome = run(scenario, run_options).await;
    install_faults(&client, &options.targets, &[]).await?;
    if faults.iter().any(|(s, _)| *s == "gateway-models") {
        // The configured models again (the journal and counters are cleared too).
        let url = format!("{}/__admin/reset", options.targets["gateway"]);
        admin(client.post(&url), url).await?;
    }
    Ok(outcome?.out)
}

fn judge(mode: &Mode, label: String, base: &Baseline, run: &Path) -> Result<Row, SelftestError> {
    let report = verdict::judge(Some((Path::new("selftest-baseline.json"), base)), run, Thresholds::default())?;
    verdict::write_reports(&report, run).map_err(|e| SelftestError::Write(run.display().to_string(), e))?;
    let mut flagged: Vec<String> = report
        .endpoints
        .iter()
        .filter(|e| e.verdict.fails())
        .map(|e| format!("stage {} {}", e.stage + 1, e.endpoint))
        .collect();
    flagged.extend(
        report.run_checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive).map(|c| format!("run: {}", c.name)),
    );
    let text: Vec<String> =
        report.diagnosis.iter().cloned().chain(report.run_checks.iter().map(|c| c.detail.clone())).collect();
    let diagnosed = mode.diagnosis.is_empty() || text.iter().any(|d| d.contains(mode.diagnosis));
    let (expected, ok) = match mode.expect {
        Expect::Flags { endpoints, stage } => {
            let stages: Vec<usize> = match stage {
                Some(s) => vec![s],
                None => {
                    let mut s: Vec<usize> = report.endpoints.iter().map(|e| e.stage).collect();
                    s.dedup();
                    s
                }
            };
            let mut want: Vec<String> =
                stages.iter().flat_map(|s| endpoints.iter().map(move |e| format!("stage {} {e}", s + 1))).collect();
            want.sort();
            let mut got: Vec<String> = flagged.iter().filter(|f| !f.starts_with("run: ")).cloned().collect();
            got.sort();
            let run_failed = report.run_checks.iter().any(|c| c.verdict.fails());
            (want.clone(), got == want && !run_failed)
        }
        Expect::RunCheck(kind) => {
            let hit = report.run_checks.iter().any(|c| c.kind == kind && c.verdict >= Verdict::Inconclusive);
            let rows_fail = report.endpoints.iter().any(|e| e.verdict.fails());
            (vec![format!("run: {}", kind.label())], hit && !rows_fail && report.overall >= Verdict::Inconclusive)
        }
    };
    Ok(Row { mode: label, ok: ok && diagnosed, expected, flagged, diagnosed, verdict: report.overall.label() })
}

/// Runs the catalog (or one mode of it); returns the detection matrix and the A/A figure.
pub(crate) async fn selftest(options: &SelftestOptions, only: Option<&str>) -> Result<Outcome, SelftestError> {
    std::fs::create_dir_all(&options.out).ok();
    let clean = &CATALOG[0];
    let mut seed = options.seed;
    let mut next_seed = || {
        seed += 1;
        seed - 1
    };
    let placeholder = ModeContext { run_time: options.run_time, chat_p50_ms: 0.0 };
    let chosen = |m: &&Mode| only.is_none_or(|o| o == m.name);
    let standard = CATALOG.iter().filter(chosen).any(|m| m.workload != Workload::Agent);
    let mut rows = Vec::new();
    let mut false_alarms = None;
    if standard {
        let mut base_runs = Vec::new();
        for i in 0..options.baseline_runs.max(1) {
            base_runs.push(run_mode(clean, options, &placeholder, &format!("baseline-{}", i + 1), next_seed()).await?);
        }
        let inputs: Vec<&Path> = base_runs.iter().map(PathBuf::as_path).collect();
        let base = baseline::build(&inputs, &baseline::BuildOptions::default())?;
        baseline::write(&base, &options.out.join("baseline.json"))
            .map_err(|e| SelftestError::Write(options.out.display().to_string(), e))?;
        let chat_p50_ms = base
            .scenarios
            .get("selftest")
            .and_then(|s| s.stages.get(&0))
            .and_then(|s| s.get(CHAT))
            .and_then(|m| m.percentile("p50", 0.5))
            .unwrap_or(200.0);
        let context = ModeContext { run_time: options.run_time, chat_p50_ms };
        if only.is_none_or(|o| o == clean.name) {
            let runs = if only.is_some() { 1 } else { options.aa_runs.max(1) };
            let mut figure = FalseAlarms { runs, alarms: 0, inconclusive: 0 };
            for i in 0..runs {
                let name = format!("clean-{}", i + 1);
                let run = run_mode(clean, options, &context, &name, next_seed()).await?;
                let row = judge(clean, format!("clean #{}", i + 1), &base, &run)?;
                figure.alarms += usize::from(!row.ok);
                figure.inconclusive += usize::from(row.verdict == Verdict::Inconclusive.label());
                rows.push(row);
            }
            false_alarms = only.is_none().then_some(figure);
        }
        for mode in CATALOG.iter().skip(1).filter(chosen).filter(|m| m.workload != Workload::Agent) {
            let run = run_mode(mode, options, &context, mode.name, next_seed()).await?;
            rows.push(judge(mode, mode.name.into(), &base, &run)?);
        }
    }
    // Agent turns are judged against a baseline of their own agent runs.
    let agent_modes: Vec<&Mode> = CATALOG.iter().filter(chosen).filter(|m| m.workload == Workload::Agent).collect();
    if !agent_modes.is_empty() {
        let mut runs = Vec::new();
        for i in 0..options.baseline_runs.max(1) {
            let name = format!("agent-baseline-{}", i + 1);
            runs.push(run_mode(&AGENT_CLEAN, options, &placeholder, &name, next_seed()).await?);
        }
        let inputs: Vec<&Path> = runs.iter().map(PathBuf::as_path).collect();
        let agent_base = baseline::build(&inputs, &baseline::BuildOptions::default())?;
        for mode in agent_modes {
            let run = run_mode(mode, options, &placeholder, mode.name, next_seed()).await?;
            rows.push(judge(mode, mode.name.into(), &agent_base, &run)?);
        }
    }
    Ok(Outcome { rows, false_alarms })
}

/// The matrix as Markdown.
pub(crate) fn matrix(outcome: &Outcome) -> String {
    let mut out = String::from(
        "| failure mode | expected to flag | flagged | diagnosis | verdict | result |\n|---|---|---|---|---|---|\n",
    );
    for r in &outcome.rows {
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
    if let Some(f) = &outcome.false_alarms {
        out.push_str(&format!(
            "\nA/A: {} of {} clean runs raised an alarm ({} inconclusive). This measures the self-test's setup only; the calibrated false-alarm rate is in bench/results/verdicts.md.\n",
            f.alarms, f.runs, f.inconclusive
        ));
    }
    out
}

/// Writes the matrix as `detection-matrix.md` and `.json` into `out`; returns the Markdown and
/// the `.md` path.
pub(crate) fn write_matrix(outcome: &Outcome, out: &Path) -> std::io::Result<(String, PathBuf)> {
    let table = matrix(outcome);
    let md = out.join("detection-matrix.md");
    crate::output::write_atomic(&md, |w| std::io::Write::write_all(w, table.as_bytes()))?;
    crate::output::write_atomic(&out.join("detection-matrix.json"), |w| {
        serde_json::to_writer_pretty(w, outcome).map_err(std::io::Error::other)
    })?;
    Ok((table, md))
}
