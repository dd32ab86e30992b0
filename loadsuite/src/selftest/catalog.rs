//! The self-test's catalog: each failure mode the mocks can inject, how its run is driven and
//! what the verdict must show (also `loadsuite repro NAME`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::verdict::model::CheckKind;

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

pub(super) const QUERY: &str = "POST /v1/query";
pub(super) const CHAT: &str = "POST /v1/chat/completions";
pub(super) const STREAM: &str = "POST /v1/chat/completions (stream)";
pub(super) const HEALTH: &str = "GET /health";
pub(super) const MCP: &str = "MCP tools/call git_status";
pub(super) const TURN: &str = "AGENT turn";
pub(super) const TOOL: &str = "AGENT tool git_log";
pub(super) const RETRIEVE: &str = "AGENT retrieve";
/// Most agent users (the second stage's): under the MCP mock's 8 tool slots in the first stage,
/// over them in the second.
pub(super) const AGENT_USERS: u32 = 12;
pub(super) const STANDARD: Workload = Workload::Standard("gpt-4o-mini");

/// The background fault every run carries: 0.33% of RAG queries fail, so error-rate changes are
/// judged against a realistic, non-zero baseline that is within the default 1% target.
pub(super) fn background() -> (&'static str, Value) {
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

pub(super) const AGENT_MODEL: &str = "selftest-agent";

/// The clean agent run its baseline is recorded from.
pub(super) const AGENT_CLEAN: Mode = Mode {
    name: "agent-clean",
    symptom: "agent turns, nothing changed",
    faults: |_| vec![agent_model(0.0)],
    workload: Workload::Agent,
    expect: Expect::Flags { endpoints: &[], stage: None },
    diagnosis: "",
};
