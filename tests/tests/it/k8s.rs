//! The Kubernetes manifests under `compose/k8s/` (no cluster runs here): they parse, and the fields
//! that wire the Indexed Job together agree: completions = parallelism = the N of `--segment`, the
//! pod's completion index becomes the segment and names its results directory, the merge step reads
//! exactly those N directories, every pod uses the loadsuite image and the one results volume, and
//! the scenario and start instant come from the ConfigMap. The container arguments, with the index
//! substituted as Kubernetes would, are accepted by loadsuite's own command line.

use std::collections::BTreeMap;

use clap::Parser;
use e2e::stack::repo_root;
use loadsuite::cli::{Cli, Command};
use serde_json::Value;

/// Every document of every manifest, by `kind/name`.
fn manifests() -> BTreeMap<String, Value> {
    let dir = repo_root().join("compose/k8s");
    let script = "import sys, json, yaml\nprint(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))";
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let output = std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .args(["-c", script])
        .args(&files)
        .output()
        .expect("python3 with PyYAML (make test-deps)");
    assert!(output.status.success(), "valid YAML: {}", String::from_utf8_lossy(&output.stderr));
    let docs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    docs.into_iter()
        .map(|d| (format!("{}/{}", d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap()), d))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

fn expand(arg: &str, env: &[(&str, &str)]) -> String {
    env.iter().fold(arg.to_owned(), |a, (k, v)| a.replace(&format!("$({k})"), v))
}

#[test]
fn the_indexed_job_wires_index_segment_image_and_volume_together() {
    let docs = manifests();
    let job = &docs["Job/loadsuite-segments"];
    let merge = &docs["Job/loadsuite-merge"];
    let config = &docs["ConfigMap/loadsuite-scenario"];
    let pvc = &docs["PersistentVolumeClaim/loadsuite-results"];

    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "all segments run at once");
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(image.starts_with("aistack-loadsuite:"), "{image}");
    let env: BTreeMap<&str, &Value> =
        container["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap(), &e["valueFrom"])).collect();
    assert_eq!(
        env["JOB_COMPLETION_INDEX"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let start = &env["START_AT"]["configMapKeyRef"];
    assert_eq!(start["name"], config["metadata"]["name"]);
    assert!(config["data"][start["key"].as_str().unwrap()].is_string(), "the start instant is in the ConfigMap");

    // Volumes: the scenario from the ConfigMap, results on the one claim.
    let volumes: BTreeMap<&str, &Value> =
        pod["volumes"].as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap(), v)).collect();
    let mounts: BTreeMap<&str, &str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
        .collect();
    assert_eq!(volumes["scenario"]["configMap"]["name"], config["metadata"]["name"]);
    assert_eq!(volumes["results"]["persistentVolumeClaim"]["claimName"], pvc["metadata"]["name"]);

    // Each pod's arguments, expanded as Kubernetes does, are a valid segment run of the ConfigMap's scenario.
    let args = strings(&container["args"]);
    let mut outs = Vec::new();
    for index in 0..n {
        let i = index.to_string();
        let expanded: Vec<String> =
            args.iter().map(|a| expand(a, &[("JOB_COMPLETION_INDEX", &i), ("START_AT", "1767225600")])).collect();
        let cli = Cli::try_parse_from(std::iter::once("loadsuite".to_owned()).chain(expanded.clone()))
            .unwrap_or_else(|e| panic!("pod {index}: {e}"));
        let Command::Run(run) = cli.command else { panic!("pod {index} does not run a scenario") };
        let segment: loadsuite::segment::Segment = run.segment.as_deref().expect("--segment").parse().unwrap();
        assert_eq!((u64::from(segment.index), u64::from(segment.count)), (index, n), "pod {index}");
        assert_eq!(run.start_at.as_deref(), Some("1767225600"));
        let scenario_path = run.scenario.expect("a scenario path");
        let key =
            scenario_path.strip_prefix(&format!("{}/", mounts["scenario"])).expect("scenario from the ConfigMap mount");
        let text = config["data"][key].as_str().expect("the ConfigMap holds the scenario file");
        loadsuite::scenario::parse(text, key, "k8s").unwrap_or_else(|e| panic!("{e}"));
        let out = run.out.expect("--out").display().to_string();
        assert!(out.starts_with(&format!("{}/", mounts["results"])), "pod {index} writes to the shared volume: {out}");
        assert_eq!(run.exit_code_on_error, 0, "a pod with failed requests still completes, so the merge runs");
        outs.push(out);
    }
    outs.sort();
    outs.dedup();
    assert_eq!(outs.len() as u64, n, "every pod writes its own directory");

    // The merge step reads exactly those directories from the same claim, with the same image.
    let merge_pod = &merge["spec"]["template"]["spec"];
    let merge_container = &merge_pod["initContainers"][0];
    assert_eq!(merge_container["image"].as_str(), Some(image));
    assert_eq!(merge_pod["volumes"][0]["persistentVolumeClaim"]["claimName"], pvc["metadata"]["name"]);
    let merge_args = strings(&merge_container["args"]);
    let cli = Cli::try_parse_from(std::iter::once("loadsuite".to_owned()).chain(merge_args)).unwrap();
    let Command::Merge { runs, out } = cli.command else { panic!("the merge step merges") };
    let mut inputs: Vec<String> = runs.iter().map(|r| r.display().to_string()).collect();
    inputs.sort();
    assert_eq!(inputs, outs, "the merge reads every segment's directory");
    let report = strings(&merge_pod["containers"][0]["args"]);
    assert_eq!(report, ["report".to_owned(), out.display().to_string()], "then reports on the merged run");
}
