//! The compose file itself, brought up with the machine's compose command (`docker compose` or
//! `docker-compose`) under a unique project name and Docker-chosen host ports: all three services
//! become healthy through the images' own health checks, a fault profile is mounted and active,
//! the `loadtest` profile's loadsuite container loads the stack by service name and writes its
//! results to the host, and the `segments` profile runs three segment containers and merges them.
//! The project is taken down even when an assertion fails.

use std::path::Path;
use std::process::{Command, Output};

use e2e::stack::{Images, repo_root, unique};

struct Project {
    compose: Vec<String>,
    name: String,
    envs: Vec<(&'static str, String)>,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.compose[0]);
        command.args(&self.compose[1..]).arg("-f").arg(repo_root().join("compose/docker-compose.yml"));
        command.args(["-p", &self.name]).args(args).envs(self.envs.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("the compose command runs");
        assert!(
            output.status.success(),
            "compose {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.command(&["--profile", "loadtest", "down", "-v", "--remove-orphans"]).output();
    }
}

fn compose_command() -> Vec<String> {
    let v2 = Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if v2 { vec!["docker".into(), "compose".into()] } else { vec!["docker-compose".into()] }
}

fn id(flag: &str) -> String {
    String::from_utf8(Command::new("id").arg(flag).output().unwrap().stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_stack_comes_up_healthy_with_its_profiles_and_loads_itself() {
    // One container stack at a time: the tests of this binary share two cores.
    let _serial = crate::common::SERIAL.lock().await;
    let images = Images::get().await.expect("images build");
    // `results` under a directory of its own: the README's command writes to `$PWD/results`.
    let results = std::env::temp_dir().join(unique("aistack-compose")).join("results");
    std::fs::create_dir_all(results.parent().unwrap()).unwrap();
    let mut project = Project {
        compose: compose_command(),
        name: unique("aistack-compose"),
        envs: vec![
            ("MOCKS_IMAGE", format!("{}:{}", images.mocks.0, images.mocks.1)),
            ("LOADSUITE_IMAGE", format!("{}:{}", images.loadsuite.0, images.loadsuite.1)),
            ("GATEWAY_PORT", String::new()),
            ("RAG_PORT", String::new()),
            ("MCP_PORT", String::new()),
            ("GATEWAY_PROFILE", "slow-gateway".into()),
            ("RESULTS_DIR", results.display().to_string()),
            ("LOADSUITE_USER", format!("{}:{}", id("-u"), id("-g"))),
        ],
    };
    project.run(&["up", "-d", "gateway", "rag", "mcp"]);
    let dc = format!(
        "{} -f {} -p {}",
        project.compose.join(" "),
        repo_root().join("compose/docker-compose.yml").display(),
        project.name
    );
    let waited = Command::new("bash")
        .arg(repo_root().join("compose/wait-healthy.sh"))
        .args([&dc, "90"])
        .envs(project.envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(waited.status.success(), "not healthy:\n{}", String::from_utf8_lossy(&waited.stderr));

    for (service, port) in [("gateway", "8000"), ("rag", "8002"), ("mcp", "8020")] {
        // Healthy by Docker's own health check (the image's `mocks healthcheck`) ...
        let ids = project.run(&["ps", "-q", service]);
        let container = String::from_utf8_lossy(&ids.stdout).trim().to_owned();
        let health = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Health.Status}} {{.Config.User}}", &container])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "healthy 65532:65532", "{service}");
        // ... and from the host, through the port Docker chose.
        let mapped = project.run(&["port", service, port]);
        let address = String::from_utf8_lossy(&mapped.stdout).trim().to_owned();
        let response = reqwest::get(format!("http://{address}/health")).await.expect("health answers");
        assert_eq!(response.status(), 200, "{service} /health");
        if service == "gateway" {
            let faults: serde_json::Value =
                reqwest::get(format!("http://{address}/__admin/faults")).await.unwrap().json().await.unwrap();
            assert_eq!(faults["rules"][0]["name"], "slow-chat", "the slow-gateway profile is mounted: {faults}");
        }
    }

    // The README's in-network command, as written: only the compose command, the project and the
    // scenario are this test's; RESULTS_DIR and LOADSUITE_USER come from the command itself.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("--profile loadtest run --rm"))
        .expect("the README's in-network command");
    let script = block.replace("docker-compose -f compose/docker-compose.yml -p aistack", &dc).replace(
        "api-progressive --run-time 1m --out /results/api-in-network",
        "baseline --run-time 3s --quiet --out /results/compose-baseline",
    );
    assert!(script.contains("RESULTS_DIR=$PWD/results") && script.contains("--quiet"), "{script}");
    let cwd = results.parent().unwrap();
    let load = Command::new("bash")
        .args(["-c", &script])
        .current_dir(cwd)
        .env_remove("RESULTS_DIR")
        .env_remove("LOADSUITE_USER")
        .envs(
            project
                .envs
                .iter()
                .filter(|(k, _)| !matches!(*k, "RESULTS_DIR" | "LOADSUITE_USER"))
                .map(|(k, v)| (*k, v.as_str())),
        )
        .output()
        .unwrap();
    assert!(load.status.success(), "the README's command failed:\n{script}\n{}", String::from_utf8_lossy(&load.stderr));
    let stdout = String::from_utf8_lossy(&load.stdout);
    let run_json = Path::new(&results).join("compose-baseline/run.json");
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run_json).expect("run.json on the host")).unwrap();
    assert!(run["aggregate"]["requests"].as_u64().unwrap() > 0, "{stdout}");
    assert_eq!(run["aggregate"]["failures"], 0, "{stdout}");
    assert_eq!(run["targets"]["rag"], "http://rag:8002", "targets by service name");

    // The `segments` profile: three segment containers from one start instant, then the merge.
    let start_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 4;
    project.envs.extend([
        ("START_AT", start_at.to_string()),
        ("RUN_TIME", "3s".into()),
        ("SEGMENT_SCENARIO", "baseline".into()),
    ]);
    project.run(&["--profile", "segments", "up", "-d", "merge"]);
    let ids = project.run(&["--profile", "segments", "ps", "-q", "merge"]);
    let merge_id = String::from_utf8_lossy(&ids.stdout).trim().to_owned();
    let waited = Command::new("docker").args(["wait", &merge_id]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "0", "the merge container succeeded");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("segments/merged/run.json")).expect("merged run.json"))
            .unwrap();
    assert_eq!(merged["segments"].as_array().map(Vec::len), Some(3));
    let parts: u64 = merged["segments"].as_array().unwrap().iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(merged["aggregate"]["requests"].as_u64(), Some(parts));
    assert!(parts > 0);
    let _ = std::fs::remove_dir_all(results.parent().unwrap());
}

#[test]
fn every_fault_profile_is_a_valid_mocks_config_with_rules() {
    let dir = repo_root().join("compose/profiles");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let config = mocks::config::MocksConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let rules =
            config.gateway.common.faults.len() + config.rag.common.faults.len() + config.mcp.common.faults.len();
        let none = path.file_stem().is_some_and(|s| s == "none");
        assert_eq!(rules == 0, none, "{}: {rules} rules", path.display());
        checked += 1;
    }
    assert!(checked >= 4, "profiles in {}", dir.display());
}
