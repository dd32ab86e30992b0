//! Resource sampling through the CLI: `--watch-pid` on two real processes, one whose memory
//! climbs steadily and one that holds still. The climbing one must be called out as a possible
//! leak in `run.json`, the terminal summary and the reports; the steady one must not.

use std::process::{Child, Command, Stdio};

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

/// A Python process that allocates `step_mib` more every 200 ms for `seconds`, then exits.
fn python(step_mib: u32, seconds: u32) -> Child {
    let script = format!(
        "import time\nheld = []\nfor _ in range({}):\n    held.append(bytearray({} * 1024 * 1024))\n    for b in held[-1:]:\n        b[::4096] = b'x' * len(b[::4096])\n    time.sleep(0.2)\n",
        seconds * 5,
        step_mib
    );
    Command::new("python3").args(["-c", &script]).stdout(Stdio::null()).spawn().expect("python3 runs")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_growing_process_is_called_out_as_a_leak_and_a_steady_one_is_not() {
    let _load = crate::common::QUIET.blocking_read();
    let growing = Killed(python(2, 30));
    let steady = Killed(python(0, 30));
    let out = std::env::temp_dir().join(format!("loadsuite-resources-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(LOADSUITE)
        .args(["run", "--url", "http://127.0.0.1:9/health", "--users", "1", "--run-time", "7s", "--wait", "0.5"])
        .arg("--watch-pid")
        .arg(growing.0.id().to_string())
        .arg("--watch-pid")
        .arg(steady.0.id().to_string())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let resources = run["resources"].as_array().expect("resources in run.json");
    assert_eq!(resources.len(), 2, "{resources:?}");
    let by_pid = |pid: u32| {
        resources.iter().find(|r| r["id"].as_str() == Some(pid.to_string().as_str())).expect("series per pid")
    };
    let (grew, held) = (by_pid(growing.0.id()), by_pid(steady.0.id()));
    assert_eq!(grew["kind"], "process");
    assert!(grew["samples"].as_array().unwrap().len() >= 5, "{grew}");
    let growth = grew["leak"]["growth_bytes"].as_f64().expect("the growing process is flagged");
    // ~10 MiB/s for ~6 s of readings: well over the 8 MiB floor, well under the total allocated.
    assert!(growth > 30.0 * 1024.0 * 1024.0 && growth < 80.0 * 1024.0 * 1024.0, "{grew}");
    assert!(grew["memory_end_bytes"].as_u64() > grew["memory_start_bytes"].as_u64());
    assert!(held["leak"].is_null(), "the steady process is not flagged: {held}");
    assert!(held["memory_start_bytes"].as_u64().unwrap() > 0);
    assert!(stdout.contains("POSSIBLE LEAK"), "{stdout}");

    let report = Command::new(LOADSUITE).arg("report").arg(&out).output().unwrap();
    assert!(report.status.code().is_some(), "report ran");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Resources") && summary.contains("**possible leak**"), "{summary}");
    assert!(summary.contains("| steady |"), "{summary}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"resources\"") && html.contains("possible leak"), "report.html has the section");
    let verdict: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("verdict.json")).unwrap()).unwrap();
    let diagnosis = verdict["diagnosis"].as_array().unwrap();
    assert!(diagnosis.iter().any(|d| d.as_str().unwrap().contains("POSSIBLE LEAK")), "{diagnosis:?}");
}
