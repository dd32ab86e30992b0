//! `loadsuite issue` against a local fake GitHub API: the first regression opens one issue, the
//! same regression again comments on it instead of opening a duplicate; --dry-run prints the payload.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    issues: Vec<Value>,
    comments: Vec<(u64, Value)>,
    authorized: bool,
}

type Shared = Arc<Mutex<Fake>>;

async fn list(State(fake): State<Shared>) -> Json<Value> {
    Json(Value::Array(fake.lock().unwrap().issues.clone()))
}

async fn create(
    State(fake): State<Shared>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let mut fake = fake.lock().unwrap();
    fake.authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer test-token");
    let number = fake.issues.len() as u64 + 1;
    let issue = json!({"number": number, "title": body["title"], "body": body["body"], "labels": body["labels"], "state": "open"});
    fake.issues.push(issue.clone());
    (axum::http::StatusCode::CREATED, Json(issue))
}

async fn comment(
    State(fake): State<Shared>,
    Path((_, _, number)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    fake.lock().unwrap().comments.push((number, body));
    (axum::http::StatusCode::CREATED, Json(json!({"id": 1})))
}

#[tokio::test]
async fn files_one_issue_then_comments_on_it() {
    // A regression verdict: a run whose chat requests all fail.
    let mocks = crate::common::Mocks::start("").await;
    let text = format!(
        "name = \"gh\"\n{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"chat\", model = \"qwen2.5-14b-instruct\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 1, duration = \"0.5s\" }}]\n",
        mocks.targets()
    );
    let scenario = loadsuite::scenario::parse(&text, "gh.toml", "gh").unwrap();
    let mut options = loadsuite::run::RunOptions::new(crate::common::temp_dir("gh"));
    options.preflight = false;
    let outcome = loadsuite::run::run(scenario, options).await.unwrap();
    let report = loadsuite::verdict::judge(None, &outcome.out, Default::default()).unwrap();
    loadsuite::verdict::write_reports(&report, &outcome.out).unwrap();
    let verdict = outcome.out.join("verdict.json");

    let fake: Shared = Arc::default();
    let app = Router::new()
        .route("/repos/{owner}/{name}/issues", get(list).post(create))
        .route("/repos/{owner}/{name}/issues/{number}/comments", post(comment))
        .with_state(fake.clone());
    let api = crate::common::serve(app).await;

    let bin = env!("CARGO_BIN_EXE_loadsuite");
    let dry = tokio::process::Command::new(bin)
        .args(["issue", "--repo", "acme/stack", "--dry-run", "--verdict"])
        .arg(&verdict)
        .output()
        .await
        .unwrap();
    assert!(dry.status.success());
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        printed.contains("POST /repos/acme/stack/issues")
            && printed.contains("severity:critical")
            && printed.contains("qwen2.5-14b-instruct"),
        "{printed}"
    );
    assert!(fake.lock().unwrap().issues.is_empty(), "a dry run posts nothing");

    for _ in 0..2 {
        let run = tokio::process::Command::new(bin)
            .args(["issue", "--repo", "acme/stack", "--verdict"])
            .arg(&verdict)
            .env("GITHUB_TOKEN", "test-token")
            .env("GITHUB_API_URL", &api)
            .output()
            .await
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let fake = fake.lock().unwrap();
    assert_eq!(fake.issues.len(), 1, "one issue");
    assert_eq!(fake.comments.len(), 1, "then one comment");
    assert_eq!(fake.comments[0].0, 1);
    assert!(fake.authorized, "the token was sent");
    assert!(fake.issues[0]["title"].as_str().unwrap().contains("critical"));
    assert!(fake.issues[0]["labels"].as_array().unwrap().contains(&json!("loadsuite")));
}
