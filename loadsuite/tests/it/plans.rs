//! The seed's concurrency and stress plans as shipped scenarios: `concurrency` gives each endpoint
//! its own class with the plan's user counts; `stress` carries success-rate targets per level in
//! its own `[thresholds]`, which the run's report and `report` (without `--thresholds`) judge.

use std::process::Command;

use serde_json::Value;

use crate::common::temp_dir;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

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
