//! Recommendations: for every kind of finding a verdict can make (a failure kind on a failing row,
//! a latency regression, a missed target, a failed run check, a pattern the diagnosis found), one
//! line on what it usually means and what to look at next. Only what this run found is
//! recommended, each kind once, naming the rows it concerns.

use std::collections::BTreeMap;

use super::model::{Check, CheckKind, EndpointVerdict, TargetStatus, Verdict};

/// The advice for a failure kind (`{rows}` is replaced by the rows it was seen on).
fn for_failure_kind(kind: &str) -> String {
    match kind {
        "model_not_found" => "{rows}: the gateway does not serve the model asked for. Fix the model name in the load test (`--var` or `LOADSUITE_VAR_*`), or deploy the model; the diagnosis says which it is.",
        "rate_limit_exceeded" | "http_429" => "{rows}: rate limited (429). The load exceeds a configured limit: raise the gateway's per-model limits for the test, lower the users, or check the client honours `retry-after` / `x-ratelimit-reset-*`.",
        "timeout" => "{rows}: requests timed out. The service is slower than the timeout under this load: look for queueing (p95 rising with users, a latency knee), a saturated dependency, or raise `--timeout` if the SLO allows.",
        "connect_refused" => "{rows}: connections refused. Nothing listened: the service was down, restarting, or its accept queue / connection cap was full. Check its restarts and logs at the times of the failures.",
        "connection_reset" => "{rows}: connections reset mid-request. A proxy or the service dropped them: compare idle / keep-alive timeouts along the path, and look for crashes or OOM kills.",
        "server_busy" => "{rows}: the service refused work as busy (its concurrency limit). Raise its concurrency or replicas, or treat the users at the first busy stage as the capacity.",
        "stream_cut" => "{rows}: streams ended before their last event. Check proxy read timeouts and response buffering (SSE needs unbuffered, long-lived connections), and the server's logs for aborted generations.",
        "unfinished" => "{rows}: requests were never answered before the run ended. The service hangs: look for deadlocks, exhausted worker or connection pools, or a dependency that never answers.",
        "vector_store_timeout" => "{rows}: the vector store timed out. Check its latency and load (index size, replicas); the RAG service's own timeout to it may be too short for this load.",
        "db_error" => "{rows}: the service's database failed. Check its connection pool size and the database's own errors and connection limits under this load.",
        "tool_error" => "{rows}: tools returned errors. Read the first message in the diagnosis; for the MCP mock's sandbox, check the paths the tools were given.",
        "invalid_tool_arguments" => "{rows}: the model's tool arguments were not valid JSON or broke the tool's input schema. Check the model (or its `max_tokens`, which cuts arguments short) and the tool schemas it is given.",
        "unknown_tool" => "{rows}: the model called tools it was not offered. Check the tool list sent with each request and the model's instructions.",
        "max_steps_exceeded" => "{rows}: the model kept calling tools past `max_steps`. Look for a tool loop (the same call repeated), or raise `max_steps` if long turns are expected.",
        "protocol_error" => "{rows}: answers were not what the protocol promises (unparseable JSON or SSE, wrong content type). Check proxies rewriting bodies and the service's error pages.",
        "check_failed" => "{rows}: answers came back but failed the task's check (`expect_status`). Compare the status the scenario expects with what the service now returns.",
        "server_error" | "unavailable" => "{rows}: the service answered with server errors (`{kind}`): overloaded or failing. Its logs at the times of the failures say why; the first message is in the diagnosis.",
        "client_aborted" => "{rows}: the client went away before the answer. Usually the run's own timeout or end: see `timeout` and `unfinished`.",
        other if other.starts_with("http_5") => "{rows}: the service answered with server errors ({kind}). Its logs at the times of the failures say why; the first message is in the diagnosis.",
        other if other.starts_with("http_4") => "{rows}: the service refused requests ({kind}). The load test sends something it does not accept: compare the request with the service's API (auth, paths, bodies).",
        _ => "{rows}: `{kind}` failures. The first message is in the diagnosis; the service's logs at those times say more.",
    }
    .replace("{kind}", kind)
}

/// The recommendations for a judged run.
pub fn recommend(endpoints: &[EndpointVerdict], run_checks: &[Check], diagnosis: &[String]) -> Vec<String> {
    let mut kinds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut slower: Vec<&str> = Vec::new();
    let mut missed: Vec<&str> = Vec::new();
    for e in endpoints.iter().filter(|e| e.verdict.fails()) {
        for kind in e.failure_kinds.keys() {
            let rows = kinds.entry(kind).or_default();
            if !rows.contains(&e.endpoint.as_str()) {
                rows.push(&e.endpoint);
            }
        }
        let regressed = |kinds: &[CheckKind]| e.checks.iter().any(|c| kinds.contains(&c.kind) && c.verdict.fails());
        if regressed(&[CheckKind::LatencyP95, CheckKind::TtftP95]) && !slower.contains(&e.endpoint.as_str()) {
            slower.push(&e.endpoint);
        }
        if e.checks.iter().any(|c| c.target == Some(TargetStatus::Missed)) && !missed.contains(&e.endpoint.as_str()) {
            missed.push(&e.endpoint);
        }
        if regressed(&[CheckKind::Present]) {
            kinds.entry("(missing)").or_default().push(&e.endpoint);
        }
    }
    let list = |rows: &[&str]| rows.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ");
    let mut out: Vec<String> = Vec::new();
    for (kind, rows) in &kinds {
        if *kind == "(missing)" {
            out.push(format!(
                "{}: baselined but not measured in this run. Put the tasks back in the scenario, or record a new baseline if they were removed on purpose.",
                list(rows)
            ));
        } else {
            out.push(for_failure_kind(kind).replace("{rows}", &list(rows)));
        }
    }
    if !slower.is_empty() {
        out.push(format!(
            "{}: slower than the baseline at the same load. Compare what changed since the baseline (deployment, configuration, model, dependencies); the diagnosis names the stage and, for agent turns, the step.",
            list(&slower)
        ));
    }
    if !missed.is_empty() {
        out.push(format!(
            "{}: an absolute target (SLO) was missed. The service needs more capacity at that load, or the target is set tighter than it can meet: the verdict shows the target that applied.",
            list(&missed)
        ));
    }
    for c in run_checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive) {
        let advice = match c.kind {
            CheckKind::RunCompleted => {
                "the run was stopped before its plan ended: its results are partial. Rerun it whole before judging."
            }
            CheckKind::ClassesRan => {
                "a user class got no users: give the run more users (at least one per class) or adjust the class weights."
            }
            CheckKind::ScheduleKept => {
                "the arrival schedule was not kept (iterations dropped or late): the service is too slow for the rate or `max_in_flight` is too low. Raise `max_in_flight` or lower the rate; the missed share is load the service never got."
            }
            _ => "see the run check's detail above.",
        };
        out.push(format!("The run: {advice}"));
    }
    for line in diagnosis {
        let advice = if line.contains("latency knee") {
            "the latency knee marks the load where queueing starts: the capacity lies between that stage's users and the previous one's (`--find-capacity` narrows it)."
        } else if line.contains("` grows with users") {
            "a failure that grows with users is a resource running out: raise that limit (slots, rate limit, connections, replicas) or take the last stage without it as the capacity."
        } else if line.contains("reached its CPU limit") {
            "a service at its CPU limit is CPU-bound: give it more CPU or replicas, or profile what it spends the CPU on; its latency knee is where the limit bites."
        } else if line.contains("load generator was at its CPU limit") {
            "the generator, not the service, was the bottleneck: run fewer users per process or split the load into segments (`--segment I/N` on several machines) before judging the service."
        } else if line.contains("errors grow with users") {
            "errors growing with users point at a resource that runs out under load (connections, workers, memory, a dependency's limit): watch the service's resources across the stages."
        } else if line.contains("timeouts appear") {
            "timeouts appearing at one load level mark a saturation point: compare that stage's users with the service's worker and pool sizes."
        } else if line.contains("possible leak") {
            "memory kept climbing through the last stage without the run's own writes to explain it: take a heap profile of that process over a longer run."
        } else {
            continue;
        };
        let subject = line.split(':').next().unwrap_or_default();
        out.push(format!("{subject}: {advice}"));
    }
    out.dedup();
    out
}
