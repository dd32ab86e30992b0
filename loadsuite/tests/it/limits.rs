//! loadsuite under hostile input and long runs: absurd numbers and typos are refused with the
//! field (exit 2, never a panic), a results directory is never silently mixed with another run's,
//! large answers are counted without being held in memory, and a run leaves neither MCP sessions
//! nor an ever-growing RAG collection behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{Mocks, run_text, temp_dir};

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

fn loadsuite(args: &[&str]) -> Output {
    Command::new(LOADSUITE).args(args).output().unwrap()
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn refused(args: &[&str], expect: &str) {
    let output = loadsuite(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {}", said(&output));
    assert!(said(&output).contains(expect), "{args:?}: expected `{expect}` in: {}", said(&output));
    assert!(!said(&output).contains("panicked"), "{args:?}");
}

#[test]
fn absurd_numbers_and_typos_are_refused_with_the_field() {
    refused(&["run", "light", "--embedded", "--run-time", "1e30"], "--run-time");
    refused(&["run", "light", "--embedded", "--timeout", "99999999999999999999h"], "--timeout");
    refused(&["run", "light", "--embedded", "--duration-scale", "1e300"], "over the 30 days");
    refused(&["run", "--url", "http://127.0.0.1:9/", "--run-time", "1s", "--wait", "1e300"], "--wait");
    refused(&["run", "--url", "http://127.0.0.1:9/", "--run-time", "1s", "--wait", "2..1"], "minimum must not exceed");
    refused(&["run", "light", "--embedded", "--spawn-rate", "0"], "--spawn-rate");
    refused(&["run", "light", "--embedded", "--spawn-rate", "nan"], "--spawn-rate");
    refused(&["run", "light", "--embedded", "--timeout", "0s"], "--timeout 0s");
    refused(&["run", "light", "--target", "gatway=http://127.0.0.1:9"], "no target `gatway`");

    let dir = temp_dir("bad-scenario");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [\n  { kind = \"http\", path = \"/a\", weight = \"heavy\" },\n  { kind = \"rag_query\", query = \"q\", top_k = -1 },\n  { kind = \"http\", path = \"/b\", expect_status = 999 },\n]\n[load]\nshape = \"stages\"\nstages = [{ users = 1, duration = \"99999999999999999999h\" }]\n",
    )
    .unwrap();
    let check = loadsuite(&["check", file.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(2));
    let text = said(&check);
    let shown = file.display().to_string();
    assert!(text.contains(&format!("{shown}:8: users[0].tasks[0].weight:")), "{text}");
    assert!(text.contains(&format!("{shown}:9: users[0].tasks[1].top_k:")), "{text}");
    assert!(!text.contains("(syntax)"), "type errors name their field: {text}");

    std::fs::write(&file, "name = \"bad\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{ kind = \"http\", path = \"/b\", expect_status = 999 }]\n[load]\nshape = \"stages\"\nstages = [{ users = 1, duration = \"99999999999999999999h\" }]\n").unwrap();
    let check = said(&loadsuite(&["check", file.to_str().unwrap()]));
    assert!(check.contains("expect_status: 999 is not an HTTP status"), "{check}");
    assert!(check.contains("load.stages[0].duration:") && check.contains("30 days"), "{check}");

    std::fs::write(&file, "name = \"bad\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{ kind = \"http\", path = \"/\" }]\n[load]\nshape = \"spike\"\nfrom = 50\nto = 10\nspawn_rate = 0\n").unwrap();
    let check = said(&loadsuite(&["check", file.to_str().unwrap()]));
    assert!(check.contains("load.spawn_rate:") && check.contains("load.from:"), "{check}");
    std::fs::write(&file, "name = \"bad\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{ kind = \"http\", path = \"/\" }]\n[load]\nshape = \"arrival\"\nmax_in_flight = 0\nstages = [{ rate = 10, duration = \"1s\" }]\n").unwrap();
    let check = said(&loadsuite(&["check", file.to_str().unwrap()]));
    assert!(check.contains("load.max_in_flight: must be at least 1"), "{check}");
}

fn only(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect()
}

#[test]
fn a_results_directory_is_never_silently_mixed_with_another_run() {
    let out = temp_dir("one-dir");
    let path = out.to_str().unwrap();
    let first = loadsuite(&["run", "light", "--embedded", "--run-time", "1s", "--quiet", "--out", path]);
    assert!(matches!(first.status.code(), Some(0 | 1)), "{}", said(&first));
    refused(&["run", "light", "--embedded", "--run-time", "1s", "--quiet", "--out", path], "--overwrite");
    // A write interrupted by a crash leaves a temporary file: the next run clears it.
    std::fs::write(out.join("run.json.tmp"), "{half").unwrap();
    let again = loadsuite(&["run", "light", "--embedded", "--run-time", "1s", "--quiet", "--overwrite", "--out", path]);
    assert!(matches!(again.status.code(), Some(0 | 1)), "{}", said(&again));
    assert!(only(&out, ".tmp").is_empty(), "stray temporary files removed");
    // A CSV of another run copied beside run.json: readers refuse the mix.
    let other = temp_dir("other-dir");
    let third =
        loadsuite(&["run", "light", "--embedded", "--run-time", "1s", "--quiet", "--out", other.to_str().unwrap()]);
    assert!(matches!(third.status.code(), Some(0 | 1)), "{}", said(&third));
    std::fs::copy(other.join("loadsuite_stats.csv"), out.join("loadsuite_stats.csv")).unwrap();
    refused(&["report", path], "does not belong to run");
    // Negative counts are not a run.
    let text =
        std::fs::read_to_string(other.join("run.json")).unwrap().replacen("\"requests\": ", "\"requests\": -", 1);
    std::fs::write(other.join("run.json"), text).unwrap();
    refused(&["report", other.to_str().unwrap()], "damaged run.json");
}

/// A server answering every request with `size` bytes.
async fn big_answers(size: usize) -> String {
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Starts `loadsuite run --url URL` with `users` for `run_time`, results in `out`.
fn spawn_url_run(url: &str, users: &str, run_time: &str, out: &Path) -> tokio::process::Child {
    tokio::process::Command::new(LOADSUITE)
        .args(["run", "--url", url, "--users", users, "--run-time", run_time, "--quiet", "--out"])
        .arg(out)
        .spawn()
        .unwrap()
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_are_counted_not_held() {
    let url = big_answers(64 << 20).await;
    let out = temp_dir("big-answers");
    let mut child = spawn_url_run(&format!("{url}/big"), "4", "3s", &out);
    let pid = child.id().unwrap();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let requests = run["aggregate"]["requests"].as_u64().unwrap();
    assert!(requests >= 4, "{run}");
    assert_eq!(run["aggregate"]["bytes"].as_u64().unwrap(), requests * (64 << 20), "every byte counted");
    // Four users each receiving 64 MiB answers; buffering them took 1.5 GB before.
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn a_run_ends_its_mcp_sessions_and_keeps_the_rag_collection_bounded() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start("").await;
    let text = format!(
        "{}\n[[users]]\nname = \"m\"\ntarget = \"mcp\"\ntasks = [{{ kind = \"mcp_tool\", tool = \"git_status\" }}]\n[[users]]\nname = \"r\"\ntarget = \"rag\"\ntasks = [{{ kind = \"rag_index\", documents = 2, words = 10 }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 6, spawn_rate = 100, duration = \"2s\" }}]\n",
        mocks.targets()
    );
    let (outcome, _) = run_text(&text, "sessions-and-index").await;
    assert_eq!(outcome.failures, 0, "{}", outcome.summary);
    let mcp = mocks.stack.service(mocks::stack::ServiceKind::Mcp).unwrap().mcp().unwrap();
    assert_eq!(mcp.open_sessions(), 0, "every session the run opened was ended");
    let rag = mocks.stack.service(mocks::stack::ServiceKind::Rag).unwrap().rag().unwrap();
    let seeded = 12; // the built-in corpus
    let bound = seeded + 3 * loadsuite::tasks::RAG_INDEX_SLOTS as usize * 2;
    assert!(rag.store.stats().documents <= bound, "{} documents after many index calls", rag.store.stats().documents);
}

#[tokio::test]
async fn a_timeout_while_reading_a_body_or_a_stream_is_a_timeout() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(
        "[gateway]\n[[gateway.faults]]\nname = \"dribble\"\nmatch = { path = \"/v1/embeddings\" }\ntransport = { kind = \"dribble\", chunk_bytes = 16, interval_ms = 200 }\n[[gateway.faults]]\nname = \"stall\"\nmatch = { path = \"/v1/chat/completions\" }\nstream = { stall_at_chunk = 2, stall_ms = 5000 }\n",
    )
    .await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"embeddings\", model = \"text-embedding-3-small\" }}, {{ kind = \"chat\", model = \"gpt-4o-mini\", max_tokens = 8, stream = true }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 100, duration = \"1s\" }}]\n",
        mocks.targets()
    );
    let scenario = loadsuite::scenario::parse(&text, "slow.toml", "slow").unwrap();
    let mut options = loadsuite::run::RunOptions::new(temp_dir("slow-bodies"));
    options.timeout = Duration::from_millis(800);
    options.preflight = false;
    let outcome = loadsuite::run::run(scenario, options).await.unwrap();
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(outcome.run_json).unwrap()).unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        run["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, std::collections::BTreeSet::from(["timeout"]), "{}", run["failures"]);
}

/// A field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field))?.split_whitespace().next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_generator_has_room_for_its_connections_and_no_huge_pages() {
    let url = big_answers(16).await;
    let out = temp_dir("startup");
    let mut child = spawn_url_run(&format!("{url}/small"), "2", "2s", &out);
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (table, huge_pages) = (status_field(pid, "FDSize:"), status_field(pid, "THP_enabled:"));
    assert!(child.wait().await.unwrap().code().is_some());
    // The child inherits this process's open-file limit; the table is grown to it (at most 65,536).
    let soft = common::startup::open_file_limit().unwrap();
    let table = table.expect("the run was still going");
    assert!(table >= soft.min(1 << 16), "descriptor table of {table}, limit {soft}");
    // Kernels before 5.0 have no such line.
    assert!(huge_pages.is_none_or(|h| h == 0), "THP_enabled: {huge_pages:?}");
}
