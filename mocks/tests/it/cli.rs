//! The `mocks` binary as a user runs it: config checking, health checks, serving and stopping on
//! SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MOCKS: &str = env!("CARGO_BIN_EXE_mocks");

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mocks-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_check_reports_every_problem_with_file_line_and_field() {
    let path = temp_file(
        "bad.toml",
        "seed = 1\n[gateway]\nstream_jitter = 2.0\n\n[[gateway.models]]\nid = \"e\"\nkind = \"embedding\"\n\n[[gateway.faults]]\nname = \"x\"\nprobability = 1.5\nerror = { status = 503 }\n",
    );
    let output = Command::new(MOCKS).args(["config", "check"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let file = path.display().to_string();
    assert!(stderr.contains(&format!("{file}:3: gateway.stream_jitter: 2 is not between 0 and 1")), "{stderr}");
    assert!(stderr.contains(&format!("{file}:5: gateway.models[0].dimensions:")), "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:11: gateway.faults[0].probability: 1.5 is not between 0 and 1")),
        "{stderr}"
    );
    assert!(stderr.contains("3 problem(s)"), "{stderr}");

    let syntax = temp_file("syntax.toml", "[gateway]\ndialect = \"klingon\"\n");
    let output = Command::new(MOCKS).args(["config", "check"]).arg(&syntax).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("{}:2:", syntax.display())) && stderr.contains("klingon"), "{stderr}");

    let missing = Command::new(MOCKS).args(["config", "check", "/nonexistent/mocks.toml"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/mocks.toml"));
}

#[test]
fn the_default_config_round_trips_through_config_check() {
    let output = Command::new(MOCKS).args(["config", "default"]).output().unwrap();
    assert!(output.status.success());
    let path = temp_file("default.toml", &String::from_utf8(output.stdout).unwrap());
    let check = Command::new(MOCKS).args(["config", "check"]).arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(
        String::from_utf8_lossy(&check.stdout)
            .contains("ok (gateway: 5 models, 0 fault rules; rag: 0 fault rules, corpus builtin; mcp: 0 fault rules)")
    );
}

#[tokio::test]
async fn healthcheck_exit_codes() {
    let gw = crate::common::TestGateway::start().await;
    let url = format!("{}/health", gw.url);
    let ok = tokio::process::Command::new(MOCKS).args(["healthcheck", &url]).status().await.unwrap();
    assert!(ok.success());
    // Straight to the service, whatever proxy the environment names (Docker passes its own into
    // containers): here one that refuses every connection.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut proxied = tokio::process::Command::new(MOCKS);
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        proxied.env(name, format!("http://{dead}"));
    }
    let proxied = proxied.env_remove("NO_PROXY").env_remove("no_proxy").args(["healthcheck", &url]);
    assert!(proxied.status().await.unwrap().success(), "the proxy was not used");
    let not_found =
        tokio::process::Command::new(MOCKS).args(["healthcheck", &format!("{}/nope", gw.url)]).status().await.unwrap();
    assert_eq!(not_found.code(), Some(1));
    // A port nothing listens on (bound, then released).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = tokio::process::Command::new(MOCKS)
        .args(["healthcheck", &format!("http://{free}/health")])
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert_eq!(refused.code(), Some(1));
}

/// Starts `mocks ARGS` with info logs, returning the process, its remaining log lines, its first
/// log line (the gateway's startup line) and the address that line names.
fn start_logged(
    args: &[&str],
) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStderr>>, String, String) {
    let mut child = Command::new(MOCKS).args(args).env("RUST_LOG", "info").stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let addr = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    (child, lines, line, addr)
}

#[test]
fn serve_logs_its_address_and_stops_on_sigterm() {
    let (mut child, lines, line, addr) = start_logged(&["serve", "--gateway-addr", "127.0.0.1:0", "--seed", "5"]);
    assert!(line.contains("listening") && line.contains("gpt-4o-mini"), "{line}");
    let body = reqwest::blocking::get(format!("http://{addr}/health")).unwrap().text().unwrap();
    assert!(body.contains("\"status\":\"ok\""));
    // Grown before the first thread (it inherits this process's limit), so no accept() waits for it.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let table: usize = status.lines().find_map(|l| l.strip_prefix("FDSize:")).unwrap().trim().parse().unwrap();
    assert!(table >= soft_fd_limit().min(1 << 16), "descriptor table of {table}");
    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn serve_refuses_a_bad_config_naming_the_file() {
    let path = temp_file("serve-bad.toml", "[gateway]\nunknown_model = \"sometimes\"\n");
    let output = Command::new(MOCKS)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .arg("--gateway-addr")
        .arg("127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("{}:2:", path.display())) && stderr.contains("sometimes"), "{stderr}");
}

#[test]
fn demo_reproduces_the_unknown_model_failure_and_an_injected_fault() {
    let output = Command::new(MOCKS).arg("demo").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("10/10 failed (100% error rate)"), "{stdout}");
    assert!(stdout.contains("statuses: [200, 503, 200, 503]"), "{stdout}");
    assert!(stdout.contains("16 requests, 10 genuine errors, 2 injected faults"), "{stdout}");
    assert!(stdout.contains("best match `incident-2024-model`"), "{stdout}");
    assert!(stdout.contains("../../etc/passwd -> isError=true"), "{stdout}");
}

#[test]
fn worker_threads_choose_the_scheduler_and_zero_is_refused() {
    let (mut child, mut lines, _, addr) = start_logged(&["gateway", "--addr", "127.0.0.1:0", "--worker-threads", "1"]);
    let serving = lines.next().unwrap().unwrap();
    assert!(serving.contains("worker_threads=1") && serving.contains("CurrentThread"), "{serving}");
    let client = reqwest::blocking::Client::new();
    let chat = client
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(chat.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    let refused = Command::new(MOCKS).args(["gateway", "--worker-threads", "0"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--worker-threads"), "{refused:?}");
}

fn soft_fd_limit() -> usize {
    common::startup::open_file_limit().map_or(1024, |l| l as usize)
}

/// Reads from `stream` until EOF, an error or `wait`; true when the server closed it.
fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_slow_and_surplus_connections_are_closed_and_other_clients_are_still_served() {
    use std::io::{Read, Write};
    // Thousands of idle connections (12,000 where the open-file limit allows; the server holds one
    // descriptor per connection, so its cap fits them) must not stop other clients.
    let idle_count = 12_000.min(soft_fd_limit().saturating_sub(1_500));
    let config = temp_file("limits.toml", "[server]\nheader_timeout_seconds = 2\nbody_timeout_seconds = 2\n");
    let (mut child, _lines, _, addr) =
        start_logged(&["gateway", "--addr", "127.0.0.1:0", "--config", config.to_str().unwrap()]);
    let mut idle: Vec<std::net::TcpStream> =
        (0..idle_count).filter_map(|_| std::net::TcpStream::connect(&addr).ok()).collect();
    assert!(idle.len() >= idle_count * 9 / 10, "{} of {idle_count} connected", idle.len());
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let health = client.get(format!("http://{addr}/health")).send().unwrap();
    assert_eq!(health.status(), 200, "served beside {} idle connections", idle.len());
    // A slowloris header and a slow body.
    let mut slowloris = std::net::TcpStream::connect(&addr).unwrap();
    slowloris.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut slow_body = std::net::TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"mo")
        .unwrap();
    // Half-close: the whole request, then the client shuts its sending side; the answer still comes.
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = half.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "half-closed client got: {answer:?}");
    std::thread::sleep(Duration::from_millis(2500));
    let mut answer = String::new();
    slow_body.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = slow_body.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "a slow body gets 408: {answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(closed_within(&mut slowloris, Duration::from_secs(3)), "a slowloris header is closed");
    let closed = idle.iter_mut().take(200).map(|s| closed_within(s, Duration::from_secs(3))).filter(|c| *c).count();
    assert_eq!(closed, 200, "idle connections are closed after the header timeout");
    drop(idle);
    let counters: serde_json::Value =
        client.get(format!("http://{addr}/__admin/counters")).send().unwrap().json().unwrap();
    let closed_by_timeout = counters["events"]["connection_closed"]["timeout"].as_u64().unwrap_or(0);
    assert!(closed_by_timeout as usize >= idle_count * 9 / 10, "counted: {}", counters["events"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let config = temp_file("cap.toml", "[server]\nmax_connections = 50\nheader_timeout_seconds = 30\n");
    let (mut child, _lines, _, addr) =
        start_logged(&["gateway", "--addr", "127.0.0.1:0", "--config", config.to_str().unwrap()]);
    let mut held: Vec<std::net::TcpStream> = (0..50).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    let mut surplus: Vec<std::net::TcpStream> = (0..20).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    let refused = surplus.iter_mut().map(|s| closed_within(s, Duration::from_secs(3))).filter(|c| *c).count();
    assert_eq!(refused, 20, "the 20 past the cap are closed");
    drop(held.drain(..10));
    std::thread::sleep(Duration::from_millis(200));
    let health = reqwest::blocking::get(format!("http://{addr}/health")).unwrap();
    assert_eq!(health.status(), 200, "freed places are used again");
    let counters: serde_json::Value =
        reqwest::blocking::get(format!("http://{addr}/__admin/counters")).unwrap().json().unwrap();
    assert_eq!(counters["events"]["connection_refused"]["max_connections"], 20, "{}", counters["events"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_flood_of_bad_names_cannot_flood_or_forge_the_log() {
    let (mut child, lines, _, addr) = start_logged(&["gateway", "--addr", "127.0.0.1:0"]);
    let client = reqwest::blocking::Client::new();
    for i in 0..200 {
        let model = format!("unknown-{i}\nINFO forged line {}", "x".repeat(5_000));
        let status = client
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 404);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log: Vec<String> = lines.map_while(Result::ok).collect();
    let warnings = log.iter().filter(|l| l.contains("does not serve")).count();
    assert!((1..=3).contains(&warnings), "{warnings} warnings for 200 unknown models in about a second: {log:?}");
    assert!(!log.iter().any(|l| l.starts_with("INFO forged")), "client text cannot start a log line");
    assert!(log.iter().all(|l| l.len() < 2_000), "client text is cut in the log");
}

#[test]
fn config_check_bounds_the_http2_streams_per_connection() {
    let path = temp_file("h2.toml", "[server]\nhttp2_max_streams = 0\n");
    let output = Command::new(MOCKS).args(["config", "check"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let file = path.display().to_string();
    assert!(stderr.contains(&format!("{file}:2: server.http2_max_streams: must be between 1 and 100000")), "{stderr}");
    let fine = temp_file("h2-fine.toml", "[server]\nhttp2_max_streams = 20000\n");
    assert!(Command::new(MOCKS).args(["config", "check"]).arg(&fine).output().unwrap().status.success());
}
