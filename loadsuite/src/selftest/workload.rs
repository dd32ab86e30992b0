//! The scenarios the self-test runs: the mixed workload (two stages, every service) in each
//! mode's variant, and the agent turns' own.

use std::collections::BTreeMap;
use std::time::Duration;

use super::catalog::{AGENT_MODEL, AGENT_USERS, Workload};

/// The scenario every self-test run uses: two stages (half the users, then all).
pub(super) fn scenario_text(
    targets: &BTreeMap<String, String>,
    workload: Workload,
    users: u32,
    run_time: Duration,
) -> String {
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
