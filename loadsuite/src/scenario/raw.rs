//! Scenario files exactly as written (TOML), before validation. See `scenarios/README.md`.

use std::collections::BTreeMap;

use common::locate::Segment;
use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Name (defaults to the file stem).
    pub name: Option<String>,
    /// One line saying what the scenario reproduces.
    pub description: Option<String>,
    /// Target name -> base URL.
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
    /// Values substituted for `${name}` in task fields.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Target name -> API key sent as `Authorization: Bearer` (`env:NAME` reads it from the
    /// environment).
    #[serde(default)]
    pub api_keys: BTreeMap<String, String>,
    /// Targets spoken to over HTTP/2 without TLS (h2c, prior knowledge): every user's requests
    /// to them multiplexed on one connection. Others get HTTP/1.1, a connection per user.
    #[serde(default)]
    pub http2: Vec<String>,
    /// User classes.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// The load shape.
    pub load: Option<RawLoad>,
    /// Verdict thresholds for this scenario's runs (the thresholds file's keys): the run's own
    /// report uses them, and `report` / `compare` too unless given `--thresholds`.
    pub thresholds: Option<crate::verdict::Thresholds>,
}

/// Think time between a user's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Think {
    /// No pause.
    None,
    /// Always this many seconds.
    Constant {
        /// Seconds.
        seconds: f64,
    },
    /// Uniform between `min` and `max` seconds (Locust's `between`).
    Between {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Each iteration takes at least this long, request included (Locust's `constant_pacing`).
    Pacing {
        /// Seconds per iteration.
        seconds: f64,
    },
}

/// A user class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// Name.
    pub name: String,
    /// Relative share of users.
    #[serde(default = "one")]
    pub weight: u32,
    /// Target name from `[targets]`.
    pub target: String,
    /// Think time.
    pub think: Option<Think>,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<RawTask>,
}

fn one() -> u32 {
    1
}

/// A task: `kind` says which other fields apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// Statistics row name (defaults per kind).
    pub name: Option<String>,
    /// Relative frequency.
    #[serde(default = "one")]
    pub weight: u32,
    /// http | chat | embeddings | rag_query | rag_index | mcp_tool | agent | model_cycle.
    pub kind: String,
    /// http: method.
    pub method: Option<String>,
    /// http: path.
    pub path: Option<String>,
    /// http: body.
    pub body: Option<String>,
    /// http: headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Any kind: expected status (default: 2xx).
    pub expect_status: Option<u16>,
    /// chat, embeddings: model.
    pub model: Option<String>,
    /// chat: user message.
    pub prompt: Option<String>,
    /// chat: max_tokens.
    pub max_tokens: Option<u64>,
    /// chat: more request fields merged into the body (`tools`, `tool_choice`, `response_format`,
    /// `temperature`, ...).
    pub extra: Option<toml::Table>,
    /// model_cycle: seconds the model stays unloaded.
    pub hold: Option<f64>,
    /// chat and agent: stream the model calls.
    pub stream: Option<bool>,
    /// embeddings: input text.
    pub input: Option<String>,
    /// rag_query: query text.
    pub query: Option<String>,
    /// rag_query: top_k.
    pub top_k: Option<u64>,
    /// rag_index: documents per request.
    pub documents: Option<u64>,
    /// rag_index: words per document.
    pub words: Option<u64>,
    /// mcp_tool: tool name.
    pub tool: Option<String>,
    /// mcp_tool: arguments.
    pub arguments: Option<toml::Table>,
    /// agent: the MCP target whose tools the model gets (default `mcp`).
    pub mcp_target: Option<String>,
    /// agent: the RAG target to retrieve context from first (none: no retrieval).
    pub rag_target: Option<String>,
    /// agent: most model calls in one turn (default 5).
    pub max_steps: Option<u32>,
    /// agent: the MCP tools offered to the model (default: every tool listed).
    pub tools: Option<Vec<String>>,
    /// agent: `chat` (Chat Completions, the default) or `responses` (the Responses API).
    pub api: Option<String>,
}

/// The load shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// stages | spike | arrival.
    pub shape: String,
    /// stages / arrival: the stages.
    pub stages: Option<Vec<RawStage>>,
    /// arrival: most iterations in flight.
    pub max_in_flight: Option<usize>,
    /// spike: users before the spike.
    pub from: Option<u32>,
    /// spike: users at the peak.
    pub to: Option<u32>,
    /// spike: users started per second.
    pub spawn_rate: Option<f64>,
    /// spike: how long the peak is held.
    pub hold: Option<String>,
}

/// One stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// stages: users.
    pub users: Option<u32>,
    /// stages: users started (or stopped) per second.
    pub spawn_rate: Option<f64>,
    /// arrival: iterations per second.
    pub rate: Option<f64>,
    /// How long.
    pub duration: String,
}

/// Why a scenario document did not fit the types above: every piece (the top level, each user
/// class, each task, `[load]`) is checked on its own, so each piece's first type error is reported
/// with its field path, not only the first one of the file.
pub fn typed(table: toml::Table) -> Result<RawScenario, Vec<(Vec<Segment>, String)>> {
    let whole = toml::Value::Table(table.clone()).try_into::<RawScenario>();
    let Err(first) = whole else { return whole.map_err(|_| Vec::new()) };
    let mut problems = Vec::new();
    let mut top = table;
    if let Some(toml::Value::Array(users)) = top.remove("users") {
        for (u, user) in users.into_iter().enumerate() {
            let toml::Value::Table(mut user) = user else {
                problems.push((vec![key("users"), Segment::Index(u)], "each [[users]] entry must be a table".into()));
                continue;
            };
            if let Some(toml::Value::Array(tasks)) = user.remove("tasks") {
                for (t, task) in tasks.into_iter().enumerate() {
                    let at = vec![key("users"), Segment::Index(u), key("tasks"), Segment::Index(t)];
                    check::<RawTask>(task, at, &mut problems);
                }
            }
            check::<RawUser>(toml::Value::Table(user), vec![key("users"), Segment::Index(u)], &mut problems);
        }
    }
    if let Some(load) = top.remove("load") {
        check::<RawLoad>(load, vec![key("load")], &mut problems);
    }
    if let Some(thresholds) = top.remove("thresholds") {
        check::<crate::verdict::Thresholds>(thresholds, vec![key("thresholds")], &mut problems);
    }
    check::<RawScenario>(toml::Value::Table(top), Vec::new(), &mut problems);
    if problems.is_empty() {
        problems.push((Vec::new(), first.to_string().trim().to_owned()));
    }
    Err(problems)
}

fn key(k: &str) -> Segment {
    Segment::Key(k.to_owned())
}

/// Deserializes one piece; on failure, records the error at `at` plus the key it names.
fn check<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    at: Vec<Segment>,
    problems: &mut Vec<(Vec<Segment>, String)>,
) {
    if let Err(error) = value.try_into::<T>() {
        let text = error.to_string();
        let mut lines = text.trim().lines();
        let message = lines.next().unwrap_or("").to_owned();
        let mut path = at;
        // serde names the key it failed in on a last line: "in `think.seconds`".
        if let Some(inner) = lines.last().and_then(|l| l.strip_prefix("in `")).and_then(|l| l.strip_suffix('`')) {
            path.extend(inner.split('.').map(key));
        }
        problems.push((path, message));
    }
}
