//! The pipeline end to end on containers: the FROM-scratch mock images on a private network
//! (testcontainers), loadsuite's library driving them from the host through Docker-chosen ports.
//! 1. a baseline and a progressive run: every file written, counts equal to what each mock saw;
//! 2. a fault injected through the admin API mid-run: `compare` flags exactly that endpoint;
//! 3. the unknown-model reproduction: critical, with the model diagnosis;
//! 4. the RAG container stopped mid-run: the run ends on time, RAG alone fails (connection
//!    failures), every file is written, the verdict names RAG; restarted, the stack passes again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use e2e::ContainerStack;
use loadsuite::verdict::Verdict;
use serde_json::json;

/// Loadsuite's row names -> the name the mocks' counters use for the same requests.
fn as_service_row(row: &str) -> String {
    match row {
        "POST /v1/chat/completions (stream)" => "POST /v1/chat/completions".into(),
        other => other.to_owned(),
    }
}

fn service_of(row: &str) -> &'static str {
    if row.starts_with("MCP ") {
        "mcp"
    } else if row.contains("/v1/query") || row.contains("/v1/index") {
        "rag"
    } else {
        "gateway"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_and_progressive_runs_write_everything_and_match_what_the_mocks_saw() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets = stack.targets().await.unwrap();
    for (scenario, users, seconds) in [("baseline", Some(6), 6), ("api-progressive", None, 9)] {
        stack.reset().await.unwrap();
        let out = out_dir(scenario);
        let outcome = run_shipped(scenario, &targets, users, Duration::from_secs(seconds), &out, false).await;
        assert!(outcome.requests > 20, "{scenario}: {} requests", outcome.requests);
        assert_eq!(outcome.failures, 0, "{scenario}:\n{}", outcome.summary);
        for file in RUN_FILES {
            assert!(out.join(file).is_file(), "{scenario}: {file} missing");
        }
        let report = judge(&out, None);
        for file in ["summary.md", "report.html", "junit.xml", "verdict.json"] {
            assert!(out.join(file).is_file(), "{scenario}: {file} missing");
        }
        // Short runs leave some endpoints with too few samples to judge: inconclusive, never a regression.
        assert!(matches!(report.overall, Verdict::Pass | Verdict::Inconclusive), "{scenario}: {:?}", report.diagnosis);
        let run = read_json(&out.join("run.json"));
        if scenario == "api-progressive" {
            assert_eq!(run["engine"]["stages"].as_array().unwrap().len(), 3);
        }
        // Per service: what loadsuite counted equals what the mock itself counted.
        let mut expected: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
        for (row, (requests, _)) in rows(&run) {
            *expected.entry(service_of(&row)).or_default().entry(as_service_row(&row)).or_default() += requests;
        }
        for (service, want) in expected {
            let seen = service_rows(&targets[service], service).await;
            assert_eq!(seen, want, "{scenario}: {service} saw different counts than loadsuite recorded");
        }
        // The containers behind the targets were found by their published ports and sampled.
        let sampled: Vec<&str> =
            run["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(sampled.contains(&"gateway"), "{scenario}: resources {sampled:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_injected_mid_run_is_flagged_on_exactly_that_endpoint() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets = stack.targets().await.unwrap();
    let base_dir = out_dir("fault-baseline");
    run_shipped("baseline", &targets, Some(6), Duration::from_secs(6), &base_dir, true).await;
    let baseline_file = base_dir.join("baseline.json");
    record_baseline(&base_dir, &baseline_file);

    let rag = targets["rag"].clone();
    let inject = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rule =
            json!({"name": "query-503", "match": {"method": "POST", "path": "/v1/query"}, "error": {"status": 503}});
        let response = reqwest::Client::new().post(format!("{rag}/__admin/faults")).json(&rule).send().await.unwrap();
        assert_eq!(response.status(), 201);
    });
    let run_dir = out_dir("fault-run");
    run_shipped("baseline", &targets, Some(6), Duration::from_secs(6), &run_dir, true).await;
    inject.await.unwrap();
    let report = judge(&run_dir, Some(&baseline_file));
    let flagged: Vec<&str> =
        report.endpoints.iter().filter(|e| e.verdict.fails()).map(|e| e.endpoint.as_str()).collect();
    assert_eq!(flagged, ["POST /v1/query"], "{:#?}", report.diagnosis);
    let summary = std::fs::read_to_string(run_dir.join("summary.md")).unwrap();
    assert!(summary.contains("/v1/query"), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unknown_model_reproduction_is_critical_with_the_model_diagnosis() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets = stack.targets().await.unwrap();
    let out = out_dir("unknown-model");
    let outcome = run_shipped("repro-unknown-model", &targets, None, Duration::from_secs(4), &out, false).await;
    assert!(outcome.requests > 0 && outcome.failures > 0);
    let report = judge(&out, None);
    assert_eq!(report.overall, Verdict::Regression(loadsuite::verdict::Severity::Critical));
    let diagnosis = report.diagnosis.join("\n");
    assert!(
        diagnosis.contains("qwen2.5-14b-instruct")
            && diagnosis.contains("gpt-4o-mini")
            && diagnosis.contains("model_not_found"),
        "{diagnosis}"
    );
    // The gateway container counted the unknown model too.
    let counters: serde_json::Value =
        reqwest::get(format!("{}/__admin/counters", targets["gateway"])).await.unwrap().json().await.unwrap();
    assert!(counters["events"]["unknown_model"]["qwen2.5-14b-instruct"].as_u64().unwrap() > 0, "{counters}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rag_container_stopped_mid_run_fails_rag_alone_and_the_restarted_stack_passes() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets = stack.targets().await.unwrap();
    let rag = stack.service("rag");
    let out = out_dir("rag-stopped");
    let run_time = Duration::from_secs(8);
    let started = Instant::now();
    let (outcome, stopped) = tokio::join!(run_shipped("baseline", &targets, Some(6), run_time, &out, true), async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        rag.container.stop().await
    });
    stopped.expect("the RAG container stops");
    let took = started.elapsed();
    // On schedule: the plan, plus at most the bounded drain (3 s) and preflight.
    assert!(took < run_time + Duration::from_secs(6), "the run took {took:?}");
    for file in RUN_FILES {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let run = read_json(&out.join("run.json"));
    // RAG failed from the stop on (which of its rows the users happened to pick then is chance),
    // nothing else did.
    let (mut rag_requests, mut rag_failures) = (0, 0);
    for (row, (requests, failures)) in rows(&run) {
        match service_of(&row) {
            "rag" => {
                rag_requests += requests;
                rag_failures += failures;
            }
            _ => assert_eq!(failures, 0, "{row} failed although only RAG stopped"),
        }
    }
    assert!(rag_failures > 0 && rag_failures < rag_requests, "RAG: {rag_failures}/{rag_requests} failed");
    let kinds: Vec<&str> = run["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.iter().all(|k| matches!(*k, "connect_refused" | "connection_reset" | "timeout" | "protocol_error")),
        "connection-level failures only: {kinds:?}"
    );
    let report = judge(&out, None);
    let failed: Vec<&str> =
        report.endpoints.iter().filter(|e| e.verdict.fails()).map(|e| e.endpoint.as_str()).collect();
    assert!(
        !failed.is_empty() && failed.iter().all(|e| e.contains("/v1/query") || e.contains("/v1/index")),
        "{failed:?}"
    );
    assert!(outcome.failures > 0);

    rag.container.start().await.expect("the RAG container restarts");
    rag.wait_healthy(Duration::from_secs(30)).await.expect("RAG healthy again");
    let targets = stack.targets().await.unwrap(); // Docker may give the restarted container a new port.
    let again = out_dir("rag-restarted");
    let outcome = run_shipped("baseline", &targets, Some(6), Duration::from_secs(4), &again, true).await;
    assert_eq!(outcome.failures, 0, "{}", outcome.summary);
    let overall = judge(&again, None).overall;
    assert!(matches!(overall, Verdict::Pass | Verdict::Inconclusive), "{overall:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_turns_on_containers_execute_every_tool_call_the_model_made_exactly_once() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets = stack.targets().await.unwrap();
    stack.reset().await.unwrap();
    let out = out_dir("agent-progressive");
    let outcome = run_shipped("agent-progressive", &targets, Some(8), Duration::from_secs(6), &out, true).await;
    assert_eq!(outcome.failures, 0, "{}", outcome.summary);
    let run = read_json(&out.join("run.json"));
    let rows = rows(&run);
    let turns = rows["AGENT turn"].0;
    assert!(turns >= 5, "{}", outcome.summary);
    let executed: u64 = rows.iter().filter(|(r, _)| r.starts_with("AGENT tool ")).map(|(_, (n, _))| n).sum();
    // The gateway counts every call its model emitted; the MCP mock journals every call it ran.
    let counters: serde_json::Value =
        reqwest::get(format!("{}/__admin/counters", targets["gateway"])).await.unwrap().json().await.unwrap();
    let emitted: u64 =
        counters["events"]["tool_call"].as_object().map_or(0, |calls| calls.values().filter_map(|n| n.as_u64()).sum());
    let ran: u64 = service_rows(&targets["mcp"], "mcp")
        .await
        .iter()
        .filter(|(row, _)| row.starts_with("MCP tools/call git_"))
        .map(|(_, n)| n)
        .sum();
    assert!(executed >= turns, "at least one tool call a turn: {executed} for {turns} turns");
    assert_eq!((emitted, ran), (executed, executed), "emitted by the model = run by the MCP mock = recorded");
    let chat = service_rows(&targets["gateway"], "gateway").await;
    assert_eq!(chat["POST /v1/chat/completions"], rows["AGENT llm"].0, "every model call reached the gateway once");
}
