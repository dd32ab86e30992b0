//! `loadsuite calibrate`: measures how trustworthy the verdicts are on a realistic noisy service,
//! instead of claiming it. The mocks are configured as that service (RAG query latency lognormal,
//! median 100 ms, sigma 0.5; 0.33% `db_error` on queries; fault randomness fresh per run), the
//! shipped `baseline` scenario runs at 120 users, and:
//!
//! - **A/A**: clean runs judged against baselines of other clean runs (three merged, the
//!   recommended workflow; and a single run). A run "raises an alarm" when any row or run check
//!   fails. The false-alarm rate comes with its 95% interval.
//! - **Power**: runs with a known change (chat p95 +100%, RAG query p95 +100%, query errors 0.33% ->
//!   5%, chat failing entirely) judged the same way: how often the affected rows fail, and how
//!   often anything else does too.
//!
//! `make bench-verdicts` runs it and writes `bench/results/verdicts.{md,json}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::formats::InputError;
use crate::plan::Plan;
use crate::run::{RunOptions, run};
use crate::selftest::install_faults;
use crate::verdict::{self, Thresholds, Verdict, baseline};

const CHAT: &str = "POST /v1/chat/completions";
const STREAM: &str = "POST /v1/chat/completions (stream)";
const QUERY: &str = "POST /v1/query";

/// What a calibration run needs.
#[derive(Debug, Clone)]
pub(crate) struct CalibrateOptions {
    /// Target URLs (`gateway`, `rag`, `mcp`): the project's mocks.
    pub targets: BTreeMap<String, String>,
    /// Where the runs go.
    pub out: PathBuf,
    /// A/A comparisons.
    pub aa: usize,
    /// Trials per known change.
    pub power: usize,
    /// Length of each run.
    pub run_time: Duration,
    /// Users of each run.
    pub users: u32,
    /// Seed of the first run; each later run takes the next.
    pub seed: u64,
}

/// Why calibration stopped.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// A run or the admin API failed.
    #[error(transparent)]
    Selftest(#[from] crate::selftest::SelftestError),
    /// A run failed.
    #[error("run failed: {0}")]
    Run(#[from] crate::run::RunError),
    /// A verdict could not be made.
    #[error("verdict failed: {0}")]
    Verdict(#[from] InputError),
}

/// A count out of a number of trials, with its 95% Wilson interval.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rate {
    /// Hits.
    pub hits: usize,
    /// Trials.
    pub trials: usize,
    /// hits / trials.
    pub rate: f64,
    /// 95% interval, lower bound.
    pub low: f64,
    /// 95% interval, upper bound.
    pub high: f64,
}

impl Rate {
    fn of(hits: usize, trials: usize) -> Self {
        let (low, high) = verdict::tests_stat::wilson(hits as u64, trials as u64, 1.96);
        Rate { hits, trials, rate: if trials == 0 { 0.0 } else { hits as f64 / trials as f64 }, low, high }
    }

    fn show(&self) -> String {
        format!(
            "{} of {} ({:.1}%, 95% interval {:.1}–{:.1}%)",
            self.hits,
            self.trials,
            self.rate * 100.0,
            self.low * 100.0,
            self.high * 100.0
        )
    }
}

/// The A/A figures of one kind of baseline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AaFigures {
    /// Which baselines: `3 runs merged` or `1 run`.
    pub baseline: String,
    /// Runs with any failing row or run check.
    pub false_alarms: Rate,
    /// Runs judged inconclusive overall.
    pub inconclusive: Rate,
    /// Which checks raised the alarms, and how often.
    pub alarms_by_check: BTreeMap<String, usize>,
}

/// The figures of one known change.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PowerFigures {
    /// The change.
    pub change: String,
    /// The rows it must flag.
    pub affected: Vec<String>,
    /// Trials where every affected row failed.
    pub detected: Rate,
    /// Trials where a row that is not affected failed too.
    pub collateral: Rate,
}

/// What a comparison could detect, per endpoint: the median over the A/A comparisons.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Detectable {
    /// `METHOD name`.
    pub endpoint: String,
    /// Median p95 of the successful requests (ms).
    pub p95_ms: f64,
    /// Median smallest p95 rise flagged (fraction).
    pub p95_rise: Option<f64>,
    /// Median smallest error-rate rise flagged (absolute).
    pub error_rate_rise: Option<f64>,
}

/// Everything calibration measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Calibration {
    /// The service and workload.
    pub setup: String,
    /// A/A with three-run baselines, then with one-run baselines.
    pub aa: Vec<AaFigures>,
    /// Each known change.
    pub power: Vec<PowerFigures>,
    /// What a three-run-baseline comparison could detect, per endpoint.
    pub detectable: Vec<Detectable>,
    /// The thresholds judged with (the defaults).
    pub thresholds: Thresholds,
}

/// The realistic service's rules; `query_median_ms` and `error_rate` are its knobs.
fn service(query_median_ms: f64, error_rate: f64) -> Vec<(&'static str, Value)> {
    vec![
        (
            "rag",
            json!({"name": "query-latency", "match": {"path": "/v1/query"}, "latency": {"kind": "lognormal", "median_ms": query_median_ms, "sigma": 0.5}}),
        ),
        (
            "rag",
            json!({"name": "db-errors", "probability": error_rate, "match": {"path": "/v1/query"}, "error": {"status": 500, "code": "db_error"}}),
        ),
    ]
}

/// A known change: its name, the rows it affects, and the rules of a run with it (given the
/// baseline's chat p95).
struct Change {
    name: &'static str,
    affected: &'static [&'static str],
    rules: fn(f64) -> Vec<(&'static str, Value)>,
}

const CHANGES: &[Change] = &[
    Change {
        name: "chat p95 +100% (the baseline's p95 added to every chat completion)",
        affected: &[CHAT, STREAM],
        rules: |chat_p95| {
            let mut r = service(100.0, 0.0033);
            r.push((
                "gateway",
                json!({"name": "slow-chat", "match": {"path": "/v1/chat/completions"}, "latency": {"kind": "fixed", "ms": chat_p95}}),
            ));
            r
        },
    },
    Change {
        name: "RAG query p95 +100% (lognormal median 100 -> 200 ms)",
        affected: &[QUERY],
        rules: |_| service(200.0, 0.0033),
    },
    Change { name: "query errors 0.33% -> 5%", affected: &[QUERY], rules: |_| service(100.0, 0.05) },
    Change {
        name: "chat fails entirely (503 on every chat completion)",
        affected: &[CHAT, STREAM],
        rules: |_| {
            let mut r = service(100.0, 0.0033);
            r.push((
                "gateway",
                json!({"name": "chat-down", "match": {"path": "/v1/chat/completions"}, "error": {"status": 503}}),
            ));
            r
        },
    },
];

struct Runner<'a> {
    options: &'a CalibrateOptions,
    client: reqwest::Client,
    next_seed: u64,
    done: usize,
    total: usize,
}

impl Runner<'_> {
    async fn run(&mut self, name: &str, rules: Vec<(&'static str, Value)>) -> Result<PathBuf, CalibrateError> {
        let seed = self.next_seed;
        self.next_seed += 1;
        self.done += 1;
        eprintln!("calibrate: run {}/{} ({name})", self.done, self.total);
        let mut rules = rules;
        for (i, (_, rule)) in rules.iter_mut().enumerate() {
            rule["seed"] = json!(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64));
        }
        install_faults(&self.client, &self.options.targets, &rules).await?;
        let mut scenario = crate::scenario::load("baseline").expect("the shipped baseline scenario is valid");
        scenario.targets.extend(self.options.targets.clone());
        scenario.plan.fit(self.options.run_time);
        scenario.plan.override_users(Some(self.options.users), Some(f64::from(self.options.users)));
        debug_assert!(matches!(scenario.plan, Plan::Closed { .. }));
        let mut run_options = RunOptions::new(self.options.out.join(name));
        run_options.preflight = false;
        run_options.overwrite = true;
        run_options.seed = seed;
        let outcome = run(scenario, run_options).await?;
        install_faults(&self.client, &self.options.targets, &[]).await?;
        Ok(outcome.out)
    }
}

/// Judges `run` against a baseline of `base`; returns the report.
fn judge(base: &[PathBuf], run: &Path) -> Result<verdict::Report, CalibrateError> {
    let inputs: Vec<&Path> = base.iter().map(PathBuf::as_path).collect();
    let baseline = baseline::build(&inputs, &baseline::BuildOptions::default())?;
    Ok(verdict::judge(Some((Path::new("calibration-baseline.json"), &baseline)), run, Thresholds::default())?)
}

fn failing_rows(report: &verdict::Report) -> Vec<String> {
    let mut rows: Vec<String> =
        report.endpoints.iter().filter(|e| e.verdict.fails()).map(|e| e.endpoint.clone()).collect();
    rows.sort();
    rows.dedup();
    rows
}

fn aa_figures(label: &str, reports: &[verdict::Report]) -> AaFigures {
    let mut by_check = BTreeMap::new();
    let mut alarms = 0;
    for r in reports {
        let failing: Vec<&str> = r
            .endpoints
            .iter()
            .flat_map(|e| &e.checks)
            .chain(&r.run_checks)
            .filter(|c| c.verdict.fails())
            .map(|c| c.name)
            .collect();
        alarms += usize::from(!failing.is_empty());
        for name in failing {
            *by_check.entry(name.to_owned()).or_default() += 1;
        }
    }
    let inconclusive = reports.iter().filter(|r| r.overall == Verdict::Inconclusive).count();
    AaFigures {
        baseline: label.into(),
        false_alarms: Rate::of(alarms, reports.len()),
        inconclusive: Rate::of(inconclusive, reports.len()),
        alarms_by_check: by_check,
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// One endpoint's figures over many comparisons.
#[derive(Default)]
struct Seen {
    p95: Vec<f64>,
    rise: Vec<f64>,
    errors: Vec<f64>,
}

fn detectable(reports: &[verdict::Report]) -> Vec<Detectable> {
    let mut endpoints: BTreeMap<String, Seen> = BTreeMap::new();
    for e in reports.iter().flat_map(|r| &r.endpoints) {
        let seen = endpoints.entry(e.endpoint.clone()).or_default();
        seen.p95.extend(e.current.p95_ms);
        seen.rise.extend(e.detectable.p95_rise);
        seen.errors.extend(e.detectable.error_rate_rise);
    }
    endpoints
        .into_iter()
        .map(|(endpoint, seen)| Detectable {
            endpoint,
            p95_ms: median(seen.p95).unwrap_or(0.0),
            p95_rise: median(seen.rise),
            error_rate_rise: median(seen.errors),
        })
        .collect()
}

/// Runs the study.
pub(crate) async fn calibrate(options: &CalibrateOptions) -> Result<Calibration, CalibrateError> {
    std::fs::create_dir_all(&options.out).ok();
    let clean_runs = options.aa + 3;
    let mut runner = Runner {
        options,
        client: crate::tasks::direct_client().build().expect("an HTTP client builds"),
        next_seed: options.seed,
        done: 0,
        total: clean_runs + options.power * CHANGES.len(),
    };
    let mut clean = Vec::new();
    for i in 0..clean_runs {
        clean.push(runner.run(&format!("clean-{i:03}"), service(100.0, 0.0033)).await?);
    }
    let mut merged = Vec::new();
    let mut single = Vec::new();
    for i in 0..options.aa {
        merged.push(judge(&clean[i..i + 3], &clean[i + 3])?);
        single.push(judge(&clean[i + 2..i + 3], &clean[i + 3])?);
    }
    let chat_p95 = merged
        .first()
        .and_then(|r| r.endpoints.iter().find(|e| e.endpoint == CHAT))
        .and_then(|e| e.baseline.as_ref())
        .and_then(|b| b.p95_ms)
        .unwrap_or(333.0);
    let mut power = Vec::new();
    for (c, change) in CHANGES.iter().enumerate() {
        let (mut detected, mut collateral) = (0, 0);
        for t in 0..options.power {
            let run = runner.run(&format!("change-{c}-{t:03}"), (change.rules)(chat_p95)).await?;
            let window = t % (clean_runs - 2);
            let report = judge(&clean[window..window + 3], &run)?;
            let failing = failing_rows(&report);
            detected += usize::from(change.affected.iter().all(|a| failing.iter().any(|f| f == a)));
            collateral += usize::from(failing.iter().any(|f| !change.affected.contains(&f.as_str())));
        }
        power.push(PowerFigures {
            change: change.name.into(),
            affected: change.affected.iter().map(|a| (*a).to_owned()).collect(),
            detected: Rate::of(detected, options.power),
            collateral: Rate::of(collateral, options.power),
        });
    }
    Ok(Calibration {
        setup: format!(
            "the shipped `baseline` scenario at {} users for {:.0} s per run (spawn {}/s); RAG /v1/query latency lognormal (median 100 ms, sigma 0.5) with 0.33% db_error; fault randomness fresh per run; default thresholds",
            options.users,
            options.run_time.as_secs_f64(),
            options.users
        ),
        aa: vec![aa_figures("3 runs merged", &merged), aa_figures("1 run", &single)],
        power,
        detectable: detectable(&merged),
        thresholds: Thresholds::default(),
    })
}

/// The study as Markdown (bench/results/verdicts.md).
pub(crate) fn markdown(c: &Calibration) -> String {
    let mut out = format!("# Verdict calibration\n\nSetup: {}.\n\n## A/A: false alarms\n\n", c.setup);
    out.push_str("A run raises an alarm when any row or run check fails (regression or missed target).\n\n");
    out.push_str("| baseline | runs with an alarm | inconclusive overall | alarms by check |\n|---|---|---|---|\n");
    for a in &c.aa {
        let checks: Vec<String> = a.alarms_by_check.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            a.baseline,
            a.false_alarms.show(),
            a.inconclusive.show(),
            if checks.is_empty() { "none".into() } else { checks.join("; ") }
        ));
    }
    out.push_str("\n## Power: known changes against three-run baselines\n\n");
    out.push_str("| change | rows that must fail | detected | another row failed too |\n|---|---|---|---|\n");
    for p in &c.power {
        let rows: Vec<String> = p.affected.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            p.change,
            rows.join(", "),
            p.detected.show(),
            p.collateral.show()
        ));
    }
    out.push_str("\n## What a comparison could detect (three-run baselines; medians over the A/A comparisons)\n\n");
    out.push_str(
        "| endpoint | p95 ms | smallest p95 rise flagged | smallest error-rate rise flagged |\n|---|---:|---:|---:|\n",
    );
    for d in &c.detectable {
        out.push_str(&format!(
            "| `{}` | {:.1} | {} | {} |\n",
            d.endpoint,
            d.p95_ms,
            d.p95_rise.map_or("-".into(), |r| format!("+{:.0}%", r * 100.0)),
            d.error_rate_rise.map_or("-".into(), |r| format!("+{:.2} points", r * 100.0))
        ));
    }
    out
}

/// Writes the study as `verdicts.md` and `verdicts.json` into `dir`; returns the Markdown and the
/// `.md` path.
pub(crate) fn write(result: &Calibration, dir: &Path) -> std::io::Result<(String, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let text = markdown(result);
    let md = dir.join("verdicts.md");
    crate::output::write_text_atomic(&md, &text)?;
    crate::output::write_json_atomic(&dir.join("verdicts.json"), result)?;
    Ok((text, md))
}
