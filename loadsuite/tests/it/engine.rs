//! The engine against the in-process mocks on port 0: stage user counts and spawn rate, task
//! weights, think time, arrival-rate accuracy, late/dropped iterations, and measured latency.

use crate::common::{Mocks, endpoint, run_text};

const FAST: &str = "[gateway]\n[[gateway.models]]\nid = \"fast\"\nkind = \"chat\"\n";

/// One class on the gateway sending GET `path` on an arrival schedule of one stage.
fn arrival(mocks: &Mocks, path: &str, rate: u32, duration: &str, max_in_flight: u32) -> String {
    format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"http\", path = \"{path}\" }}]\n[load]\nshape = \"arrival\"\nmax_in_flight = {max_in_flight}\nstages = [{{ rate = {rate}, duration = \"{duration}\" }}]\n",
        mocks.targets()
    )
}

#[tokio::test]
async fn stages_reach_their_user_counts_at_the_spawn_rate() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(FAST).await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 4, spawn_rate = 20, duration = \"1s\" }}, {{ users = 12, spawn_rate = 8, duration = \"3s\" }}, {{ users = 2, spawn_rate = 100, duration = \"0.5s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "stages").await;
    let stages = run["engine"]["stages"].as_array().unwrap();
    let peaks: Vec<u64> = stages.iter().map(|s| s["peak"].as_u64().unwrap()).collect();
    assert_eq!(peaks, [4, 12, 12], "the last stage starts at 12 and stops users down to 2");
    // The exact spawn times are tested on tokio's paused clock (engine::tests); on the real clock
    // only what noise cannot move: every stage reached its users, the slow ramp last of all.
    let reached: Vec<f64> = stages.iter().map(|s| s["reached_s"].as_f64().unwrap()).collect();
    assert!(reached[1] > reached[0] && reached[1] > reached[2], "reached after {reached:?}");
    assert!(reached[1] >= 0.875, "8 users/s from 4 to 12 cannot be faster than 0.875 s: {reached:?}");
    let last_stage: Vec<u64> = run["time_series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "Aggregated" && r["stage"] == 2)
        .map(|r| r["users"].as_u64().unwrap())
        .collect();
    assert!(last_stage.iter().all(|u| *u <= 12), "{last_stage:?}");
}

#[tokio::test]
async fn task_weights_hold_within_tolerance() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(FAST).await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"http\", path = \"/health\", weight = 3 }}, {{ kind = \"http\", path = \"/v1/models\", weight = 1 }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 4, duration = \"1.5s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "weights").await;
    let health = endpoint(&run, "/health")["requests"].as_f64().unwrap();
    let models = endpoint(&run, "/v1/models")["requests"].as_f64().unwrap();
    let n = health + models;
    assert!(n > 500.0, "enough samples: {n}");
    // Binomial(n, 0.75): 5 standard deviations.
    let share = health / n;
    let sd = (0.75f64 * 0.25 / n).sqrt();
    assert!((share - 0.75).abs() < 5.0 * sd, "share {share:.4} of {n}");
}

#[tokio::test]
async fn think_time_is_respected() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(FAST).await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.25 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 100, duration = \"2s\" }}]\n",
        mocks.targets()
    );
    let (outcome, _) = run_text(&text, "think").await;
    // Each user: one request, then 250 ms: at most 2 users x (2 s / 0.25 s + 1).
    assert!((10..=18).contains(&outcome.requests), "{} requests", outcome.requests);
}

#[tokio::test]
async fn arrival_rate_reaches_its_target_within_two_percent() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(FAST).await;
    let text = arrival(&mocks, "/v1/models", 200, "3s", 200);
    let (outcome, run) = run_text(&text, "arrival").await;
    let expected = 600.0;
    assert!(
        (outcome.requests as f64 - expected).abs() <= expected * 0.02,
        "{} requests for 600 scheduled",
        outcome.requests
    );
    assert_eq!(run["schedule"]["dropped"], 0);
    assert_eq!(run["schedule"]["scheduled"], 600);
    let seen: u64 =
        mocks.gateway_counters().requests.iter().filter(|r| r.key.route == "/v1/models").map(|r| r.count).sum();
    assert_eq!(seen, outcome.requests, "the mock saw every request the run counted");
    let (verdict, detail) = schedule_check(&outcome);
    let late = run["schedule"]["late"].as_u64().unwrap();
    match late {
        0 => assert!(detail.ends_with("the offered load was delivered"), "{detail}"),
        1..=6 => assert!(detail.ends_with("within the allowance"), "{late} late: {detail}"),
        _ => assert!(detail.ends_with("the offered load was not delivered"), "{late} late: {detail}"),
    }
    assert_eq!(verdict == "pass", late <= 6, "{late} of 600 late against 1% allowed: {verdict}");
}

/// The verdict and detail of the run's own "arrival schedule kept" check, from its verdict.json.
fn schedule_check(outcome: &loadsuite::run::RunOutcome) -> (String, String) {
    let path = outcome.run_json.with_file_name("verdict.json");
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let check = verdict["run_checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "schedule_kept")
        .expect("a schedule check");
    (check["verdict"]["verdict"].as_str().unwrap().to_owned(), check["detail"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_slow_target_shows_dropped_and_late_iterations() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(&format!(
        "{FAST}\n[[gateway.faults]]\nname = \"slow\"\nmatch = {{ path = \"/health\" }}\nlatency = {{ kind = \"fixed\", ms = 300 }}\n"
    ))
    .await;
    let text = arrival(&mocks, "/health", 100, "1s", 5);
    let (outcome, run) = run_text(&text, "dropped").await;
    let dropped = run["schedule"]["dropped"].as_u64().unwrap();
    assert!(dropped > 50, "dropped {dropped}");
    assert_eq!(run["schedule"]["scheduled"], 100);
    assert_eq!(outcome.requests + dropped, 100, "every scheduled iteration ran or was counted as dropped");
    assert_eq!(outcome.exit_code(1), 1, "a run that dropped most of its schedule fails");
    assert!(outcome.summary.contains("dropped"));
    let (verdict, detail) = schedule_check(&outcome);
    assert_ne!(verdict, "pass");
    assert!(detail.ends_with("the offered load was not delivered"), "{detail}");
}

#[tokio::test]
async fn a_generator_that_stalls_counts_the_starts_it_made_late() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(FAST).await;
    let text = arrival(&mocks, "/health", 100, "1s", 100);
    // Half a second in, the generator's only thread is blocked for 100 ms: the ten iterations due
    // meanwhile start when it is free again, all but the last more than 10 ms after their moment.
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
    let (outcome, run) = run_text(&text, "stalled").await;
    let late = run["schedule"]["late"].as_u64().unwrap();
    assert!((5..=20).contains(&late), "{late} late starts");
    assert_eq!(run["schedule"]["dropped"], 0);
    assert_eq!(outcome.requests, 100, "late, not lost");
    assert_eq!(outcome.exit_code(1), 1, "a run that started {late} of 100 iterations late did not deliver its load");
    assert!(outcome.summary.contains("late"), "{}", outcome.summary);
}

#[tokio::test]
async fn a_fixed_injected_latency_is_measured_within_a_millisecond() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(&format!(
        "{FAST}\n[[gateway.faults]]\nname = \"fifty\"\nmatch = {{ path = \"/health\" }}\nlatency = {{ kind = \"fixed\", ms = 50 }}\n"
    ))
    .await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"http\", path = \"/health\" }}, {{ kind = \"http\", path = \"/v1/models\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 100, duration = \"2s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "fifty").await;
    let p50 = |name: &str| endpoint(&run, name)["latency_ms"]["p50"].as_f64().unwrap();
    // What the server spent on the same requests (its timer rounds a 50 ms sleep up to the next
    // tick), and the same difference as the generator measured it: the transport and client costs
    // of the two requests are alike, so the injected part must agree within 1 ms.
    let journal =
        mocks.stack.service(mocks::stack::ServiceKind::Gateway).unwrap().gateway().unwrap().telemetry.journal(100_000);
    let server_p50 = |path: &str| {
        let mut v: Vec<f64> = journal.iter().filter(|e| e.path == path).map(|e| e.latency_ms).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let injected = server_p50("/health") - server_p50("/v1/models");
    let measured = p50("/health") - p50("/v1/models");
    assert!(injected >= 50.0, "the fault applied: {injected}");
    assert!(
        (measured - injected).abs() < 1.0,
        "measured {measured:.3} ms of injected latency, the server spent {injected:.3} ms"
    );
    assert!(p50("/health") >= 50.0);
}

#[tokio::test]
async fn a_one_second_stall_shows_in_the_arrival_rate_p99() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(&format!(
        "{FAST}\n[[gateway.faults]]\nname = \"stall\"\nmatch = {{ path = \"/health\" }}\nwindow = {{ after_seconds = 0.5, until_seconds = 0.6 }}\nlatency = {{ kind = \"fixed\", ms = 1000 }}\n"
    ))
    .await;
    let text = arrival(&mocks, "/health", 100, "2s", 500);
    let (_, run) = run_text(&text, "stall").await;
    let latency = &endpoint(&run, "/health")["latency_ms"];
    assert!(latency["p99"].as_f64().unwrap() >= 1000.0, "{latency}");
    assert!(latency["p50"].as_f64().unwrap() < 100.0, "{latency}");
}

#[tokio::test]
async fn streamed_chat_metrics_match_the_mock_configuration() {
    let _serial = crate::common::QUIET.write().await;
    let mocks = Mocks::start(
        "[gateway]\n[[gateway.models]]\nid = \"paced\"\nkind = \"chat\"\nttft_ms = 200\ntokens_per_second = 50.0\n",
    )
    .await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\ntasks = [{{ kind = \"chat\", model = \"paced\", max_tokens = 30, stream = true }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 3, spawn_rate = 100, duration = \"2s\" }}]\n",
        mocks.targets()
    );
    let (outcome, run) = run_text(&text, "stream").await;
    assert_eq!(outcome.failures, 0, "{}", outcome.summary);
    let row = endpoint(&run, "/v1/chat/completions (stream)");
    let ttft = row["ttft_ms"]["p50"].as_f64().unwrap();
    assert!((ttft - 200.0).abs() <= 20.0, "ttft p50 {ttft} ms, configured 200");
    let tps = row["tokens_per_second"].as_f64().unwrap();
    assert!((tps - 50.0).abs() <= 5.0, "{tps} tokens/s, configured 50");
    let itl = row["inter_token_ms"]["p50"].as_f64().unwrap();
    assert!((itl - 20.0).abs() <= 2.0, "inter-token {itl} ms, configured 20");
}

#[tokio::test]
async fn a_keep_alive_connection_the_server_closes_as_it_is_reused_is_no_failure() {
    let _load = crate::common::QUIET.read().await;
    // The server closes idle connections after 0.2 s; users come back after 0.15-0.25 s, so many
    // reuses race the server's close. Requests hyper hands back unsent go again on a new connection.
    let mocks = Mocks::start("[server]\nheader_timeout_seconds = 0.2\n").await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"between\", min = 0.15, max = 0.25 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 8, spawn_rate = 100, duration = \"4s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "keepalive-race").await;
    let health = endpoint(&run, "/health");
    assert!(health["requests"].as_u64().unwrap() > 80, "{health}");
    assert_eq!(health["failures"], 0, "{}", run["failures"]);
}

#[tokio::test]
async fn a_reset_on_a_reused_connection_is_a_failure_never_retried_away() {
    let _load = crate::common::QUIET.read().await;
    // Every second /health is reset (TCP RST) by the gateway: a GET that a retry would hide.
    let mocks = Mocks::start(
        "[[gateway.faults]]\nname = \"resets\"\nevery = 2\nmatch = { path = \"/health\" }\ntransport = { kind = \"reset\" }\n",
    )
    .await;
    let text = format!(
        "{}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.02 }}\ntasks = [{{ kind = \"http\", path = \"/health\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 1, spawn_rate = 100, duration = \"2s\" }}]\n",
        mocks.targets()
    );
    let (_, run) = run_text(&text, "resets-counted").await;
    let health = endpoint(&run, "/health");
    let (requests, failures) = (health["requests"].as_u64().unwrap(), health["failures"].as_u64().unwrap());
    assert!(requests > 20, "{health}");
    assert!(failures.abs_diff(requests / 2) <= 1, "every second request was reset: {failures} of {requests}");
}
