//! The seed's concurrency and stress plans as shipped scenarios: `concurrency` gives each endpoint
//! its own class with the plan's user counts; `stress` carries success-rate targets per level in
//! its own `[thresholds]`, which the run's report and `report` (without `--thresholds`) judge.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::temp_dir;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

/// Runs scenario text on embedded mocks configured by `mocks` (TOML), with `flags`, into
/// `dir/name`; returns the process's output and that results directory.
fn run_on_mocks(dir: &Path, name: &str, scenario: &str, mocks: &str, flags: &[&str]) -> (Output, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (scenario_file, mocks_file, out) =
        (dir.join(format!("{name}.toml")), dir.join(format!("{name}-mocks.toml")), dir.join(name));
    std::fs::write(&scenario_file, scenario).unwrap();
    std::fs::write(&mocks_file, mocks).unwrap();
    let output = Command::new(LOADSUITE)
        .arg("run")
        .arg(&scenario_file)
        .args(["--embedded", "--mocks-config"])
        .arg(&mocks_file)
        .args(flags)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (output, out)
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn the_concurrency_plan_gives_each_endpoint_its_users() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("concurrency");
    let run = Command::new(LOADSUITE)
        .args(["run", "concurrency", "--embedded", "--run-time", "4s", "--silent", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let run = json(&out.join("run.json"));
    let peaks: Vec<(String, u64)> = run["engine"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["peak"].as_u64().unwrap()))
        .collect();
    let want = [("health", 100), ("models", 50), ("chat", 50), ("embeddings", 30), ("rag", 100)];
    assert_eq!(peaks, want.map(|(n, p)| (n.to_owned(), p)), "one class per endpoint, the plan's users");
}

#[test]
fn the_stress_plan_judges_its_own_success_rate_targets_per_level() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("stress");
    let out = dir.join("run");
    let run = Command::new(LOADSUITE)
        .args(["run", "stress", "--embedded", "--run-time", "4s", "--users", "8", "--silent", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let targets = |verdict: &Value| -> Vec<String> {
        verdict["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["checks"].as_array().unwrap().iter())
            .filter_map(|c| c["detail"].as_str())
            .filter(|d| d.contains("set by [[targets]]"))
            .map(str::to_owned)
            .collect()
    };
    let own = json(&out.join("verdict.json"));
    let details = targets(&own);
    assert!(details.iter().any(|d| d.contains("99")), "stage 1 is held to 99%: {details:?}");
    assert!(details.iter().any(|d| d.contains("90")), "stages 3-4 to 90%: {details:?}");
    assert_eq!(json(&out.join("run.json"))["thresholds"]["targets"].as_array().map(Vec::len), Some(3));

    // `report` without --thresholds judges the same targets; a thresholds file replaces them.
    let again = Command::new(LOADSUITE).args(["report"]).arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stdout));
    assert_eq!(targets(&json(&out.join("verdict.json"))), details);
    let file = dir.join("plain.toml");
    std::fs::write(&file, "p95_ms = 5000\n").unwrap();
    let plain = Command::new(LOADSUITE).args(["report", "--thresholds"]).arg(&file).arg(&out).output().unwrap();
    assert_eq!(plain.status.code(), Some(0), "{}", String::from_utf8_lossy(&plain.stdout));
    assert!(targets(&json(&out.join("verdict.json"))).is_empty(), "the file's thresholds, not the scenario's");

    // A scenario's thresholds are validated like the file's, with their field.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/stress.toml")).unwrap();
    std::fs::write(&bad, text.replace("min_success_rate = 0.99", "min_success_rate = 1.5")).unwrap();
    let check = Command::new(LOADSUITE).arg("check").arg(&bad).output().unwrap();
    assert_eq!(check.status.code(), Some(2));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("thresholds") && err.contains("min_success_rate"), "{err}");
}

/// `--find-capacity` against an MCP server that runs at most 4 tools at once, each taking 200 ms:
/// past 4 users without think time the extra calls are refused as busy, so the search must find
/// 4 users (its tolerance is one user here) and say why 5 did not hold.
#[test]
fn find_capacity_finds_the_configured_concurrency_limit() {
    let _load = crate::common::QUIET.blocking_write();
    let (run, out) = run_on_mocks(
        &temp_dir("capacity"),
        "out",
        "name = \"mcp-capacity\"\n[targets]\nmcp = \"http://127.0.0.1:8020\"\n[[users]]\nname = \"mcp\"\ntarget = \"mcp\"\nthink = { kind = \"none\" }\ntasks = [{ kind = \"mcp_tool\", tool = \"git_status\" }]\n[load]\nshape = \"stages\"\nstages = [{ users = 1, duration = \"10s\" }]\n",
        "[mcp]\nmax_concurrent_tools = 4\n[[mcp.faults]]\nname = \"slow-git\"\nmatch = { attribute = \"git_status\" }\nlatency = { kind = \"fixed\", ms = 200 }\n",
        &["--find-capacity", "--step-time", "2s", "--max-users", "64"],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    let found = json(&out.join("capacity.json"));
    assert_eq!(found["capacity"]["sustained_users"], 4, "{stdout}");
    assert_eq!(found["capacity"]["limit_users"], 5, "{stdout}");
    assert!(found["capacity"]["limit_reason"].as_str().unwrap().contains("error rate"), "{stdout}");
    let probes = found["capacity"]["probes"].as_array().unwrap();
    let users: Vec<u64> = probes.iter().map(|p| p["users"].as_u64().unwrap()).collect();
    assert_eq!(&users[..4], [1, 2, 4, 8], "doubling first, then the search: {users:?}");
    for p in probes {
        assert!(std::path::Path::new(p["out"].as_str().unwrap()).join("run.json").is_file(), "each probe is a run");
    }
    let html = std::fs::read_to_string(out.join("capacity.html")).unwrap();
    assert!(html.contains("Sustained: 4 users") && html.contains("<svg"), "{html}");
    assert!(stdout.contains("**Sustained: 4 users.**"), "{stdout}");
}

/// Model management while users chat (`model-churn`): the operator's list / unload / load calls
/// succeed, chat requests that arrive while the model is gone fail as `model_not_found` (and only
/// so: streams already in flight finish), and chat succeeds again once it is loaded back.
#[test]
fn model_churn_shows_what_chat_sees_when_a_model_disappears() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("model-churn");
    let run = Command::new(LOADSUITE)
        .args(["run", "model-churn", "--embedded", "--run-time", "5s", "--silent", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "chat failed while the model was gone");
    let run = json(&out.join("run.json"));
    let rows: std::collections::BTreeMap<String, (u64, u64)> = run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = format!("{} {}", e["method"].as_str().unwrap(), e["name"].as_str().unwrap());
            (key, (e["requests"].as_u64().unwrap(), e["failures"].as_u64().unwrap()))
        })
        .collect();
    for step in ["MODELS list", "MODELS unload", "MODELS load", "MODELS cycle gpt-4o-mini"] {
        let (requests, failures) = rows[step];
        assert!(requests >= 1 && failures == 0, "{step}: {requests} requests, {failures} failed");
    }
    let (chats, failed) = rows["POST /v1/chat/completions"];
    assert!(
        failed > 0 && failed < chats,
        "some chat failed while the model was gone, the rest succeeded: {failed}/{chats}"
    );
    let kinds: Vec<&str> = run["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.iter().all(|k| *k == "model_not_found"),
        "in-flight streams finish; new requests are refused: {kinds:?}"
    );
}

/// Target-side counters: the run records what each mock counted itself, and a thresholds file
/// holds them to expectations ("sandbox violations: 0"; injected faults reported apart from
/// genuine errors).
#[test]
fn target_counters_are_recorded_and_judged_against_expectations() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("counters");
    let (run, out) = run_on_mocks(
        &dir,
        "run",
        "name = \"counted\"\n[targets]\ngateway = \"http://127.0.0.1:8000\"\nmcp = \"http://127.0.0.1:8020\"\n[[users]]\nname = \"api\"\ntarget = \"gateway\"\nthink = { kind = \"constant\", seconds = 0.02 }\ntasks = [{ kind = \"http\", path = \"/health\" }]\n[[users]]\nname = \"mcp\"\ntarget = \"mcp\"\nthink = { kind = \"constant\", seconds = 0.02 }\ntasks = [{ kind = \"mcp_tool\", tool = \"read_file\", arguments = { path = \"README.md\" }, weight = 3 }, { kind = \"mcp_tool\", name = \"escape\", tool = \"read_file\", arguments = { path = \"../../etc/passwd\" }, weight = 1 }]\n[load]\nshape = \"stages\"\nstages = [{ users = 4, spawn_rate = 100, duration = \"3s\" }]\n",
        "[[gateway.faults]]\nname = \"health-503\"\nprobability = 0.2\nmatch = { path = \"/health\" }\nerror = { status = 503 }\n",
        &["--silent", "--no-preflight"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let recorded = json(&out.join("run.json"));
    let counters = &recorded["target_counters"];
    let escapes = recorded["endpoints"].as_array().unwrap().iter().find(|e| e["name"] == "escape").unwrap();
    assert_eq!(counters["mcp"]["source"], "admin");
    assert_eq!(
        counters["mcp"]["delta"]["events.sandbox_violation"].as_f64(),
        escapes["requests"].as_f64(),
        "the MCP mock counted every escape attempt loadsuite sent: {counters}"
    );
    let injected = counters["gateway"]["delta"]["injected_faults"].as_f64().unwrap();
    assert!(
        injected > 0.0 && counters["gateway"]["delta"]["genuine_errors"] == 0.0,
        "injected apart from genuine: {counters}"
    );
    // No chat streamed here: the gateway's streamed and late tokens are recorded, unchanged.
    assert_eq!(counters["gateway"]["delta"]["late_stream_tokens"], 0.0, "{counters}");
    assert_eq!(counters["gateway"]["delta"]["streamed_tokens"], 0.0, "{counters}");

    let thresholds = dir.join("t.toml");
    std::fs::write(
        &thresholds,
        "[[counters]]\ntarget = \"mcp\"\ncounter = \"events.sandbox_violation\"\nmax = 0\n[[counters]]\ntarget = \"gateway\"\ncounter = \"genuine_errors\"\nmax = 0\n[[counters]]\ntarget = \"nowhere\"\ncounter = \"genuine_errors\"\nmax = 0\n",
    )
    .unwrap();
    let report = Command::new(LOADSUITE).args(["report", "--thresholds"]).arg(&thresholds).arg(&out).output().unwrap();
    assert_ne!(report.status.code(), Some(0));
    let verdict = json(&out.join("verdict.json"));
    let checks: Vec<(String, String)> = verdict["run_checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "target_counter")
        .map(|c| (c["target"].as_str().unwrap_or_default().to_owned(), c["detail"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(checks[0].1.contains("events.sandbox_violation") && checks[0].0 == "missed", "{checks:?}");
    assert!(checks[1].0 == "met", "no genuine gateway errors: {checks:?}");
    assert!(checks[2].0 == "not_demonstrable" && checks[2].1.contains("exposed no counters"), "{checks:?}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Target counters") && summary.contains("`events.sandbox_violation`"), "{summary}");
    assert!(summary.contains("| gateway | `injected_faults` |"), "{summary}");
}

/// Bottleneck indicators: a failure that means a resource ran out (`server_busy` here: an MCP mock
/// running at most 4 tools of 200 ms) and grows with users is named as such, with a
/// recommendation; the generator's own CPU limit is told apart from the service's.
#[test]
fn exhaustion_growing_with_users_is_named_as_a_bottleneck() {
    let _load = crate::common::QUIET.blocking_read();
    let (run, out) = run_on_mocks(
        &temp_dir("bottleneck"),
        "run",
        "name = \"busy\"\n[targets]\nmcp = \"http://127.0.0.1:8020\"\n[[users]]\nname = \"mcp\"\ntarget = \"mcp\"\nthink = { kind = \"none\" }\ntasks = [{ kind = \"mcp_tool\", tool = \"git_status\" }]\n[load]\nshape = \"stages\"\nstages = [{ users = 2, spawn_rate = 100, duration = \"2s\" }, { users = 10, spawn_rate = 100, duration = \"2s\" }]\n",
        "[mcp]\nmax_concurrent_tools = 4\n[[mcp.faults]]\nname = \"slow-git\"\nmatch = { attribute = \"git_status\" }\nlatency = { kind = \"fixed\", ms = 200 }\n",
        &["--silent"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let verdict = json(&out.join("verdict.json"));
    let diagnosis: Vec<&str> = verdict["diagnosis"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    let line = diagnosis
        .iter()
        .find(|d| d.contains("`server_busy` grows with users"))
        .unwrap_or_else(|| panic!("{diagnosis:#?}"));
    assert!(line.contains("stage 1: 0") && line.contains("concurrency slots"), "{line}");
    let recommendations = verdict["recommendations"].as_array().unwrap();
    assert!(
        recommendations.iter().any(|r| r.as_str().unwrap().contains("a resource running out")),
        "{recommendations:?}"
    );
}

/// What today's clients send, as task options of `chat`: a required tool call, a json_schema
/// structured output and a streamed Responses API call all answer and are checked; a structured
/// output cut short and a tool call the model did not make fail as `check_failed`, saying why.
#[test]
fn tool_calls_structured_outputs_and_responses_streams_are_checked() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("gateway-features");
    let out = dir.join("shipped");
    let run = Command::new(LOADSUITE)
        .args(["run", "gateway-features", "--embedded", "--run-time", "3s", "--silent", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let recorded = json(&out.join("run.json"));
    let rows: Vec<&Value> = recorded["endpoints"].as_array().unwrap().iter().collect();
    for name in ["tool call", "structured output", "responses stream"] {
        let row = rows.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no {name} row"));
        assert!(row["requests"].as_u64().unwrap() > 0 && row["failures"] == 0, "{row}");
    }
    let responses = rows.iter().find(|r| r["name"] == "responses stream").unwrap();
    assert!(responses["ttft_ms"]["p50"].as_f64().unwrap() > 0.0, "TTFT of Responses streams: {responses}");

    // A structured output cut short fails its check; `required` is obeyed by the mock's models.
    let (run, broken) = run_on_mocks(
        &dir,
        "broken",
        "name = \"broken\"\n[targets]\ngateway = \"http://127.0.0.1:8000\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = { kind = \"constant\", seconds = 0.05 }\ntasks = [\n  { kind = \"chat\", name = \"cut json\", model = \"gpt-4o-mini\", max_tokens = 2, extra = { response_format = { type = \"json_object\" } }, prompt = \"answer in json\" },\n  { kind = \"chat\", name = \"cut json stream\", model = \"gpt-4o-mini\", max_tokens = 2, stream = true, extra = { response_format = { type = \"json_object\" } }, prompt = \"answer in json\" },\n  { kind = \"chat\", name = \"json stream\", model = \"gpt-4o-mini\", max_tokens = 256, stream = true, extra = { response_format = { type = \"json_object\" } }, prompt = \"answer in json\" },\n  { kind = \"chat\", name = \"no call\", model = \"talker\", stream = true, extra = { tool_choice = \"required\", tools = [{ type = \"function\", function = { name = \"f\" } }] } },\n]\n[load]\nshape = \"stages\"\nstages = [{ users = 2, spawn_rate = 10, duration = \"2s\" }]\n",
        "[[gateway.models]]\nid = \"gpt-4o-mini\"\nkind = \"chat\"\n[[gateway.models]]\nid = \"talker\"\nkind = \"chat\"\n",
        &["--silent"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let recorded = json(&broken.join("run.json"));
    let failures = recorded["failures"].as_array().unwrap();
    // Read whole or put back together from its stream (whose text is kept only for this check).
    for name in ["cut json", "cut json stream"] {
        let cut = failures.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name}: {failures:?}"));
        assert_eq!(cut["kind"], "check_failed");
        assert!(cut["message"].as_str().unwrap().contains("not valid JSON"), "{cut}");
    }
    let cut = failures.iter().find(|f| f["name"] == "cut json").unwrap();
    assert!(cut["message"].as_str().unwrap().contains("(cut at max_tokens"), "{cut}");
    assert!(failures.iter().all(|f| f["name"] != "no call"), "the mock obeys `required`: {failures:?}");
    // A whole structured output, streamed, is put back together and passes its check.
    let rows = recorded["endpoints"].as_array().unwrap();
    let whole = rows.iter().find(|r| r["name"] == "json stream").unwrap();
    assert!(whole["requests"].as_u64().unwrap() > 0 && whole["failures"] == 0, "{whole}");
}
