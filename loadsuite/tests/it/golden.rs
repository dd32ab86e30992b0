//! Golden files of each versioned format (`loadsuite/tests/golden/`): a run.json (version 2) with
//! its CSVs, a baseline (version 2) and a verdict (version 2), written by loadsuite when the
//! formats were last changed. Every reader still reads them, through its one module and through
//! the CLI, so renaming a field in the engine or the verdict cannot silently change a format that
//! other tools and older files rely on; an older version is refused with a message saying so.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::common::temp_dir;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

fn golden(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(name)
}

#[test]
fn the_golden_run_reads_whole_and_exact() {
    let run = loadsuite::formats::run::read(&golden("run")).expect("run.json version 2 reads");
    assert_eq!((run.format.as_str(), run.version), ("loadsuite-run", 2));
    let requests: u64 = run.endpoints.iter().map(|e| e.requests).sum();
    assert_eq!(requests, run.aggregate.requests);
    for e in &run.endpoints {
        let stats = e.to_stats().expect("its histograms decode");
        assert_eq!(stats.latency.len() + stats.failed_latency.len(), e.requests, "{} {}", e.method, e.name);
    }
    let streamed = run.endpoints.iter().find(|e| e.name.ends_with("(stream)")).expect("a streamed row");
    assert!(streamed.ttft_ms.is_some() && streamed.stream_histograms.is_some());
    assert!(run.failures.iter().any(|f| f.kind == "server_error"), "the failures kept their kind");
}

#[test]
fn the_golden_files_go_through_the_cli() {
    let out = temp_dir("golden-report");
    let report = Command::new(LOADSUITE).args(["report"]).arg(golden("run")).arg("--out").arg(&out).output().unwrap();
    assert!(matches!(report.status.code(), Some(0..=3)), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(out.join("verdict.json").is_file() && out.join("report.html").is_file());

    let baseline = loadsuite::formats::baseline::read(&golden("baseline.json")).expect("baseline version 2 reads");
    let scenario = &baseline.scenarios["golden"];
    assert_eq!((scenario.runs, scenario.run_ids.len()), (1, 1));
    assert!(scenario.stages[&0].values().all(|m| m.decoded().is_some()), "its histograms decode");
    let compared = Command::new(LOADSUITE)
        .args(["compare", "--baseline"])
        .arg(golden("baseline.json"))
        .arg("--run")
        .arg(golden("run"))
        .arg("--out")
        .arg(temp_dir("golden-compare"))
        .output()
        .unwrap();
    assert_eq!(
        compared.status.code(),
        Some(1),
        "the golden run's 503s fail it: {}",
        String::from_utf8_lossy(&compared.stdout)
    );

    let issue = Command::new(LOADSUITE)
        .args(["issue", "--repo", "acme/ai-stack", "--dry-run", "--verdict"])
        .arg(golden("verdict.json"))
        .output()
        .unwrap();
    assert_eq!(issue.status.code(), Some(0), "{}", String::from_utf8_lossy(&issue.stderr));
    let printed = String::from_utf8_lossy(&issue.stdout);
    assert!(printed.starts_with("POST /repos/acme/ai-stack/issues"), "{printed}");
    let payload: Value =
        serde_json::from_str(&printed[printed.find('{').unwrap()..]).expect("the issue payload is JSON");
    assert!(payload["title"].as_str().unwrap().contains("golden"), "{payload}");
}

#[test]
fn an_older_format_version_is_refused_with_its_version_named() {
    let dir = temp_dir("golden-old");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(golden("run/run.json")).unwrap().replacen("\"version\": 2", "\"version\": 1", 1);
    std::fs::write(dir.join("run.json"), text).unwrap();
    let error = loadsuite::formats::run::read(&dir).unwrap_err().to_string();
    assert!(error.contains("format 1") && error.contains("format 2"), "{error}");
    let report = Command::new(LOADSUITE).args(["report"]).arg(&dir).output().unwrap();
    assert_eq!(report.status.code(), Some(2));
    let said = String::from_utf8_lossy(&report.stderr);
    assert!(said.contains("run.json") && said.contains("format 1"), "{said}");
}
