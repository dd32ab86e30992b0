//! The nightly GitHub Actions workflow is valid YAML and runs only the project's own commands.

#[test]
fn nightly_workflow_is_valid_and_uses_only_project_commands() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.github/workflows/nightly-load.yml");
    let script = "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let output = std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .args(["-c", script, path])
        .output()
        .unwrap();
    assert!(output.status.success(), "valid YAML: {}", String::from_utf8_lossy(&output.stderr));
    let workflow: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // YAML 1.1 reads the bare key `on` as the boolean true; GitHub reads it as `on`.
    let triggers = workflow.get("on").or_else(|| workflow.get("true")).expect("triggers");
    assert!(triggers["schedule"][0]["cron"].is_string(), "runs nightly");
    let steps = workflow["jobs"]["load"]["steps"].as_array().unwrap();
    let commands: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    for command in &commands {
        for line in command.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let allowed = ["make ", "./target/release/loadsuite ", "set ", "echo ", "cat ", "exit "];
            assert!(allowed.iter().any(|a| line.starts_with(a)), "a step runs something else: {line}");
        }
    }
    for sub in ["selftest", "run baseline", "compare", "issue"] {
        assert!(commands.iter().any(|c| c.contains(sub)), "the workflow runs `loadsuite {sub}`");
    }
}
