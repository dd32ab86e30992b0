//! Distributed load rehearsed on containers: three loadsuite containers run segments 0/3, 1/3 and
//! 2/3 of one plan from one shared start instant against the container stack, then the runs are
//! merged. The merge must equal the sum of its parts (requests, per-stage users against the plan),
//! its percentiles must be those of the union of the segments' histograms, and compared with the
//! same plan run by one loadsuite container, the rates must agree and `compare` must pass.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{SERIAL, out_dir, read_json};
use e2e::ContainerStack;
use e2e::stack::run_loadsuite;
use hdrhistogram::Histogram;
use loadsuite::formats::histogram::decode;

const SCENARIO_ARGS: [&str; 6] = ["run", "api-progressive", "--run-time", "9s", "--spawn-rate", "200"];

#[tokio::test(flavor = "multi_thread")]
async fn three_segment_containers_merge_into_the_run_one_process_makes() {
    let _serial = SERIAL.lock().await;
    let stack = ContainerStack::start().await.expect("stack starts");
    let targets: Vec<String> = stack.services.iter().map(|s| format!("{}={}", s.name, s.network_url())).collect();
    let env = [("LOADSUITE_TARGETS", targets.join(","))];
    let results = out_dir("segments");
    std::fs::create_dir_all(&results).unwrap();
    // The containers run as user 65532.
    std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o777)).unwrap();
    let start_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 5;
    let segment_args = |i: u32| {
        let mut args: Vec<String> = SCENARIO_ARGS.iter().map(|a| a.to_string()).collect();
        args.extend(["--segment".into(), format!("{i}/3"), "--start-at".into(), start_at.to_string()]);
        args.extend(["--quiet".into(), "--out".into(), format!("/results/segment-{i}")]);
        args
    };
    let limit = Duration::from_secs(60);
    let args: Vec<Vec<String>> = (0..3).map(segment_args).collect();
    let (a, b, c) = tokio::join!(
        run_loadsuite(&stack.network, &args[0], &env, &results, limit),
        run_loadsuite(&stack.network, &args[1], &env, &results, limit),
        run_loadsuite(&stack.network, &args[2], &env, &results, limit),
    );
    for (i, run) in [a, b, c].into_iter().enumerate() {
        let (code, container) = run.expect("segment container runs");
        let stderr = container.stderr_to_vec().await.unwrap_or_default();
        assert_eq!(code, 0, "segment {i}/3: {}", String::from_utf8_lossy(&stderr));
    }
    let parts: Vec<_> = (0..3).map(|i| results.join(format!("segment-{i}"))).collect();
    let merged_dir = results.join("merged");
    let merged = loadsuite::merge::merge(&parts, &merged_dir, "loadsuite").expect("segments merge");
    let segments: Vec<_> = parts.iter().map(|p| read_json(&p.join("run.json"))).collect();
    let run = read_json(&merged.run_json);

    // Counts: the merge is the sum of its parts.
    let requests = |r: &serde_json::Value| r["aggregate"]["requests"].as_u64().unwrap();
    assert_eq!(merged.requests, segments.iter().map(requests).sum::<u64>());
    assert!(merged.requests > 100, "{} requests", merged.requests);
    // Users: every stage's shares add up to the plan, and the segments together reached it.
    for (stage, users) in [10u64, 50, 100].into_iter().enumerate() {
        assert_eq!(run["plan"]["stages"][stage]["users"].as_u64(), Some(users), "stage {stage} plan");
        assert_eq!(run["engine"]["stages"][stage]["peak"].as_u64(), Some(users), "stage {stage} reached");
        let shares: Vec<u64> = segments.iter().map(|s| s["plan"]["stages"][stage]["users"].as_u64().unwrap()).collect();
        assert_eq!(shares.iter().sum::<u64>(), users, "stage {stage} shares {shares:?}");
    }
    // Percentiles of the merge are those of the union of the segments' histograms.
    let mut union: Option<Histogram<u64>> = None;
    for s in &segments {
        let h = decode(s["aggregate"]["histogram"].as_str().unwrap()).unwrap();
        match &mut union {
            Some(u) => u.add(&h).unwrap(),
            None => union = Some(h),
        }
    }
    let union = union.unwrap();
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p100", 1.0)] {
        assert_eq!(
            run["aggregate"]["latency_ms"][key].as_f64(),
            Some(union.value_at_quantile(q) as f64 / 1000.0),
            "{key}"
        );
    }

    // The same plan from one loadsuite container.
    let mut single_args: Vec<String> = SCENARIO_ARGS.iter().map(|a| a.to_string()).collect();
    single_args.extend(["--quiet".into(), "--out".into(), "/results/single".into()]);
    let (code, _container) =
        run_loadsuite(&stack.network, &single_args, &env, &results, limit).await.expect("single run");
    assert_eq!(code, 0);
    let single = read_json(&results.join("single/run.json"));
    let rate = |r: &serde_json::Value| r["aggregate"]["requests_per_second"].as_f64().unwrap();
    let ratio = rate(&run) / rate(&single);
    assert!((0.8..1.25).contains(&ratio), "merged {:.1} req/s vs one process {:.1}", rate(&run), rate(&single));
    let baseline = results.join("baseline.json");
    crate::common::record_baseline(&results.join("single"), &baseline);
    let report = crate::common::judge(&merged_dir, Some(&baseline));
    assert!(
        !matches!(report.overall, loadsuite::verdict::Verdict::Regression(_)),
        "three segments vs one process: {:?}",
        report.diagnosis
    );
}
