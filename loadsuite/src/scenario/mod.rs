//! Scenarios: the validated form of a scenario file, and loading by path or shipped name.
//!
//! Validation collects every problem with its file, line and field (the same locator the mocks'
//! config uses), and every load shape becomes one `Plan`.

mod adhoc;
mod overrides;
pub mod raw;
mod shipped;
mod validate;

pub use adhoc::AdHoc;
pub use overrides::Overrides;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::locate::{Segment, locate_all};
use serde_json::Value;

pub use raw::Think;
pub use shipped::{SHIPPED, shipped};

use crate::plan::Plan;

/// One problem in a scenario file (`file:line: field: message`).
pub use common::Problem;

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Neither a file nor a shipped name.
    #[error("no scenario `{0}`: give a path to a .toml file or one of: {names}", names = SHIPPED.iter().map(|s| s.0).collect::<Vec<_>>().join(", "))]
    NotFound(String),
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The path.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is invalid.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem.
        problems: Vec<Problem>,
    },
}

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// A plain HTTP request.
    Http {
        /// Method.
        method: http::Method,
        /// Path (joined to the target URL).
        path: String,
        /// Body, sent as JSON when it parses as JSON.
        body: Option<String>,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// OpenAI chat completion.
    Chat {
        /// Model.
        model: String,
        /// User message.
        prompt: String,
        /// max_tokens.
        max_tokens: u64,
        /// Streamed (records time to first token, inter-token latency, tokens/s).
        stream: bool,
        /// More request fields (tools, `response_format`, sampling): the answer is then checked
        /// for what they ask (JSON for a JSON format, tool calls when `tool_choice` requires them).
        extra: serde_json::Map<String, Value>,
        /// Through the Responses API (`/v1/responses`) instead of Chat Completions.
        responses_api: bool,
    },
    /// OpenAI embeddings.
    Embeddings {
        /// Model.
        model: String,
        /// Input text.
        input: String,
    },
    /// RAG query.
    RagQuery {
        /// Query text.
        query: String,
        /// top_k.
        top_k: u64,
    },
    /// RAG index of generated documents.
    RagIndex {
        /// Documents per request.
        documents: u64,
        /// Words per document.
        words: u64,
    },
    /// MCP tool call over a per-user session.
    McpTool {
        /// Tool name.
        tool: String,
        /// Arguments.
        arguments: Value,
    },
    /// Model management while others chat: unload a served model, hold, load it back (see
    /// `tasks::models`).
    ModelCycle {
        /// The model.
        model: String,
        /// How long it stays unloaded.
        hold: Duration,
    },
    /// One user turn of a tool-using agent: optional retrieval, then model calls with the MCP
    /// target's tools until the model answers in words (see `tasks::agent`).
    Agent {
        /// Model.
        model: String,
        /// The user's question.
        prompt: String,
        /// max_tokens of each model call.
        max_tokens: u64,
        /// The target whose MCP tools the model gets.
        mcp_target: String,
        /// The target to retrieve context from first.
        rag_target: Option<String>,
        /// Results retrieved.
        top_k: u64,
        /// Most model calls in one turn.
        max_steps: u32,
        /// The MCP tools offered (empty: all).
        tools: Vec<String>,
        /// Talk to the model through the Responses API (else Chat Completions).
        responses_api: bool,
        /// Stream every model call (TTFT and pacing on the `llm` row).
        stream: bool,
    },
}

impl TaskKind {
    /// Whether the task stores data on its target (documents indexed, files written): memory the
    /// target gains while a run writes is not, by itself, a leak.
    pub fn writes(&self) -> bool {
        match self {
            TaskKind::RagIndex { .. } => true,
            TaskKind::McpTool { tool, .. } => tool.contains("write"),
            TaskKind::Http { method, .. } => matches!(method.as_str(), "POST" | "PUT" | "PATCH"),
            _ => false,
        }
    }

    /// The HTTP method the statistics row is typed with (Locust's `Type` column).
    pub fn method(&self) -> &str {
        match self {
            TaskKind::Http { method, .. } => method.as_str(),
            TaskKind::McpTool { .. } => "MCP",
            TaskKind::Agent { .. } => "AGENT",
            TaskKind::ModelCycle { .. } => "MODELS",
            _ => "POST",
        }
    }
}

/// A task of a user class.
#[derive(Debug, Clone)]
pub struct Task {
    /// Statistics row name.
    pub name: String,
    /// Relative frequency.
    pub weight: u32,
    /// What it does.
    pub kind: TaskKind,
    /// Expected status (default: any 2xx).
    pub expect_status: Option<u16>,
}

/// A user class.
#[derive(Debug, Clone)]
pub struct UserClass {
    /// Name.
    pub name: String,
    /// Relative share of users.
    pub weight: u32,
    /// Target name.
    pub target: String,
    /// Think time.
    pub think: Think,
    /// Tasks.
    pub tasks: Vec<Task>,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// One line.
    pub description: String,
    /// Target name -> base URL.
    pub targets: BTreeMap<String, String>,
    /// Target name -> the API key its requests carry (`Authorization: Bearer`).
    pub api_keys: BTreeMap<String, String>,
    /// Targets spoken to over HTTP/2 (h2c), by name.
    pub http2: Vec<String>,
    /// The scenario's own verdict thresholds (`[thresholds]`), when it has them.
    pub thresholds: Option<crate::verdict::Thresholds>,
    /// User classes.
    pub users: Vec<UserClass>,
    /// The load plan.
    pub plan: Plan,
}

/// Loads a scenario by path, or by shipped name.
pub fn load(spec: &str) -> Result<Scenario, ScenarioError> {
    load_with(spec, &[])
}

/// Loads a scenario by path or shipped name, its `[variables]` overridden: first by
/// `LOADSUITE_VAR_<NAME>` environment variables (the name in any case), then by `vars` (from
/// `--var NAME=VALUE`), which must name variables the scenario defines.
pub fn load_with(spec: &str, vars: &[(String, String)]) -> Result<Scenario, ScenarioError> {
    let path = Path::new(spec);
    if path.is_file() {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { file: spec.to_owned(), source })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        return parse_with(&text, spec, stem, vars);
    }
    match shipped(spec) {
        Some(text) => parse_with(text, &format!("scenarios/{spec}.toml"), spec, vars),
        None => Err(ScenarioError::NotFound(spec.to_owned())),
    }
}

/// Parses and validates scenario text.
pub fn parse(text: &str, file: &str, default_name: &str) -> Result<Scenario, ScenarioError> {
    parse_with(text, file, default_name, &[])
}

/// Replaces `[variables]` values from the environment and then from `vars`; a `vars` name the
/// scenario does not define is a problem (a typo would otherwise change nothing).
fn override_variables(table: &mut toml::Table, vars: &[(String, String)], file: &str) -> Result<(), ScenarioError> {
    let Some(toml::Value::Table(variables)) = table.get_mut("variables") else {
        return match vars.first() {
            Some((name, _)) => Err(ScenarioError::Invalid {
                problems: vec![Problem {
                    file: file.to_owned(),
                    line: None,
                    field: "variables".into(),
                    message: format!("--var {name}: the scenario has no [variables] to override"),
                }],
            }),
            None => Ok(()),
        };
    };
    for (name, value) in variables.iter_mut() {
        if let Ok(from_env) = std::env::var(format!("LOADSUITE_VAR_{}", name.to_uppercase()))
            .or_else(|_| std::env::var(format!("LOADSUITE_VAR_{name}")))
        {
            *value = toml::Value::String(from_env);
        }
    }
    for (name, value) in vars {
        match variables.get_mut(name) {
            Some(slot) => *slot = toml::Value::String(value.clone()),
            None => {
                let defined: Vec<&str> = variables.keys().map(String::as_str).collect();
                return Err(ScenarioError::Invalid {
                    problems: vec![Problem {
                        file: file.to_owned(),
                        line: None,
                        field: format!("variables.{name}"),
                        message: format!(
                            "--var {name}: the scenario has no such variable (it defines: {})",
                            defined.join(", ")
                        ),
                    }],
                });
            }
        }
    }
    Ok(())
}

/// Parses and validates scenario text with variable overrides (see [`load_with`]).
pub fn parse_with(
    text: &str,
    file: &str,
    default_name: &str,
    vars: &[(String, String)],
) -> Result<Scenario, ScenarioError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ScenarioError::Invalid { problems: vec![Problem::syntax(file, text, &e)] })?;
    override_variables(&mut table, vars, file)?;
    let mut problems: Vec<(Vec<Segment>, String)> = Vec::new();
    let scenario = match raw::typed(table) {
        Ok(raw) => validate::validate(raw, default_name, &mut problems),
        Err(type_problems) => {
            problems = type_problems;
            None
        }
    };
    let scenario = scenario.filter(|_| problems.is_empty());
    if let Some(scenario) = scenario {
        return Ok(scenario);
    }
    Err(ScenarioError::Invalid { problems: locate_all(text, file, problems) })
}
