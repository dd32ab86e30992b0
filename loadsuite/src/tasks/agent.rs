//! The `agent` task: one iteration is one user turn of a tool-using agent, measured end to end and
//! step by step. Optionally the question retrieves context first (`rag_query`, the top results
//! go into the prompt); the tools come from the MCP target's `tools/list` (once per user session,
//! as agent hosts do) as function tools; then the model is asked with those tools (through Chat
//! Completions or the Responses API, per task), every
//! `tool_calls` entry runs as an MCP `tools/call` (in parallel when the model asked for several),
//! the results go back as `tool` messages, and the loop goes on until the model answers in words
//! or `max_steps` model calls were made. With `stream = true` every model call streams, and its
//! step carries time to first token and pacing like a streamed chat row.
//!
//! Each step is its own statistics row (`AGENT retrieve`, `AGENT tools/list`, `AGENT llm`,
//! `AGENT tool NAME`); the turn (`AGENT turn` by default) fails when a step fails, with that step's
//! failure kind and the step named in the message, or as `invalid_tool_arguments` (the model's
//! arguments are not a JSON object, or break the tool's `inputSchema`), `unknown_tool` (a tool it
//! was not offered) or `max_steps_exceeded`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::openai::{StreamedMessage, responses_frame, sse};
use super::{Http, Outcome, UserState, exchange, mcp};
use crate::stats::{Failure, FailureKind};

/// Which of the model APIs an agent talks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ModelApi {
    /// `POST /v1/chat/completions`: `tool_calls` and `tool` messages.
    Chat,
    /// `POST /v1/responses`: `function_call` and `function_call_output` items.
    Responses,
}

/// A tool call the model asked for, whichever the API.
struct ModelCall {
    id: String,
    name: String,
    arguments: String,
}

/// The turn's conversation in the shape of its API.
struct Conversation {
    api: ModelApi,
    items: Vec<Value>,
}

impl Conversation {
    fn request(&self, agent: &AgentTurn<'_>, tools: &[Value]) -> Value {
        match self.api {
            ModelApi::Chat => {
                json!({"model": agent.model, "messages": self.items, "tools": tools, "max_tokens": agent.max_tokens})
            }
            ModelApi::Responses => {
                let flat: Vec<Value> = tools
                    .iter()
                    .map(|t| {
                        let f = &t["function"];
                        json!({"type": "function", "name": f["name"], "description": f["description"], "parameters": f["parameters"]})
                    })
                    .collect();
                json!({"model": agent.model, "input": self.items, "tools": flat, "max_output_tokens": agent.max_tokens})
            }
        }
    }

    /// The calls the answer asks for (none: it answered in words).
    fn calls(&self, answer: &Value) -> Result<Vec<ModelCall>, Failure> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let (calls, worded) = match self.api {
            ModelApi::Chat => {
                let message = &answer["choices"][0]["message"];
                let calls = message["tool_calls"].as_array().into_iter().flatten().map(|c| ModelCall {
                    id: text(&c["id"]),
                    name: text(&c["function"]["name"]),
                    arguments: text(&c["function"]["arguments"]),
                });
                (calls.collect::<Vec<_>>(), message["content"].is_string())
            }
            ModelApi::Responses => {
                let output = answer["output"].as_array().cloned().unwrap_or_default();
                let calls = output.iter().filter(|i| i["type"] == "function_call").map(|c| ModelCall {
                    id: text(&c["call_id"]),
                    name: text(&c["name"]),
                    arguments: text(&c["arguments"]),
                });
                (calls.collect::<Vec<_>>(), output.iter().any(|i| i["type"] == "message"))
            }
        };
        if calls.is_empty() && !worded {
            return Err(Failure::new(FailureKind::Protocol, "llm: the answer has neither tool calls nor words"));
        }
        Ok(calls)
    }

    /// Asks the model: one plain exchange, or a stream read frame by frame (time to first token
    /// and pacing measured on content and tool-call deltas) and put back together into the answer
    /// the plain call would have given.
    async fn ask(&self, client: &Http, agent: &AgentTurn<'_>, tools: &[Value]) -> (Outcome, Option<Value>) {
        let mut body = self.request(agent, tools);
        let request = |body: &Value| client.post(&agent.model_url).json(body).timeout(agent.timeout);
        if !agent.stream {
            return exchange(request(&body), None, super::KEEP_BYTES).await;
        }
        body["stream"] = json!(true);
        match self.api {
            ModelApi::Chat => {
                let mut message = StreamedMessage::new(true);
                let outcome = sse(client, &agent.model_url, &body, agent.timeout, None, |f| message.add(f)).await;
                (outcome, Some(message.into_answer()))
            }
            ModelApi::Responses => {
                let mut whole = None;
                let outcome =
                    sse(client, &agent.model_url, &body, agent.timeout, None, |f| responses_frame(f, &mut whole)).await;
                (outcome, whole)
            }
        }
    }

    /// Keeps the model's answer (its calls) in the conversation.
    fn add_answer(&mut self, answer: &Value) {
        match self.api {
            ModelApi::Chat => self.items.push(answer["choices"][0]["message"].clone()),
            ModelApi::Responses => self.items.extend(
                answer["output"].as_array().into_iter().flatten().filter(|i| i["type"] == "function_call").cloned(),
            ),
        }
    }

    /// Answers one call with the tool's text.
    fn add_result(&mut self, id: &str, text: String) {
        self.items.push(match self.api {
            ModelApi::Chat => json!({"role": "tool", "tool_call_id": id, "content": text}),
            ModelApi::Responses => json!({"type": "function_call_output", "call_id": id, "output": text}),
        });
    }
}

/// What an agent turn needs besides the user.
pub(super) struct AgentTurn<'a> {
    /// The model API's URL on the gateway.
    pub model_url: String,
    /// Which API that is.
    pub api: ModelApi,
    /// The MCP endpoint URL.
    pub mcp_url: String,
    /// The RAG query URL, when the turn retrieves first.
    pub query_url: Option<String>,
    /// Model.
    pub model: &'a str,
    /// The user's question.
    pub prompt: &'a str,
    /// max_tokens of each model call.
    pub max_tokens: u64,
    /// Results retrieved.
    pub top_k: u64,
    /// Most model calls in one turn.
    pub max_steps: u32,
    /// The MCP tools offered to the model (all when empty).
    pub tools: &'a [String],
    /// Whether model calls stream (TTFT and pacing per `llm` step).
    pub stream: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The tools an MCP server lists, kept for the user's session with a validator per tool for the
/// arguments the model sends (a schema that cannot be compiled is not checked).
pub struct ToolCatalog {
    /// The MCP endpoint that listed them.
    url: String,
    /// `tools/list`'s tools.
    listed: Vec<Value>,
    /// Tool name to its compiled `inputSchema`.
    validators: HashMap<String, jsonschema::Validator>,
}

impl ToolCatalog {
    fn new(url: String, listed: Vec<Value>) -> Self {
        let validators = listed
            .iter()
            .filter_map(|t| {
                let validator = jsonschema::validator_for(t.get("inputSchema")?).ok()?;
                Some((t["name"].as_str()?.to_owned(), validator))
            })
            .collect();
        ToolCatalog { url, listed, validators }
    }

    /// Why `arguments` do not fit the tool's schema, if they do not.
    fn misfit(&self, tool: &str, arguments: &Value) -> Option<String> {
        let error = self.validators.get(tool)?.validate(arguments).err()?;
        let at = error.instance_path().to_string();
        Some(if at.is_empty() { error.to_string() } else { format!("{error} at {at}") })
    }
}

/// Whether `name` is one of a turn's step rows (`llm`, `retrieve`, `tools/list`, `tool NAME`)
/// rather than the turn itself.
pub fn is_step(name: &str) -> bool {
    matches!(name, "llm" | "retrieve" | "tools/list") || name.starts_with("tool ")
}

/// MCP tools as function tools of the chat API.
fn function_tools(tools: &[Value], offered: &[String]) -> Vec<Value> {
    tools
        .iter()
        .filter(|t| offered.is_empty() || t["name"].as_str().is_some_and(|n| offered.iter().any(|o| o == n)))
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": t.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            }})
        })
        .collect()
}

/// Runs one turn.
pub(super) async fn turn(client: &Http, user: &mut UserState, agent: &AgentTurn<'_>) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(failure) = run(client, user, agent, &mut outcome).await {
        outcome.failure = Some(failure);
    }
    let (mut llm, mut tool) = (0, 0);
    for step in &outcome.steps {
        llm += u64::from(step.name == "llm");
        tool += u64::from(step.name.starts_with("tool "));
    }
    outcome.step_counts = vec![("llm", llm), ("tool", tool)];
    outcome
}

async fn run(client: &Http, user: &mut UserState, agent: &AgentTurn<'_>, outcome: &mut Outcome) -> Result<(), Failure> {
    let mut prompt = agent.prompt.to_owned();
    if let Some(url) = &agent.query_url {
        let started = Instant::now();
        let request =
            client.post(url).json(&json!({"query": agent.prompt, "top_k": agent.top_k})).timeout(agent.timeout);
        let (result, answer) = exchange(request, None, super::KEEP_BYTES).await;
        outcome.step("retrieve".into(), started.elapsed(), result)?;
        let context: Vec<&str> = answer
            .as_ref()
            .and_then(|a| a["results"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r["text"].as_str())
            .collect();
        prompt = format!("Context:\n{}\n\nQuestion: {prompt}", context.join("\n"));
    }
    // The server's tools are listed once per session and kept whole; each task offers its own share.
    let catalog = match &user.agent_tools {
        Some(catalog) if catalog.url == agent.mcp_url => catalog.clone(),
        _ => {
            let started = Instant::now();
            let (result, listed) = mcp::list_tools(client, &agent.mcp_url, user, agent.timeout).await;
            outcome.step("tools/list".into(), started.elapsed(), result)?;
            let catalog = Arc::new(ToolCatalog::new(agent.mcp_url.clone(), listed));
            user.agent_tools = Some(catalog.clone());
            catalog
        }
    };
    let tools = function_tools(&catalog.listed, agent.tools);
    if tools.is_empty() {
        return Err(Failure::new(
            FailureKind::UnknownTool,
            format!("none of the tools {:?} is among those the MCP server lists", agent.tools),
        ));
    }
    let offered: Vec<&str> = tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect();
    let mut conversation = Conversation { api: agent.api, items: vec![json!({"role": "user", "content": prompt})] };
    for _ in 0..agent.max_steps {
        let started = Instant::now();
        let (result, answer) = conversation.ask(client, agent, &tools).await;
        outcome.step("llm".into(), started.elapsed(), result)?;
        let answer = answer.unwrap_or(Value::Null);
        let calls = conversation.calls(&answer)?;
        if calls.is_empty() {
            return Ok(());
        }
        let mut planned = Vec::with_capacity(calls.len());
        for call in calls {
            if !offered.contains(&call.name.as_str()) {
                return Err(Failure::new(
                    FailureKind::UnknownTool,
                    format!("llm: called `{}`, which it was not offered", call.name),
                ));
            }
            let arguments: Value = match serde_json::from_str(&call.arguments) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(Failure::new(
                        FailureKind::InvalidToolArguments,
                        format!("llm: the arguments of `{}` are not a JSON object: {}", call.name, call.arguments),
                    ));
                }
            };
            if let Some(why) = catalog.misfit(&call.name, &arguments) {
                return Err(Failure::new(
                    FailureKind::InvalidToolArguments,
                    format!("llm: the arguments of `{}` break its input schema: {why}", call.name),
                ));
            }
            planned.push((call.id, call.name, arguments));
        }
        conversation.add_answer(&answer);
        // Several calls run in parallel, each on a clone of the session (they share its id).
        let runs = planned.iter().enumerate().map(|(i, (_, name, arguments))| {
            let mut caller = UserState::sharing_session(user, i as u64);
            async move {
                let started = Instant::now();
                let (result, text) =
                    mcp::call_tool(client, &agent.mcp_url, &mut caller, name, arguments, agent.timeout).await;
                (started.elapsed(), result, text)
            }
        });
        let results = futures::future::join_all(runs).await;
        for ((id, name, _), (latency, result, text)) in planned.iter().zip(results) {
            outcome.step(format!("tool {name}"), latency, result)?;
            conversation.add_result(id, text);
        }
    }
    Err(Failure::new(
        FailureKind::MaxStepsExceeded,
        format!("the model still called tools after {} model calls", agent.max_steps),
    ))
}
