//! Honest verdicts through the CLI: nothing that did not run may pass. A hung target's requests are
//! failures (`unfinished`), a run with no request exits 3, a user class left without users and a
//! stage that cannot reach its users are warned about and recorded, `--run-time` keeps a plan's
//! peaks, a baselined endpoint missing from a run is a regression naming it, a stage at another
//! load is not comparable, `report` passes a healthy run on its targets alone, and `baseline`
//! says what it blesses.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::common::temp_dir;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

fn loadsuite(args: &[&str]) -> Output {
    Command::new(LOADSUITE).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A target that accepts connections, reads what it is sent, and never answers; counts requests.
fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                // Hold the connection open without answering until the client gives up.
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (url, requests)
}

#[test]
fn a_hung_target_counts_every_sent_request_as_failed_and_exits_1() {
    let _load = crate::common::QUIET.blocking_read();
    let (url, seen) = black_hole();
    let out = temp_dir("hung");
    let output = loadsuite(&[
        "run",
        "--url",
        &format!("{url}/v1/models"),
        "--users",
        "3",
        "--run-time",
        "1s",
        "--timeout",
        "60s",
        "--drain",
        "1s",
        "--quiet",
        "--out",
        path(&out),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let run = read(&out.join("run.json"));
    let sent = seen.load(Ordering::SeqCst) as u64;
    assert_eq!(sent, 3, "each user sent one request and waited");
    assert_eq!(run["aggregate"]["requests"], sent, "every sent request is in the results");
    assert_eq!(run["aggregate"]["failures"], sent, "and every one failed");
    let kinds: Vec<&str> = run["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["unfinished"]);
    let csv = std::fs::read_to_string(out.join("loadsuite_stats.csv")).unwrap();
    assert!(csv.lines().any(|l| l.starts_with(",Aggregated,3,3,")), "{csv}");
    let report = loadsuite(&["report", path(&out)]);
    assert_eq!(report.status.code(), Some(1), "{}", text(&report));
    assert!(text(&report).contains("regression (critical)"), "{}", text(&report));
}

#[test]
fn a_run_with_no_request_exits_3_and_its_report_is_not_a_pass() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("no-requests");
    let output =
        loadsuite(&["run", "light", "--embedded", "--users", "0", "--run-time", "1s", "--quiet", "--out", path(&out)]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(text(&output).contains("nothing was measured"), "{}", text(&output));
    let report = loadsuite(&["report", path(&out)]);
    assert_eq!(report.status.code(), Some(3), "{}", text(&report));
    assert!(text(&report).contains("the run has no requests"), "{}", text(&report));
}

#[test]
fn a_class_without_users_is_warned_about_recorded_and_never_passes() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("idle-class");
    let output = loadsuite(&[
        "run",
        "baseline",
        "--embedded",
        "--users",
        "2",
        "--run-time",
        "2s",
        "--quiet",
        "--out",
        path(&out),
    ]);
    let said = text(&output);
    assert!(said.contains("warning: user class `mcp` got 0 users"), "{said}");
    let run = read(&out.join("run.json"));
    let warnings = run["engine"]["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["kind"] == "class_without_users" && w["message"].as_str().unwrap().contains("`mcp`"))
    );
    let classes = run["engine"]["classes"].as_array().unwrap();
    assert_eq!(classes.iter().find(|c| c["name"] == "mcp").unwrap()["peak"], 0);
    let report = loadsuite(&["report", path(&out)]);
    assert_ne!(report.status.code(), Some(0), "{}", text(&report));
    let verdict = read(&out.join("verdict.json"));
    let check = verdict["run_checks"].as_array().unwrap().iter().find(|c| c["kind"] == "classes_ran").unwrap();
    assert_eq!(check["verdict"]["verdict"], "inconclusive");
}

#[test]
fn run_time_scales_spawn_rates_so_every_stage_reaches_its_users() {
    let _load = crate::common::QUIET.blocking_read();
    let out = temp_dir("scaled");
    let output =
        loadsuite(&["run", "api-progressive", "--embedded", "--run-time", "6s", "--quiet", "--out", path(&out)]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", text(&output));
    let run = read(&out.join("run.json"));
    let peaks: Vec<u64> =
        run["engine"]["stages"].as_array().unwrap().iter().map(|s| s["peak"].as_u64().unwrap()).collect();
    assert_eq!(peaks, [10, 50, 100], "the scaled plan peaks where the full one does");
    let rates: Vec<f64> =
        run["plan"]["stages"].as_array().unwrap().iter().map(|s| s["spawn_rate"].as_f64().unwrap()).collect();
    assert!((rates[0] - 150.0).abs() < 1e-6, "1/s scaled by 900 s / 6 s: {rates:?}");
    assert!(run["engine"]["warnings"].as_array().unwrap().is_empty(), "{}", run["engine"]["warnings"]);
}

#[test]
fn a_stage_that_cannot_reach_its_users_is_warned_about_before_and_after() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("unreachable");
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("slow-ramp.toml");
    std::fs::write(
        &scenario,
        "name = \"slow-ramp\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = { kind = \"constant\", seconds = 0.1 }\ntasks = [{ kind = \"http\", path = \"/health\" }]\n[load]\nshape = \"stages\"\nstages = [{ users = 20, spawn_rate = 2, duration = \"2s\" }]\n",
    )
    .unwrap();
    let out = dir.join("out");
    let output = loadsuite(&["run", path(&scenario), "--embedded", "--quiet", "--out", path(&out)]);
    let said = text(&output);
    assert!(said.contains("stage 1 cannot reach 20 users"), "{said}");
    assert!(said.contains("stage 1 aimed at 20 users and reached"), "{said}");
    let run = read(&out.join("run.json"));
    let kinds: Vec<&str> =
        run["engine"]["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["stage_unreachable", "stage_target_not_reached"]);
}

/// Runs `scenario` (shipped name or path) embedded into `out` with extra arguments.
fn run_into(scenario: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", scenario, "--embedded", "--quiet", "--out", path(out)];
    args.extend(extra);
    loadsuite(&args)
}

fn gateway_scenario(dir: &Path, name: &str, with_chat: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let chat =
        if with_chat { ", { kind = \"chat\", model = \"gpt-4o-mini\", max_tokens = 4, weight = 2 }" } else { "" };
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "name = \"gate\"\n[targets]\ngateway = \"http://127.0.0.1:9\"\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.01 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}{chat}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 6, spawn_rate = 100, duration = \"2s\" }}]\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_baselined_endpoint_missing_from_the_run_is_a_regression_that_names_it() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("missing-endpoint");
    let full = gateway_scenario(&dir, "full", true);
    let without = gateway_scenario(&dir, "without", false);
    let base_run = dir.join("base");
    assert!(run_into(path(&full), &base_run, &[]).status.success());
    let baseline = dir.join("baseline.json");
    let recorded = loadsuite(&["baseline", "--from", path(&base_run), "--out", path(&baseline)]);
    assert!(recorded.status.success(), "{}", text(&recorded));
    let run = dir.join("run");
    assert!(run_into(path(&without), &run, &[]).status.success());
    let compared = loadsuite(&["compare", "--baseline", path(&baseline), "--run", path(&run)]);
    assert_eq!(compared.status.code(), Some(1), "{}", text(&compared));
    let verdict = read(&run.join("verdict.json"));
    let chat =
        verdict["endpoints"].as_array().unwrap().iter().find(|e| e["endpoint"] == "POST /v1/chat/completions").unwrap();
    assert_eq!(chat["verdict"]["verdict"], "regression");
    assert_eq!(chat["checks"][0]["kind"], "present");
    assert!(chat["checks"][0]["detail"].as_str().unwrap().contains("no requests in this run"), "{chat}");

    // The same plan at another load is not comparable: inconclusive with the reason, not judged.
    let other = dir.join("other-load");
    assert!(run_into(path(&full), &other, &["--users", "3"]).status.success());
    let compared = loadsuite(&["compare", "--baseline", path(&baseline), "--run", path(&other)]);
    assert_eq!(compared.status.code(), Some(3), "{}", text(&compared));
    assert!(
        text(&compared).contains("not comparable: the baseline's stage 1 ran 6 users, this run 3 users"),
        "{}",
        text(&compared)
    );

    // The same plan over HTTP/2 is another measurement (every user on one connection): not
    // comparable with an HTTP/1.1 baseline either.
    let h2 = dir.join("h2.toml");
    std::fs::write(&h2, format!("http2 = [\"gateway\"]\n{}", std::fs::read_to_string(&full).unwrap())).unwrap();
    let over_h2 = dir.join("over-h2");
    assert!(run_into(path(&h2), &over_h2, &[]).status.success());
    assert_eq!(read(&over_h2.join("run.json"))["http2"], serde_json::json!(["gateway"]));
    let compared = loadsuite(&["compare", "--baseline", path(&baseline), "--run", path(&over_h2)]);
    assert_eq!(compared.status.code(), Some(3), "{}", text(&compared));
    assert!(
        text(&compared)
            .contains("not comparable: the baseline spoke HTTP/1.1 to every target and this run HTTP/2 to `gateway`"),
        "{}",
        text(&compared)
    );
    // Nor do runs over both make one baseline.
    let mixed = dir.join("mixed.json");
    let refused = loadsuite(&["baseline", "--from", path(&base_run), "--from", path(&over_h2), "--out", path(&mixed)]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("must share their protocol"), "{}", text(&refused));
}

#[test]
fn report_without_a_baseline_passes_a_healthy_run_on_its_targets() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("healthy-report");
    let scenario = gateway_scenario(&dir, "healthy", true);
    let run = dir.join("run");
    assert!(run_into(path(&scenario), &run, &[]).status.success());
    let report = loadsuite(&["report", path(&run)]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let verdict = read(&run.join("verdict.json"));
    assert_eq!(verdict["overall"]["verdict"], "pass");
    let targets: Vec<&Value> = verdict["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["checks"].as_array().unwrap())
        .filter(|c| c["kind"] == "target_p95")
        .collect();
    assert!(targets.iter().all(|c| c["target"] == "met"), "{targets:?}");
    assert!(!text(&report).contains("baseline has no such endpoint"));
}

#[test]
fn per_endpoint_targets_apply_to_the_rows_they_name_and_say_so() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("endpoint-targets");
    let scenario = gateway_scenario(&dir, "targets", true);
    let run = dir.join("run");
    assert!(run_into(path(&scenario), &run, &[]).status.success());
    let thresholds = dir.join("t.toml");
    // /health must answer within 1 microsecond (it cannot); chat keeps the global 2 s p95 and gets
    // a generous p99; a pattern for stage 2 (which this run has not) changes nothing.
    std::fs::write(
        &thresholds,
        "[[targets]]\nendpoint = \"GET /health\"\np95_ms = 0.001\n\n[[targets]]\nendpoint = \"POST */chat/*\"\np99_ms = 60000\nmin_success_rate = 0.9\n\n[[targets]]\nendpoint = \"*\"\nstages = [2]\np95_ms = 0.001\n",
    )
    .unwrap();
    let report = loadsuite(&["report", path(&run), "--thresholds", path(&thresholds)]);
    assert_eq!(report.status.code(), Some(1), "the health target is missed: {}", text(&report));
    let verdict = read(&run.join("verdict.json"));
    let checks = |endpoint: &str| -> Vec<Value> {
        verdict["endpoints"].as_array().unwrap().iter().find(|e| e["endpoint"] == endpoint).unwrap()["checks"]
            .as_array()
            .unwrap()
            .clone()
    };
    let health = checks("GET /health");
    let p95 = health.iter().find(|c| c["kind"] == "target_p95").unwrap();
    assert_eq!(p95["target"], "missed", "{p95}");
    assert!(p95["detail"].as_str().unwrap().contains("set by [[targets]] `GET /health`"), "{p95}");
    let chat = checks("POST /v1/chat/completions");
    let p99 = chat.iter().find(|c| c["kind"] == "target_p99").expect("the chat row has its p99 target");
    assert_eq!(p99["target"], "met", "{p99}");
    let errors = chat.iter().find(|c| c["kind"] == "target_error_rate").unwrap();
    assert!(errors["detail"].as_str().unwrap().contains("success > 90.00%"), "{errors}");
    assert!(health.iter().all(|c| c["kind"] != "target_p99"), "no p99 target where none was set");

    std::fs::write(
        &thresholds,
        "[[targets]]\nendpoint = \"\"\nstages = [0]\nmax_error_rate = 2\nmin_success_rate = 0.5\n",
    )
    .unwrap();
    let refused = loadsuite(&["report", path(&run), "--thresholds", path(&thresholds)]);
    assert_eq!(refused.status.code(), Some(2));
    for problem in ["targets[0].endpoint", "targets[0].max_error_rate = 2", "not both", "numbered from 1"] {
        assert!(text(&refused).contains(problem), "{problem}: {}", text(&refused));
    }
}

#[test]
fn baseline_refuses_a_broken_endpoint_unless_told_and_records_its_warnings() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("bless");
    let out = dir.join("repro");
    let run = run_into("repro-unknown-model", &out, &["--no-preflight", "--run-time", "2s"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let file = dir.join("baseline.json");
    let refused = loadsuite(&["baseline", "--from", path(&out), "--out", path(&file)]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("failed every request") && text(&refused).contains("--allow-failing"));
    assert!(!file.exists(), "nothing written when refused");
    let kept = loadsuite(&["baseline", "--from", path(&out), "--out", path(&file), "--allow-failing"]);
    assert!(kept.status.success(), "{}", text(&kept));
    assert!(text(&kept).contains("warning: baseline `repro-unknown-model`"), "{}", text(&kept));
    let baseline = read(&file);
    assert_eq!(baseline["version"], 2);
    let scenario = &baseline["scenarios"]["repro-unknown-model"];
    assert_eq!(scenario["runs"], 1);
    assert_eq!(scenario["plan"]["model"], "closed", "the baseline keeps the plan");
    let kinds: Vec<&str> =
        scenario["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"all_failing") && kinds.contains(&"few_samples"), "{kinds:?}");
}

#[test]
fn thresholds_out_of_range_are_refused_with_the_field() {
    let dir = temp_dir("thresholds");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.toml");
    std::fs::write(&file, "p95_ms = -1\nsignificance = 2.0\ncritical_error_rate = nan\np95_degradation = []\n")
        .unwrap();
    let output = loadsuite(&["report", path(&dir), "--thresholds", path(&file)]);
    assert_eq!(output.status.code(), Some(2));
    let said = text(&output);
    for field in ["p95_ms = -1", "significance = 2", "critical_error_rate = NaN", "p95_degradation = []"] {
        assert!(said.contains(field), "{field}: {said}");
    }
}

/// Renders `page` in headless Chromium and returns the DOM it built.
fn render(page: &Path) -> String {
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is installed (make test-deps)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_html_report_renders_with_successful_latency_apart_from_failed() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = temp_dir("html-report");
    let out = dir.join("repro");
    let run = run_into("repro-unknown-model", &out, &["--no-preflight", "--run-time", "2s"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let report = loadsuite(&["report", path(&out)]);
    assert_eq!(report.status.code(), Some(1), "{}", text(&report));
    let dom = render(&out.join("report.html"));
    assert!(dom.contains("<h1 id=\"verdict\">repro-unknown-model: regression (critical)</h1>"), "{dom}");
    assert!(dom.contains("Latency of successful requests over time"), "the chart is of successful requests");
    let chat_row = dom
        .split("<tr")
        .find(|row| row.contains("POST /v1/chat/completions</td>"))
        .expect("a chat row in the endpoints table");
    let cells: Vec<&str> = chat_row.split("<td>").skip(1).map(|c| c.split('<').next().unwrap_or("")).collect();
    // stage, endpoint, verdict, requests, errors, p95 baseline, p95 now, failed p95, ...
    assert_eq!(cells[2], "regression (critical)", "{cells:?}");
    assert_eq!(cells[4], "100.00%");
    assert_eq!(cells[6], "-", "no successful request, so no latency: {cells:?}");
    assert!(cells[7].parse::<f64>().is_ok(), "the failed requests' p95 is shown apart: {cells:?}");
    let verdict = read(&out.join("verdict.json"));
    assert_eq!(verdict["grade"], "Critical", "a 100%-failing endpoint caps the score at the bottom grade");
    assert!(verdict["score"].as_f64().unwrap() < 40.0);
}
