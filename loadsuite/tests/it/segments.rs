//! Execution segments and `loadsuite merge`: three segments of one plan run side by side against
//! the in-process mocks with one shared start instant, then merged. The merge must add up to the
//! parts exactly, its percentiles must be those of the union of the segments' histograms, its
//! stages must hold the plan's users, and `baseline`/`compare` must take it like any run. Bad
//! merges (another scenario, a missing or duplicate segment, another format version) are refused
//! with a message naming the problem.

use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::{Mocks, QUIET, temp_dir};
use hdrhistogram::Histogram;
use loadsuite::formats::histogram::decode;
use loadsuite::run::{RunOptions, run};
use loadsuite::scenario;
use loadsuite::segment::Segment;
use serde_json::Value;

const LOADSUITE: &str = env!("CARGO_BIN_EXE_loadsuite");

fn scenario_text(targets: &str) -> String {
    format!(
        "name = \"split\"\n{targets}\n[[users]]\nname = \"api\"\ntarget = \"gateway\"\nthink = {{ kind = \"between\", min = 0.05, max = 0.15 }}\ntasks = [\n  {{ kind = \"http\", name = \"/health\", path = \"/health\", weight = 2 }},\n  {{ kind = \"chat\", model = \"gpt-4o-mini\", max_tokens = 8, stream = true, weight = 1 }},\n]\n[[users]]\nname = \"rag\"\ntarget = \"rag\"\nthink = {{ kind = \"constant\", seconds = 0.1 }}\ntasks = [{{ kind = \"rag_query\", query = \"gateway runbook\" }}]\n\n[load]\nshape = \"stages\"\nstages = [\n  {{ users = 7, spawn_rate = 7, duration = \"2s\" }},\n  {{ users = 11, spawn_rate = 11, duration = \"2s\" }},\n]\n"
    )
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path.join("run.json")).unwrap()).unwrap()
}

async fn run_segments(text: &str, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let start_at = SystemTime::now() + Duration::from_millis(500);
    let runs = (0..3).map(|index| {
        let scenario = scenario::parse(text, "split.toml", "split").unwrap();
        let mut options = RunOptions::new(dir.join(format!("segment-{index}")));
        options.segment = Segment { index, count: 3 };
        options.start_at = Some(start_at);
        options.seed = 7;
        run(scenario, options)
    });
    let outcomes = futures::future::join_all(runs).await;
    outcomes.into_iter().map(|o| o.expect("segment runs").out).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_segments_merge_into_exactly_the_sum_of_their_parts() {
    let _serial = QUIET.write().await;
    let mocks = Mocks::start("").await;
    let text = scenario_text(&mocks.targets());
    let dir = temp_dir("segments");
    let parts = run_segments(&text, &dir).await;
    let merged_dir = dir.join("merged");
    let output = Command::new(LOADSUITE).arg("merge").args(&parts).arg("--out").arg(&merged_dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let merged = read(&merged_dir);
    let segments: Vec<Value> = parts.iter().map(|p| read(p)).collect();

    // Users: each segment ran its share, and the shares add up to the plan.
    let users = |run: &Value, stage: usize| run["plan"]["stages"][stage]["users"].as_u64().unwrap();
    assert_eq!([users(&segments[0], 0), users(&segments[1], 0), users(&segments[2], 0)], [3, 2, 2]);
    assert_eq!((users(&merged, 0), users(&merged, 1)), (7, 11));
    for stage in 0..2 {
        let peaks: u64 = segments.iter().map(|s| s["engine"]["stages"][stage]["peak"].as_u64().unwrap()).sum();
        assert_eq!(merged["engine"]["stages"][stage]["peak"].as_u64().unwrap(), peaks);
        assert_eq!(peaks, users(&merged, stage), "stage {stage} reached the plan's users");
    }
    // All segments started together.
    let starts: Vec<f64> = segments.iter().map(|s| s["started_at"].as_f64().unwrap()).collect();
    let spread = starts.iter().copied().fold(f64::MIN, f64::max) - starts.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread < 0.25, "segments started {spread:.3}s apart");

    // Counts are sums; percentiles are those of the union of the histograms, per endpoint.
    let aggregate = |run: &Value, field: &str| run["aggregate"][field].as_u64().unwrap();
    let total: u64 = segments.iter().map(|s| aggregate(s, "requests")).sum();
    assert!(total > 100, "{total} requests");
    assert_eq!(aggregate(&merged, "requests"), total);
    assert_eq!(aggregate(&merged, "failures"), segments.iter().map(|s| aggregate(s, "failures")).sum::<u64>());
    for endpoint in merged["endpoints"].as_array().unwrap() {
        let name = endpoint["name"].as_str().unwrap();
        let mut union: Option<Histogram<u64>> = None;
        let mut requests = 0;
        for s in &segments {
            let part = s["endpoints"].as_array().unwrap().iter().find(|e| e["name"] == name).expect("in every segment");
            requests += part["requests"].as_u64().unwrap();
            let h = decode(part["histogram"].as_str().unwrap()).unwrap();
            match &mut union {
                Some(u) => u.add(&h).unwrap(),
                None => union = Some(h),
            }
        }
        let union = union.unwrap();
        assert_eq!(endpoint["requests"].as_u64().unwrap(), requests, "{name}");
        assert_eq!(union.len(), requests, "{name}");
        for (key, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p100", 1.0)] {
            let expected = union.value_at_quantile(q) as f64 / 1000.0;
            assert_eq!(endpoint["latency_ms"][key].as_f64().unwrap(), expected, "{name} {key}");
        }
        if name.contains("stream") {
            assert!(endpoint["ttft_ms"]["p50"].as_f64().unwrap() > 0.0, "stream metrics survive the merge");
        }
    }
    // The time series is aligned by timestamp: per-second requests add up to the total.
    let per_second: u64 = merged["time_series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "Aggregated")
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_second, total);
    assert_eq!(merged["segments"].as_array().unwrap().len(), 3);
    // The same files as a single run.
    for file in
        ["loadsuite_stats.csv", "loadsuite_stats_history.csv", "loadsuite_failures.csv", "loadsuite_exceptions.csv"]
    {
        assert!(merged_dir.join(file).is_file(), "{file}");
    }
    let stats_csv = std::fs::read_to_string(merged_dir.join("loadsuite_stats.csv")).unwrap();
    let aggregated = stats_csv.lines().find(|l| l.contains(",Aggregated,")).unwrap();
    assert_eq!(aggregated.split(',').nth(2).unwrap(), total.to_string(), "{aggregated}");

    // baseline and compare take the merged run; the same plan run as one process passes against it.
    let single = dir.join("single");
    let scenario = scenario::parse(&text, "split.toml", "split").unwrap();
    let mut options = RunOptions::new(&single);
    options.seed = 7;
    run(scenario, options).await.unwrap();
    let baseline = dir.join("baseline.json");
    let recorded = Command::new(LOADSUITE)
        .args(["baseline", "--from"])
        .arg(&merged_dir)
        .arg("--out")
        .arg(&baseline)
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));
    let compared = Command::new(LOADSUITE)
        .args(["compare", "--baseline"])
        .arg(&baseline)
        .arg("--run")
        .arg(&single)
        .output()
        .unwrap();
    let verdict = String::from_utf8_lossy(&compared.stdout);
    assert!(matches!(compared.status.code(), Some(0 | 3)), "one process vs three segments:\n{verdict}");
    let single_rps = read(&single)["aggregate"]["requests_per_second"].as_f64().unwrap();
    let merged_rps = merged["aggregate"]["requests_per_second"].as_f64().unwrap();
    assert!((merged_rps / single_rps - 1.0).abs() < 0.25, "req/s: one process {single_rps:.1}, merged {merged_rps:.1}");
}

fn merge_error(args: &[&std::path::Path], out: &std::path::Path) -> String {
    let output = Command::new(LOADSUITE).arg("merge").args(args).arg("--out").arg(out).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "refused");
    assert!(!out.join("run.json").exists(), "nothing written when refused");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_merges_are_refused_with_the_reason() {
    let mocks = Mocks::start("").await;
    let dir = temp_dir("bad-merges");
    let text = scenario_text(&mocks.targets()).replace("duration = \"2s\"", "duration = \"500ms\"");
    let parts = run_segments(&text, &dir).await;
    let out = dir.join("merged");
    let (a, b, c) = (parts[0].as_path(), parts[1].as_path(), parts[2].as_path());

    let missing = merge_error(&[a, c], &out);
    assert!(missing.contains("segment 1/3 is missing"), "{missing}");
    let twice = merge_error(&[a, b, b, c], &out);
    assert!(twice.contains("segment 1/3 is given twice"), "{twice}");

    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let renamed = std::fs::read_to_string(b.join("run.json"))
        .unwrap()
        .replace("\"scenario\": \"split\"", "\"scenario\": \"other\"");
    std::fs::write(other.join("run.json"), renamed).unwrap();
    let scenario = merge_error(&[a, &other, c], &out);
    assert!(scenario.contains("scenario `other`") && scenario.contains("`split`"), "{scenario}");

    let future = dir.join("future");
    std::fs::create_dir_all(&future).unwrap();
    let bumped = std::fs::read_to_string(b.join("run.json")).unwrap().replace("\"version\": 2,", "\"version\": 99,");
    std::fs::write(future.join("run.json"), bumped).unwrap();
    let version = merge_error(&[a, &future, c], &out);
    assert!(version.contains("run format 99 is newer"), "{version}");
    let old = dir.join("old");
    std::fs::create_dir_all(&old).unwrap();
    let older = std::fs::read_to_string(b.join("run.json")).unwrap().replace("\"version\": 2,", "\"version\": 1,");
    std::fs::write(old.join("run.json"), older).unwrap();
    let version = merge_error(&[a, &old, c], &out);
    assert!(version.contains("run format 1 was written by an earlier loadsuite"), "{version}");

    let whole = dir.join("whole");
    let scenario = scenario::parse(&text, "split.toml", "split").unwrap();
    run(scenario, RunOptions::new(&whole)).await.unwrap();
    let unsegmented = merge_error(&[a, &whole, c], &out);
    assert!(unsegmented.contains("not a segment run"), "{unsegmented}");
}
