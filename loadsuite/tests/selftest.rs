//! The pipeline's self-test through the CLI on embedded mocks: every failure mode of the catalog
//! is detected on exactly its endpoints, the clean A/A pair raises no alarm, and the matrix is
//! written. Also `loadsuite repro --list`.

use std::process::Command;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

#[test]
fn selftest_detects_every_failure_mode_and_no_false_alarm() {
    let out = std::env::temp_dir().join(format!("loadsuite-selftest-{}", std::process::id()));
    let output = Command::new(LOADSUITE).args(["selftest", "--embedded", "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let matrix: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("detection-matrix.json")).unwrap()).unwrap();
    let rows = matrix.as_array().unwrap();
    assert_eq!(rows.len(), 9, "the whole catalog ran");
    assert!(rows.iter().all(|r| r["ok"] == true), "{stdout}");
    assert_eq!(rows[0]["mode"], "clean");
    assert_eq!(rows[0]["flagged"], serde_json::json!([]));
    assert!(std::fs::read_to_string(out.join("detection-matrix.md")).unwrap().contains("| unknown-model |"));
}

#[test]
fn repro_lists_the_catalog() {
    let output = Command::new(LOADSUITE).args(["repro", "--list"]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    for mode in [
        "clean",
        "unknown-model",
        "latency-doubled",
        "error-rate-5pct",
        "vector-store-timeouts",
        "mcp-concurrency-limit",
        "connection-resets",
        "truncated-streams",
        "degradation-mid-run",
    ] {
        assert!(text.lines().any(|l| l.starts_with(mode)), "{mode}: {text}");
    }
    let unknown = Command::new(LOADSUITE).args(["repro", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}
