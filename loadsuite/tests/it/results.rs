//! Result files: Locust's exact CSV headers (compared with a real Locust run), CSV counts equal to
//! what the mocks' journals saw, and an interrupted run still leaving complete files.

use std::time::Duration;

use crate::common::{Mocks, run_text, temp_dir};
use loadsuite::run::{RunOptions, run};
use loadsuite::scenario;
use mocks::stack::ServiceKind;

fn first_line(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn csv_headers_equal_a_real_locust_runs() {
    let _load = crate::common::QUIET.read().await;
    let mocks = Mocks::start("").await;
    let dir = temp_dir("locust");
    crate::common::run_locust(&mocks.url(ServiceKind::Gateway), &dir).await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 1, duration = \"1s\" }}]\n",
        mocks.targets()
    );
    let (outcome, _) = run_text(&text, "headers").await;
    for suffix in ["stats", "stats_history", "failures", "exceptions"] {
        let theirs = first_line(&dir.join(format!("locust_{suffix}.csv")));
        let ours = first_line(&outcome.out.join(format!("loadsuite_{suffix}.csv")));
        assert_eq!(ours, theirs, "{suffix}.csv header");
    }
}

fn csv_counts(path: &std::path::Path) -> Vec<(String, String, u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn csv_counts_equal_what_the_mocks_saw() {
    let _load = crate::common::QUIET.read().await;
    let mocks = Mocks::start("").await;
    let text = scenario::shipped("baseline")
        .unwrap()
        .replace("http://127.0.0.1:8000", &mocks.url(ServiceKind::Gateway))
        .replace("http://127.0.0.1:8002", &mocks.url(ServiceKind::Rag))
        .replace("http://127.0.0.1:8020", &mocks.url(ServiceKind::Mcp))
        .replace("duration = \"2m\"", "duration = \"3s\"")
        .replace("min = 0.5, max = 1.0", "min = 0.01, max = 0.05");
    let scenario = scenario::parse(&text, "counts.toml", "counts").unwrap();
    let mut options = RunOptions::new(temp_dir("counts"));
    options.preflight = false;
    let outcome = run(scenario, options).await.unwrap();
    let rows = csv_counts(&outcome.out.join("loadsuite_stats.csv"));
    let total: u64 = rows.iter().filter(|r| r.1 != "Aggregated").map(|r| r.2).sum();
    assert_eq!(rows.last().unwrap().2, total, "Aggregated is the sum");
    assert!(total > 30, "{total} requests");
    let seen = |kind: ServiceKind, route: &str| -> u64 {
        let service = mocks.stack.service(kind).unwrap();
        let telemetry = match kind {
            ServiceKind::Gateway => service.gateway().unwrap().telemetry.clone(),
            ServiceKind::Rag => service.rag().unwrap().telemetry.clone(),
            ServiceKind::Mcp => service.mcp().unwrap().telemetry.clone(),
        };
        telemetry.counters().requests.iter().filter(|r| r.key.route == route).map(|r| r.count).sum()
    };
    let ours = |name: &str| rows.iter().filter(|r| r.1.starts_with(name)).map(|r| r.2).sum::<u64>();
    assert_eq!(seen(ServiceKind::Gateway, "/v1/chat/completions"), ours("/v1/chat/completions"));
    assert_eq!(seen(ServiceKind::Gateway, "/health"), ours("/health"));
    assert_eq!(seen(ServiceKind::Gateway, "/v1/models"), ours("/v1/models"));
    assert_eq!(seen(ServiceKind::Gateway, "/v1/embeddings"), ours("/v1/embeddings"));
    assert_eq!(seen(ServiceKind::Rag, "/v1/query"), ours("/v1/query"));
    assert_eq!(seen(ServiceKind::Rag, "/v1/index"), ours("/v1/index"));
    let tool_calls = mocks.stack.service(ServiceKind::Mcp).unwrap().mcp().unwrap().telemetry.journal(100_000);
    let calls = tool_calls
        .iter()
        .filter(|e| e.attribute.as_deref().is_some_and(|a| !a.contains('/') && a != "initialize"))
        .count() as u64;
    assert_eq!(calls, ours("tools/call"));
}

#[tokio::test]
async fn an_interrupted_run_still_writes_complete_files() {
    let _load = crate::common::QUIET.read().await;
    let mocks = Mocks::start("").await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 5, duration = \"60s\" }}]\n",
        mocks.targets()
    );
    let scenario = scenario::parse(&text, "stop.toml", "stop").unwrap();
    let options = RunOptions::new(temp_dir("stop"));
    let stop = options.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.cancel();
    });
    let started = std::time::Instant::now();
    let outcome = run(scenario, options).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "stopped promptly: {:?}", started.elapsed());
    assert!(outcome.interrupted && outcome.requests > 10);
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&outcome.run_json).unwrap()).unwrap();
    assert_eq!(run["engine"]["interrupted"], true);
    assert_eq!(run["aggregate"]["requests"].as_u64(), Some(outcome.requests));
    let rows = csv_counts(&outcome.out.join("loadsuite_stats.csv"));
    assert_eq!(rows.last().unwrap().2, outcome.requests, "the CSV holds every sample, the last second included");
    assert!(
        !std::fs::read_dir(&outcome.out).unwrap().any(|e| e.unwrap().path().to_string_lossy().ends_with(".tmp")),
        "no temporary files left"
    );
}
