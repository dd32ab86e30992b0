//! A parsed scenario file checked field by field into a `Scenario`: every problem is collected
//! with its field path (located to a line by the caller), task kinds are checked against their
//! targets and variables, and every load shape becomes one `Plan`.

use std::collections::BTreeMap;
use std::time::Duration;

use common::locate::Segment;
use serde_json::Value;

use super::{Scenario, Task, TaskKind, Think, UserClass, raw};
use crate::plan::{ClosedStage, OpenStage, Plan};

fn key(k: &str) -> Segment {
    Segment::Key(k.to_owned())
}

fn task_path(u: usize, t: usize, field: &str) -> Vec<Segment> {
    vec![key("users"), Segment::Index(u), key("tasks"), Segment::Index(t), key(field)]
}

/// Substitutes `${name}` with variables.
fn substitute(text: &str, variables: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { return Err(format!("unclosed `${{` in `{text}`")) };
        let name = &rest[start + 2..start + end];
        match variables.get(name) {
            Some(value) => out.push_str(value),
            None => return Err(format!("unknown variable `{name}`; define it under [variables]")),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn validate(
    raw: raw::RawScenario,
    default_name: &str,
    problems: &mut Vec<(Vec<Segment>, String)>,
) -> Option<Scenario> {
    let mut users = Vec::new();
    if raw.users.is_empty() {
        problems.push((vec![key("users")], "a scenario needs at least one [[users]] class".into()));
    }
    for (url_name, url) in &raw.targets {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems
                .push((vec![key("targets"), key(url_name)], format!("`{url}` must start with http:// or https://")));
        }
    }
    let mut api_keys = BTreeMap::new();
    for (target, value) in &raw.api_keys {
        let at = vec![key("api_keys"), key(target)];
        if !raw.targets.contains_key(target) {
            problems.push((at, format!("unknown target `{target}`; define it under [targets]")));
            continue;
        }
        match value.strip_prefix("env:") {
            Some(name) => match std::env::var(name) {
                Ok(key) if !key.trim().is_empty() => {
                    api_keys.insert(target.clone(), key.trim().to_owned());
                }
                _ => problems.push((at, format!("the environment variable `{name}` is not set (or empty); export it"))),
            },
            None => {
                api_keys.insert(target.clone(), value.clone());
            }
        }
    }
    for (i, name) in raw.http2.iter().enumerate() {
        let at = vec![key("http2"), Segment::Index(i)];
        match raw.targets.get(name) {
            None => problems.push((at, format!("unknown target `{name}`; define it under [targets]"))),
            Some(url) if !url.starts_with("http://") => problems.push((
                at,
                format!(
                    "`{name}` is `{url}`: HTTP/2 is spoken without TLS (h2c), so give an http:// URL or drop it here"
                ),
            )),
            Some(_) => {}
        }
    }
    for (u, user) in raw.users.into_iter().enumerate() {
        let at = |field: &str| vec![key("users"), Segment::Index(u), key(field)];
        if !raw.targets.contains_key(&user.target) {
            problems.push((at("target"), format!("unknown target `{}`; define it under [targets]", user.target)));
        }
        if user.weight == 0 {
            problems.push((at("weight"), "must be at least 1".into()));
        }
        let think = user.think.unwrap_or(Think::None);
        let bad_think = match think {
            Think::None => false,
            Think::Constant { seconds } | Think::Pacing { seconds } => !(seconds.is_finite() && seconds >= 0.0),
            Think::Between { min, max } => !(min.is_finite() && max.is_finite() && min >= 0.0 && max >= min),
        };
        if bad_think {
            problems.push((at("think"), "think times are non-negative seconds, with max >= min".into()));
        }
        if user.tasks.is_empty() {
            problems.push((at("tasks"), "a user class needs at least one [[users.tasks]]".into()));
        }
        let mut tasks = Vec::new();
        for (t, task) in user.tasks.into_iter().enumerate() {
            match validate_task(task, &raw.variables, &raw.targets) {
                Ok(task) => tasks.push(task),
                Err((field, message)) => problems.push((task_path(u, t, field), message)),
            }
        }
        users.push(UserClass { name: user.name, weight: user.weight.max(1), target: user.target, think, tasks });
    }
    let plan = match raw.load {
        Some(load) => validate_load(load, problems),
        None => {
            problems.push((
                vec![key("load")],
                "a scenario needs a [load] table (shape = \"stages\", \"spike\" or \"arrival\")".into(),
            ));
            Plan::Closed { stages: Vec::new() }
        }
    };
    if let Some(thresholds) = &raw.thresholds {
        for problem in thresholds.problems() {
            problems.push((vec![key("thresholds")], problem));
        }
    }
    Some(Scenario {
        name: raw.name.unwrap_or_else(|| default_name.to_owned()),
        description: raw.description.unwrap_or_default(),
        targets: raw.targets,
        api_keys,
        http2: raw.http2,
        thresholds: raw.thresholds,
        users,
        plan,
    })
}

type FieldError = (&'static str, String);

fn required<T>(value: Option<T>, field: &'static str, kind: &str) -> Result<T, FieldError> {
    value.ok_or_else(|| (field, format!("a `{kind}` task needs `{field}`")))
}

fn validate_task(
    task: raw::RawTask,
    variables: &BTreeMap<String, String>,
    targets: &BTreeMap<String, String>,
) -> Result<Task, FieldError> {
    let sub = |field: &'static str, value: String| substitute(&value, variables).map_err(|m| (field, m));
    let kind_name = task.kind.clone();
    let allowed: &[&str] = match kind_name.as_str() {
        "http" => &["method", "path", "body", "headers"],
        "chat" => &["model", "prompt", "max_tokens", "stream", "extra", "api"],
        "embeddings" => &["model", "input"],
        "rag_query" => &["query", "top_k"],
        "rag_index" => &["documents", "words"],
        "mcp_tool" => &["tool", "arguments"],
        "agent" => &[
            "model",
            "prompt",
            "max_tokens",
            "mcp_target",
            "rag_target",
            "top_k",
            "max_steps",
            "tools",
            "api",
            "stream",
        ],
        "model_cycle" => &["model", "hold"],
        other => {
            return Err((
                "kind",
                format!(
                    "unknown kind `{other}`; use http, chat, embeddings, rag_query, rag_index, mcp_tool, agent or model_cycle"
                ),
            ));
        }
    };
    let present = [
        ("method", task.method.is_some()),
        ("path", task.path.is_some()),
        ("body", task.body.is_some()),
        ("headers", task.headers.is_some()),
        ("model", task.model.is_some()),
        ("prompt", task.prompt.is_some()),
        ("max_tokens", task.max_tokens.is_some()),
        ("stream", task.stream.is_some()),
        ("input", task.input.is_some()),
        ("query", task.query.is_some()),
        ("top_k", task.top_k.is_some()),
        ("documents", task.documents.is_some()),
        ("words", task.words.is_some()),
        ("tool", task.tool.is_some()),
        ("arguments", task.arguments.is_some()),
        ("mcp_target", task.mcp_target.is_some()),
        ("rag_target", task.rag_target.is_some()),
        ("max_steps", task.max_steps.is_some()),
        ("tools", task.tools.is_some()),
        ("api", task.api.is_some()),
        ("hold", task.hold.is_some()),
        ("extra", task.extra.is_some()),
    ];
    if let Some((field, _)) = present.iter().find(|(f, p)| *p && !allowed.contains(f)) {
        return Err((
            field,
            format!("`{field}` does not apply to a `{kind_name}` task (it takes: {})", allowed.join(", ")),
        ));
    }
    if task.weight == 0 {
        return Err(("weight", "must be at least 1".into()));
    }
    let kind = match kind_name.as_str() {
        "http" => {
            let method = task.method.unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
            let method = http::Method::from_bytes(method.as_bytes())
                .map_err(|_| ("method", format!("`{method}` is not an HTTP method")))?;
            let path = sub("path", required(task.path, "path", "http")?)?;
            if !path.starts_with('/') {
                return Err(("path", format!("`{path}` must start with `/`")));
            }
            let body = task.body.map(|b| sub("body", b)).transpose()?;
            let headers = task
                .headers
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| Ok((k, sub("headers", v)?)))
                .collect::<Result<_, _>>()?;
            TaskKind::Http { method, path, body, headers }
        }
        "chat" => {
            let extra = match task.extra.map(serde_json::to_value) {
                None => serde_json::Map::new(),
                Some(Ok(Value::Object(map))) => map,
                Some(_) => return Err(("extra", "give a table of request fields".into())),
            };
            if let Some(field) =
                ["model", "messages", "input", "stream", "max_tokens"].iter().find(|f| extra.contains_key(**f))
            {
                return Err(("extra", format!("`{field}` is set by the task itself; use its own field")));
            }
            TaskKind::Chat {
                model: sub("model", required(task.model, "model", "chat")?)?,
                prompt: sub(
                    "prompt",
                    task.prompt.unwrap_or_else(|| "Say something useful about load testing.".into()),
                )?,
                max_tokens: task.max_tokens.unwrap_or(64),
                stream: task.stream.unwrap_or(false),
                extra,
                responses_api: match task.api.as_deref() {
                    None | Some("chat") => false,
                    Some("responses") => true,
                    Some(other) => return Err(("api", format!("`{other}`: use \"chat\" or \"responses\""))),
                },
            }
        }
        "embeddings" => TaskKind::Embeddings {
            model: sub("model", required(task.model, "model", "embeddings")?)?,
            input: sub("input", task.input.unwrap_or_else(|| "load testing an embedding endpoint".into()))?,
        },
        "rag_query" => TaskKind::RagQuery {
            query: sub("query", required(task.query, "query", "rag_query")?)?,
            top_k: task.top_k.unwrap_or(5),
        },
        "rag_index" => {
            TaskKind::RagIndex { documents: task.documents.unwrap_or(1).max(1), words: task.words.unwrap_or(60).max(1) }
        }
        "agent" => {
            let mcp_target = task.mcp_target.unwrap_or_else(|| "mcp".into());
            for (field, name) in [("mcp_target", Some(&mcp_target)), ("rag_target", task.rag_target.as_ref())] {
                if let Some(name) = name
                    && !targets.contains_key(name)
                {
                    return Err((field, format!("unknown target `{name}`; define it under [targets]")));
                }
            }
            let max_steps = task.max_steps.unwrap_or(5);
            if !(1..=50).contains(&max_steps) {
                return Err(("max_steps", format!("{max_steps}: give 1 to 50 model calls per turn")));
            }
            TaskKind::Agent {
                model: sub("model", required(task.model, "model", "agent")?)?,
                prompt: sub(
                    "prompt",
                    task.prompt.unwrap_or_else(|| "Check the repository and summarise its state.".into()),
                )?,
                max_tokens: task.max_tokens.unwrap_or(64),
                mcp_target,
                rag_target: task.rag_target,
                top_k: task.top_k.unwrap_or(3),
                max_steps,
                tools: task.tools.unwrap_or_default(),
                responses_api: match task.api.as_deref() {
                    None | Some("chat") => false,
                    Some("responses") => true,
                    Some(other) => return Err(("api", format!("`{other}`: use \"chat\" or \"responses\""))),
                },
                stream: task.stream.unwrap_or(false),
            }
        }
        "model_cycle" => {
            let hold = task.hold.unwrap_or(1.0);
            if !(hold.is_finite() && (0.0..=60.0).contains(&hold)) {
                return Err(("hold", format!("{hold}: give 0 to 60 seconds (the model is unloaded meanwhile)")));
            }
            TaskKind::ModelCycle {
                model: sub("model", required(task.model, "model", "model_cycle")?)?,
                hold: Duration::from_secs_f64(hold),
            }
        }
        _ => {
            let arguments = task
                .arguments
                .map(|a| serde_json::to_value(a).unwrap_or(Value::Null))
                .unwrap_or_else(|| serde_json::json!({}));
            TaskKind::McpTool { tool: sub("tool", required(task.tool, "tool", "mcp_tool")?)?, arguments }
        }
    };
    let name = task.name.unwrap_or_else(|| match &kind {
        TaskKind::Http { path, .. } => path.clone(),
        TaskKind::Chat { stream: true, responses_api: true, .. } => "/v1/responses (stream)".into(),
        TaskKind::Chat { responses_api: true, .. } => "/v1/responses".into(),
        TaskKind::Chat { stream: true, .. } => "/v1/chat/completions (stream)".into(),
        TaskKind::Chat { .. } => "/v1/chat/completions".into(),
        TaskKind::Embeddings { .. } => "/v1/embeddings".into(),
        TaskKind::RagQuery { .. } => "/v1/query".into(),
        TaskKind::RagIndex { .. } => "/v1/index".into(),
        TaskKind::McpTool { tool, .. } => format!("tools/call {tool}"),
        TaskKind::Agent { .. } => "turn".into(),
        TaskKind::ModelCycle { model, .. } => format!("cycle {model}"),
    });
    if let Some(status) = task.expect_status
        && !(100..=599).contains(&status)
    {
        return Err(("expect_status", format!("{status} is not an HTTP status (100..=599)")));
    }
    Ok(Task { name, weight: task.weight, kind, expect_status: task.expect_status })
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

fn validate_load(load: raw::RawLoad, problems: &mut Vec<(Vec<Segment>, String)>) -> Plan {
    let at = |field: &str| vec![key("load"), key(field)];
    let stage_at = |i: usize, field: &str| vec![key("load"), key("stages"), Segment::Index(i), key(field)];
    match load.shape.as_str() {
        "stages" | "arrival" => {
            let open = load.shape == "arrival";
            let stages = load.stages.unwrap_or_default();
            if stages.is_empty() {
                problems.push((at("stages"), "give at least one stage".into()));
            }
            let mut closed = Vec::new();
            let mut arrival = Vec::new();
            for (i, stage) in stages.iter().enumerate() {
                let length = duration(&stage.duration).unwrap_or_else(|m| {
                    problems.push((stage_at(i, "duration"), m));
                    Duration::ZERO
                });
                if open {
                    match stage.rate {
                        Some(rate) if rate.is_finite() && rate > 0.0 => {
                            arrival.push(OpenStage { rate, duration: length })
                        }
                        _ => problems.push((
                            stage_at(i, "rate"),
                            "an arrival stage needs `rate` (iterations per second, > 0)".into(),
                        )),
                    }
                } else {
                    let users = stage.users.unwrap_or_else(|| {
                        problems.push((stage_at(i, "users"), "a stage needs `users`".into()));
                        0
                    });
                    let spawn_rate = stage.spawn_rate.unwrap_or(users.max(1) as f64);
                    if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
                        problems
                            .push((stage_at(i, "spawn_rate"), "must be a positive number of users per second".into()));
                    }
                    closed.push(ClosedStage { users, spawn_rate, duration: length });
                }
            }
            if open {
                if load.max_in_flight == Some(0) {
                    problems.push((at("max_in_flight"), "must be at least 1 (iterations in flight at once)".into()));
                }
                Plan::Open { stages: arrival, max_in_flight: load.max_in_flight.unwrap_or(1000).max(1) }
            } else {
                Plan::Closed { stages: closed }
            }
        }
        "spike" => {
            let to = load.to.unwrap_or_else(|| {
                problems.push((at("to"), "a spike needs `to` (users at the peak)".into()));
                0
            });
            let spawn_rate = load.spawn_rate.unwrap_or(to.max(1) as f64);
            if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
                problems.push((at("spawn_rate"), "must be a positive number of users per second".into()));
            }
            if load.from.is_some_and(|from| from > to) {
                problems.push((at("from"), format!("a spike goes up: `from` must not exceed `to` ({to})")));
            }
            let hold = load.hold.as_deref().map(duration).transpose().unwrap_or_else(|m| {
                problems.push((at("hold"), m));
                None
            });
            let ramp =
                Duration::from_secs_f64((to.saturating_sub(load.from.unwrap_or(0))) as f64 / spawn_rate.max(0.001));
            let mut stages = Vec::new();
            if let Some(from) = load.from.filter(|f| *f > 0) {
                stages.push(ClosedStage { users: from, spawn_rate: from as f64, duration: Duration::from_secs(10) });
            }
            stages.push(ClosedStage {
                users: to,
                spawn_rate,
                duration: ramp + hold.unwrap_or(Duration::from_secs(60)),
            });
            Plan::Closed { stages }
        }
        other => {
            problems.push((at("shape"), format!("unknown shape `{other}`; use stages, spike or arrival")));
            Plan::Closed { stages: Vec::new() }
        }
    }
}
