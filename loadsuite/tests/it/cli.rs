//! The `loadsuite` binary as users run it: shipped scenarios, validation messages, the preflight
//! refusing the unknown model, `--no-preflight` reproducing the 100% failure, ad-hoc mode, and
//! SIGINT mid-run.

use std::process::{Command, Stdio};
use std::time::Duration;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

fn out_dir(name: &str) -> std::path::PathBuf {
    let dir = out_dir_kept(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The directory `out_dir` gave, with what a run wrote there.
fn out_dir_kept(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loadsuite-cli-{}-{name}", std::process::id()))
}

#[test]
fn lists_shipped_scenarios() {
    let output = Command::new(LOADSUITE).arg("scenarios").output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    for name in [
        "baseline",
        "api-progressive",
        "rag-progressive",
        "mcp-progressive",
        "light",
        "medium",
        "heavy",
        "spike",
        "stress",
        "repro-unknown-model",
        "agent",
        "agent-progressive",
        "concurrency",
        "model-churn",
        "gateway-features",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
}

#[test]
fn invalid_scenarios_name_file_line_and_field() {
    let path = out_dir("bad").with_extension("toml");
    std::fs::write(&path, "[targets]\ngw = \"http://x\"\n\n[[users]]\nname = \"u\"\ntarget = \"nope\"\ntasks = [{ kind = \"chat\" }]\n\n[load]\nshape = \"stages\"\nstages = [{ users = 1, duration = \"soon\" }]\n").unwrap();
    let output = Command::new(LOADSUITE).arg("check").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    let file = path.display().to_string();
    assert!(err.contains(&format!("{file}:6: users[0].target: unknown target `nope`")), "{err}");
    assert!(err.contains(&format!("{file}:7: users[0].tasks[0].model: a `chat` task needs `model`")), "{err}");
    assert!(err.contains(&format!("{file}:11: load.stages[0].duration:")), "{err}");
}

#[test]
fn preflight_refuses_the_unknown_model_and_no_preflight_reproduces_the_failure() {
    let _load = crate::common::QUIET.blocking_read();
    let refused = Command::new(LOADSUITE)
        .args(["run", "repro-unknown-model", "--embedded", "--run-time", "2s", "--quiet", "--out"])
        .arg(out_dir("refused"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8(refused.stderr).unwrap();
    assert!(
        err.contains("qwen2.5-14b-instruct") && err.contains("gpt-4o-mini") && err.contains("--no-preflight"),
        "{err}"
    );
    assert!(!out_dir("refused").exists(), "no load, no results");

    let out = out_dir("repro");
    let run = Command::new(LOADSUITE)
        .args(["run", "repro-unknown-model", "--embedded", "--no-preflight", "--run-time", "3s", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let chat: Vec<&serde_json::Value> = run_json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with("/v1/chat"))
        .collect();
    assert!(!chat.is_empty());
    for row in chat {
        assert!(row["requests"].as_u64().unwrap() > 0);
        assert_eq!(row["failures"], row["requests"], "100% chat failure: {row}");
    }
    let kinds: Vec<&str> =
        run_json["failures"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.iter().all(|k| *k == "model_not_found"), "{kinds:?}");
    let failures_csv = std::fs::read_to_string(out.join("loadsuite_failures.csv")).unwrap();
    assert!(
        failures_csv.contains("model_not_found: The model `qwen2.5-14b-instruct` does not exist"),
        "{failures_csv}"
    );
    // Segments run with --exit-code-on-error 0 so their pod succeeds and the merge runs.
    let zero = Command::new(LOADSUITE)
        .args(["run", "repro-unknown-model", "--embedded", "--no-preflight", "--run-time", "1s", "--quiet"])
        .args(["--exit-code-on-error", "0", "--out"])
        .arg(out_dir("repro-zero"))
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(0), "{}", String::from_utf8_lossy(&zero.stderr));
    let zero_json = std::fs::read_to_string(out_dir_kept("repro-zero").join("run.json")).unwrap();
    assert!(zero_json.contains("model_not_found"), "the failures are still recorded");
}

#[test]
fn ad_hoc_url_mode() {
    let _load = crate::common::QUIET.blocking_read();
    let out = out_dir("adhoc");
    let stack_run = Command::new(LOADSUITE)
        .args([
            "run",
            "--url",
            "http://127.0.0.1:9/health",
            "--users",
            "2",
            "--run-time",
            "1s",
            "--quiet",
            "--timeout",
            "1s",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(stack_run.status.code(), Some(1), "nothing listens on port 9: every request fails");
    let stats = std::fs::read_to_string(out.join("loadsuite_failures.csv")).unwrap();
    assert!(stats.contains("connect_refused"), "{stats}");
    let missing = Command::new(LOADSUITE).args(["run", "--url", "http://127.0.0.1:9/"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--run-time"));
}

#[test]
fn sigint_mid_run_stops_and_writes_every_file() {
    let _load = crate::common::QUIET.blocking_read();
    let out = out_dir("sigint");
    let child = Command::new(LOADSUITE)
        .args(["run", "light", "--embedded", "--run-time", "60s", "--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "stopped within the drain time");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "an interrupted run exits 4: {stderr}");
    assert!(stderr.contains("interrupted: the results are partial"), "{stderr}");
    for file in [
        "run.json",
        "loadsuite_stats.csv",
        "loadsuite_stats_history.csv",
        "loadsuite_failures.csv",
        "loadsuite_exceptions.csv",
    ] {
        assert!(out.join(file).exists(), "{file} written");
    }
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["engine"]["interrupted"], true);
    assert!(run["aggregate"]["requests"].as_u64().unwrap() > 0);
}

#[test]
fn api_keys_reach_their_target_and_a_missing_key_is_named() {
    let _load = crate::common::QUIET.blocking_read();
    let dir = out_dir("api-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let mocks = dir.join("mocks.toml");
    std::fs::write(&mocks, "[gateway]\napi_keys = [\"sk-load-1234567890\"]\n").unwrap();
    let scenario = |keys: &str| {
        let file = dir.join("keyed.toml");
        std::fs::write(&file, format!(
            "name = \"keyed\"\n[targets]\ngateway = \"http://127.0.0.1:8000\"\n{keys}\n[[users]]\nname = \"u\"\ntarget = \"gateway\"\nthink = {{ kind = \"constant\", seconds = 0.05 }}\ntasks = [{{ kind = \"chat\", model = \"gpt-4o-mini\", max_tokens = 4 }}, {{ kind = \"http\", path = \"/v1/models\" }}]\n[load]\nshape = \"stages\"\nstages = [{{ users = 2, spawn_rate = 10, duration = \"1s\" }}]\n"
        )).unwrap();
        file
    };
    let run = |file: &std::path::Path, env: Option<&str>| {
        let mut command = Command::new(LOADSUITE);
        command
            .args(["run"])
            .arg(file)
            .args(["--embedded", "--quiet", "--mocks-config"])
            .arg(&mocks)
            .arg("--out")
            .arg(dir.join("run"));
        match env {
            Some(key) => command.env("LS_TEST_KEY", key),
            None => command.env_remove("LS_TEST_KEY"),
        };
        let output = command.output().unwrap();
        (
            output.status.code().unwrap(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };
    let keyed = scenario("[api_keys]\ngateway = \"env:LS_TEST_KEY\"");
    let (code, said) = run(&keyed, Some("sk-load-1234567890"));
    assert_eq!(code, 0, "both the chat (reqwest) and the plain-HTTP path carry the key: {said}");
    let (code, said) = run(&keyed, None);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("api_keys.gateway") && said.contains("`LS_TEST_KEY` is not set"), "{said}");
    let (code, said) = run(&keyed, Some("sk-wrong-0000000000"));
    assert_ne!(code, 0);
    assert!(said.contains("refused the API key"), "{said}");
    let (code, said) = run(&scenario(""), None);
    assert_ne!(code, 0);
    assert!(said.contains("needs an API key; set it under [api_keys]"), "{said}");
}

#[test]
fn variables_come_from_var_or_the_environment_and_quiet_keeps_the_table() {
    let _load = crate::common::QUIET.blocking_read();
    let run = |extra: &[&str], env: Option<(&str, &str)>, name: &str| {
        let mut command = Command::new(LOADSUITE);
        command.args(["run", "repro-unknown-model", "--embedded", "--run-time", "1s", "--out"]).arg(out_dir(name));
        command.args(extra).env_remove("LOADSUITE_VAR_CHAT_MODEL");
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command.output().unwrap()
    };
    // The seed's case: the same scenario, the model chosen from outside. The preflight passes.
    let fixed = run(&["--quiet", "--var", "chat_model=gpt-4o-mini"], None, "var");
    let stdout = String::from_utf8_lossy(&fixed.stdout);
    assert_eq!(fixed.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&fixed.stderr));
    assert!(stdout.contains("Aggregated") && stdout.contains("results: "), "--quiet keeps the final table: {stdout}");
    let from_env = run(&["--silent"], Some(("LOADSUITE_VAR_CHAT_MODEL", "gpt-4o-mini")), "env");
    assert_eq!(from_env.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_env.stderr));
    assert!(from_env.stdout.is_empty(), "--silent prints nothing: {}", String::from_utf8_lossy(&from_env.stdout));
    // --var wins over the environment.
    let both = run(
        &["--silent", "--var", "chat_model=qwen2.5-14b-instruct"],
        Some(("LOADSUITE_VAR_CHAT_MODEL", "gpt-4o-mini")),
        "both",
    );
    assert_eq!(both.status.code(), Some(2), "the preflight refuses the unknown model --var asked for");
    let typo = run(&["--var", "chat_modle=gpt-4o-mini"], None, "typo");
    assert_eq!(typo.status.code(), Some(2));
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("chat_modle") && err.contains("chat_model"), "names the typo and what exists: {err}");
}

#[test]
fn start_at_takes_an_rfc3339_time() {
    let _load = crate::common::QUIET.blocking_read();
    let soon = std::time::SystemTime::now() + Duration::from_secs(2);
    let unix = soon.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Format the instant as RFC 3339 (UTC) by hand: days since the epoch to a civil date.
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let at = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60);
    let out = out_dir("start-at");
    let started = std::time::Instant::now();
    let run = Command::new(LOADSUITE)
        .args(["run", "--url", "http://127.0.0.1:9/health", "--run-time", "1s", "--timeout", "1s", "--silent"])
        .args(["--start-at", &at, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited for {at}");
    let bad = Command::new(LOADSUITE)
        .args(["run", "--url", "http://127.0.0.1:9/", "--run-time", "1s", "--start-at", "tomorrow-ish"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

/// Howard Hinnant's days-from-civil inverse: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn a_bad_mocks_config_is_refused_before_the_run_naming_file_and_line() {
    let dir = out_dir("bad-mocks-config");
    std::fs::create_dir_all(&dir).unwrap();
    let mocks = dir.join("mocks.toml");
    std::fs::write(&mocks, "[gateway]\nmodels = 3\n").unwrap();
    let out = dir.join("run");
    let output = Command::new(LOADSUITE)
        .args(["run", "baseline", "--embedded", "--quiet", "--run-time", "1s", "--mocks-config"])
        .arg(&mocks)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("{}:2", mocks.display())), "the file and line are named: {said}");
    assert!(!out.exists(), "nothing was written for a run that did not start");
}
