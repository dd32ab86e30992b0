//! Agent turns through the CLI on the embedded mocks: the shipped `agent` scenario measures each
//! turn and each of its steps (retrieval, the tool list once per session, every model call, every
//! tool call) as rows; a failing tool fails the turn with the tool's failure, named; a model that
//! never stops calling tools fails the turn as `max_steps_exceeded`; arguments cut short and a tool
//! never declared and values the tool's `inputSchema` forbids (the gateway's agent faults) fail it as
//! `invalid_tool_arguments` / `unknown_tool`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::temp_dir;

fn run_agent(scenario: &str, out: &Path, extra: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadsuite"))
        .args(["run", scenario, "--embedded", "--quiet", "--run-time", "3s", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap_or_else(|e| panic!("{e}: {said}")))
            .unwrap();
    (output.status.code().unwrap(), run, said)
}

fn row<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == "AGENT" && e["name"] == name)
        .unwrap_or_else(|| panic!("no AGENT {name} row: {}", run["endpoints"]))
}

fn count(run: &Value, name: &str, field: &str) -> u64 {
    row(run, name)[field].as_u64().unwrap()
}

#[test]
fn an_agent_turn_is_measured_end_to_end_and_step_by_step() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("agent-turns");
    let (code, run, said) = run_agent("agent", &out, &[]);
    assert_eq!(code, 0, "{said}");
    let turns = count(&run, "turn", "requests");
    assert!(turns >= 5, "{said}");
    assert_eq!(count(&run, "turn", "failures"), 0, "{said}");
    // The mock model calls a tool once, then answers in words: two model calls a turn.
    assert_eq!(count(&run, "llm", "requests"), 2 * turns, "{said}");
    assert_eq!(count(&run, "retrieve", "requests"), turns);
    let tool_calls: u64 = run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with("tool "))
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(tool_calls, turns, "one tool call a turn: {said}");
    let per_turn = &row(&run, "turn")["steps_per_iteration"];
    assert_eq!((per_turn["llm"]["mean"].as_f64(), per_turn["llm"]["max"].as_u64()), (Some(2.0), Some(2)), "{per_turn}");
    assert_eq!(per_turn["tool"]["p95"], 1, "{per_turn}");
    let users = run["engine"]["stages"].as_array().unwrap().iter().map(|s| s["peak"].as_u64().unwrap()).max().unwrap();
    assert!(count(&run, "tools/list", "requests") <= users, "the tool list is asked once per user session: {said}");
    let turn_p50 = row(&run, "turn")["latency_ms"]["p50"].as_f64().unwrap();
    let llm_p50 = row(&run, "llm")["latency_ms"]["p50"].as_f64().unwrap();
    assert!(turn_p50 > 2.0 * llm_p50 * 0.9, "a turn takes at least its two model calls: {turn_p50} vs {llm_p50}");
    // Every run leaves its report beside its CSVs, the agent's rows in it.
    for file in ["report.html", "summary.md", "verdict.json", "junit.xml", "loadsuite.log"] {
        assert!(out.join(file).exists(), "{file} is written by the run itself");
    }
    let log = std::fs::read_to_string(out.join("loadsuite.log")).unwrap();
    for said in [
        "run of `agent`",
        "target mcp = http://127.0.0.1:",
        "stage 2: target 20 users",
        "Aggregated",
        "completed its plan",
    ] {
        assert!(log.contains(said), "{said} missing from the log:\n{log}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("`AGENT turn`") && summary.contains("`AGENT llm`"), "{summary}");
}

#[test]
fn a_failing_step_fails_the_turn_and_is_named() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("agent-faults");
    std::fs::create_dir_all(&dir).unwrap();
    let mocks = dir.join("mocks.toml");
    std::fs::write(
        &mocks,
        "seed = 1\n[[mcp.faults]]\nname = \"broken-git\"\nmatch = { attribute = \"git_status\" }\nerror = { status = 500 }\n\n[gateway]\n[[gateway.models]]\nid = \"gpt-4o-mini\"\nkind = \"chat\"\n[[gateway.models]]\nid = \"looper\"\nkind = \"chat\"\ntools = { max_rounds = 100 }\n[[gateway.models]]\nid = \"sloppy\"\nkind = \"chat\"\ntools = { invalid_arguments = 1.0 }\n[[gateway.models]]\nid = \"lost\"\nkind = \"chat\"\ntools = { unknown_tool = 1.0 }\n[[gateway.models]]\nid = \"strict\"\nkind = \"chat\"\ntools = { invalid_values = 1.0 }\n",
    )
    .unwrap();
    let scenario = |name: &str, model: &str, tools: &str, steps: u32| {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, format!(
            "name = \"{name}\"\n[targets]\ngateway = \"http://127.0.0.1:8000\"\nmcp = \"http://127.0.0.1:8020\"\n[[users]]\nname = \"a\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"agent\", model = \"{model}\", tools = [{tools}], max_steps = {steps} }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 10, duration = \"3s\" }}]\n"
        )).unwrap();
        file
    };
    let mocks_arg = ["--mocks-config", mocks.to_str().unwrap()];

    let broken = scenario("broken", "gpt-4o-mini", "\"git_status\"", 4);
    let (code, run, said) = run_agent(broken.to_str().unwrap(), &dir.join("broken-run"), &mocks_arg);
    assert_eq!(code, 1, "{said}");
    assert_eq!(count(&run, "turn", "failures"), count(&run, "turn", "requests"), "{said}");
    assert_eq!(count(&run, "tool git_status", "failures"), count(&run, "tool git_status", "requests"));
    let failure = run["failures"].as_array().unwrap().iter().find(|f| f["name"] == "turn").unwrap();
    assert!(failure["message"].as_str().unwrap().starts_with("tool git_status: "), "{failure}");
    assert_eq!(count(&run, "llm", "failures"), 0, "the model did its part");

    let looping = scenario("looping", "looper", "\"git_log\"", 3);
    let (code, run, said) = run_agent(looping.to_str().unwrap(), &dir.join("looping-run"), &mocks_arg);
    assert_eq!(code, 1, "{said}");
    let failure = run["failures"].as_array().unwrap().iter().find(|f| f["name"] == "turn").unwrap();
    assert_eq!(failure["kind"], "max_steps_exceeded", "{failure}");
    assert_eq!(count(&run, "llm", "requests"), 3 * count(&run, "turn", "requests"), "{said}");

    for (model, kind) in
        [("sloppy", "invalid_tool_arguments"), ("lost", "unknown_tool"), ("strict", "invalid_tool_arguments")]
    {
        let file = scenario(model, model, "\"git_log\"", 3);
        let (code, run, said) = run_agent(file.to_str().unwrap(), &dir.join(format!("{model}-run")), &mocks_arg);
        assert_eq!(code, 1, "{said}");
        let failure = run["failures"].as_array().unwrap().iter().find(|f| f["name"] == "turn").unwrap();
        assert_eq!(failure["kind"], kind, "{failure}");
        assert_eq!(count(&run, "turn", "failures"), count(&run, "turn", "requests"), "{said}");
        if model == "strict" {
            let message = failure["message"].as_str().unwrap();
            assert!(message.contains("break its input schema"), "valid JSON, checked against inputSchema: {message}");
        }
    }
}

#[test]
fn an_agent_turn_through_the_responses_api_runs_the_same_loop() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("agent-responses");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("responses.toml");
    std::fs::write(
        &file,
        "name = \"responses\"\n[targets]\ngateway = \"http://127.0.0.1:8000\"\nmcp = \"http://127.0.0.1:8020\"\n[[users]]\nname = \"a\"\ntarget = \"gateway\"\nthink = { kind = \"constant\", seconds = 0.05 }\ntasks = [{ kind = \"agent\", api = \"responses\", model = \"gpt-4o-mini\", tools = [\"git_status\", \"git_log\"] }]\n[load]\nshape = \"stages\"\nstages = [{ users = 2, spawn_rate = 10, duration = \"3s\" }]\n",
    )
    .unwrap();
    let (code, run, said) = run_agent(file.to_str().unwrap(), &dir.join("run"), &[]);
    assert_eq!(code, 0, "{said}");
    let turns = count(&run, "turn", "requests");
    assert!(turns >= 2 && count(&run, "turn", "failures") == 0, "{said}");
    assert_eq!(count(&run, "llm", "requests"), 2 * turns, "a function_call, then words: {said}");
    assert!(row(&run, "llm")["ttft_ms"].is_null(), "plain calls have no TTFT");

    // Streamed, through either API: the same loop put back together from deltas, with TTFT per call.
    let original = std::fs::read_to_string(&file).unwrap();
    for api in ["responses", "chat"] {
        let streamed = original.replace("api = \"responses\"", &format!("api = \"{api}\", stream = true"));
        std::fs::write(&file, streamed).unwrap();
        let (code, run, said) = run_agent(file.to_str().unwrap(), &dir.join(format!("stream-{api}")), &[]);
        assert_eq!(code, 0, "{api}: {said}");
        let turns = count(&run, "turn", "requests");
        assert!(turns >= 2 && count(&run, "turn", "failures") == 0, "{api}: {said}");
        assert_eq!(count(&run, "llm", "requests"), 2 * turns, "{api}: the calls were read from the stream: {said}");
        let ttft = row(&run, "llm")["ttft_ms"]["p50"].as_f64();
        assert!(ttft.is_some_and(|t| t > 0.0), "{api}: TTFT per model call: {}", row(&run, "llm"));
        // The stream figures and the steps per turn reach the HTML report and their own CSV.
        let out = dir.join(format!("stream-{api}"));
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(
            html.contains("id=\"streams\"") && html.contains("<td>AGENT</td><td>llm</td>"),
            "{api}: streams in the report"
        );
        assert!(html.contains("id=\"steps\""), "{api}: steps per turn in the report");
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        let streams = summary.split("| stream (whole run) |").nth(1).unwrap_or_else(|| panic!("{summary}"));
        assert!(streams.contains("| `AGENT llm` |"), "{api}: TTFT, ITL and tokens/s in summary.md: {summary}");
        let csv = std::fs::read_to_string(out.join("loadsuite_streams.csv")).unwrap();
        let llm = csv.lines().find(|l| l.starts_with("AGENT,llm,")).unwrap_or_else(|| panic!("{csv}"));
        let streams: u64 = llm.split(',').nth(2).unwrap().parse().unwrap();
        assert_eq!(streams, count(&run, "llm", "requests"), "{api}: one stream per model call: {csv}");
    }
    std::fs::write(&file, &original).unwrap();

    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("api = \"responses\"", "api = \"soap\""))
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadsuite")).args(["run"]).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`soap`: use \"chat\" or \"responses\""));
}
