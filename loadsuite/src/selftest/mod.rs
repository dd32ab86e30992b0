//! `loadsuite selftest`: proves the pipeline catches what it should and stays quiet otherwise.
//! Against the mocks (embedded or given with --target) it records a baseline from several clean
//! runs, judges several more clean runs against it (the A/A part: a measured false-alarm count),
//! then injects each failure mode of the catalog through the mocks' admin API and checks the
//! verdict flags exactly the affected rows with the right diagnosis. It judges with the shipped
//! default thresholds. Fault randomness is fresh per run, derived from the run's seed, so `--seed`
//! reproduces a self-test while its runs differ as real ones do. Each mode also runs alone as
//! `loadsuite repro NAME`.

mod catalog;
mod matrix;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::formats::InputError;
use crate::formats::baseline::Baseline;
use crate::run::{RunOptions, run};
use crate::scenario;
use crate::verdict::{self, Thresholds, Verdict, baseline};
pub(crate) use catalog::CATALOG;
use catalog::{AGENT_CLEAN, CHAT, Expect, Mode, ModeContext, Workload, background};
use matrix::{FalseAlarms, Row};
pub(crate) use matrix::{Outcome, write_matrix};
use workload::scenario_text;

/// Why the self-test could not run.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    /// A run failed.
    #[error("run failed: {0}")]
    Run(#[from] crate::run::RunError),
    /// A verdict failed.
    #[error("verdict failed: {0}")]
    Verdict(#[from] InputError),
    /// The admin API refused a fault.
    #[error("admin API of {0}: {1}. Are the targets the project's mocks?")]
    Admin(String, String),
    /// A report could not be written.
    #[error("cannot write the reports of {0}: {1}")]
    Write(String, std::io::Error),
}

/// Installs `faults` through each mock's admin API, replacing what was there (an empty list clears).
pub(crate) async fn install_faults(
    client: &reqwest::Client,
    targets: &BTreeMap<String, String>,
    faults: &[(&str, Value)],
) -> Result<(), SelftestError> {
    for model in faults.iter().filter(|(s, _)| *s == "gateway-models").map(|(_, m)| m) {
        let url = format!("{}/__admin/models", targets["gateway"]);
        admin(client.post(&url).json(model), url).await?;
    }
    for service in ["gateway", "rag", "mcp"] {
        let url = format!("{}/__admin/faults", targets[service]);
        let rules: Vec<&Value> = faults.iter().filter(|(s, _)| *s == service).map(|(_, r)| r).collect();
        admin(client.put(&url).json(&rules), url).await?;
    }
    Ok(())
}

/// Sends one admin request (with the admin token when `MOCKS_ADMIN_TOKEN` is set), refused
/// answers as errors.
async fn admin(request: reqwest::RequestBuilder, url: String) -> Result<(), SelftestError> {
    let request = match std::env::var("MOCKS_ADMIN_TOKEN") {
        Ok(token) => request.bearer_auth(token),
        Err(_) => request,
    };
    let response = request.send().await.map_err(|e| SelftestError::Admin(url.clone(), e.to_string()))?;
    if !response.status().is_success() {
        return Err(SelftestError::Admin(url, response.text().await.unwrap_or_default()));
    }
    Ok(())
}

/// Settings of a self-test.
#[derive(Debug, Clone)]
pub(crate) struct SelftestOptions {
    /// Target URLs (`gateway`, `rag`, `mcp`).
    pub targets: BTreeMap<String, String>,
    /// Where runs and the matrix go.
    pub out: PathBuf,
    /// Length of each run.
    pub run_time: Duration,
    /// Users per run (the second stage's; the first has half).
    pub users: u32,
    /// Seed of the first run; each later run uses the next one.
    pub seed: u64,
    /// Runs merged into the baseline.
    pub baseline_runs: usize,
    /// Clean runs judged against it (the A/A part).
    pub aa_runs: usize,
}

/// Runs one mode into `out/name` with seed `seed`; returns the results directory.
async fn run_mode(
    mode: &Mode,
    options: &SelftestOptions,
    context: &ModeContext,
    name: &str,
    seed: u64,
) -> Result<PathBuf, SelftestError> {
    let client = crate::tasks::direct_client().build().expect("an HTTP client builds");
    let mut faults = vec![background()];
    faults.extend((mode.faults)(context));
    // Fresh randomness per run, reproducible from the run's seed.
    for (i, (_, rule)) in faults.iter_mut().enumerate().filter(|(_, (service, _))| *service != "gateway-models") {
        rule["seed"] = json!(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64));
    }
    install_faults(&client, &options.targets, &faults).await?;
    let text = scenario_text(&options.targets, mode.workload, options.users, options.run_time);
    let scenario = scenario::parse(&text, "selftest.toml", "selftest").expect("the self-test scenario is valid");
    let mut run_options = RunOptions::new(options.out.join(name));
    run_options.preflight = false;
    run_options.overwrite = true;
    run_options.seed = seed;
    run_options.timeout = Duration::from_secs(30);
    run_options.drain = Duration::from_secs(2);
    if mode.workload == Workload::Interrupted {
        let stop = run_options.stop.clone();
        let after = options.run_time.mul_f64(0.7);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.cancel();
        });
    }
    let outcome = run(scenario, run_options).await;
    install_faults(&client, &options.targets, &[]).await?;
    if faults.iter().any(|(s, _)| *s == "gateway-models") {
        // The configured models again (the journal and counters are cleared too).
        let url = format!("{}/__admin/reset", options.targets["gateway"]);
        admin(client.post(&url), url).await?;
    }
    Ok(outcome?.out)
}

fn judge(mode: &Mode, label: String, base: &Baseline, run: &Path) -> Result<Row, SelftestError> {
    let report = verdict::judge(Some((Path::new("selftest-baseline.json"), base)), run, Thresholds::default())?;
    verdict::write_reports(&report, run).map_err(|e| SelftestError::Write(run.display().to_string(), e))?;
    let mut flagged: Vec<String> = report
        .endpoints
        .iter()
        .filter(|e| e.verdict.fails())
        .map(|e| format!("stage {} {}", e.stage + 1, e.endpoint))
        .collect();
    flagged.extend(
        report.run_checks.iter().filter(|c| c.verdict >= Verdict::Inconclusive).map(|c| format!("run: {}", c.name)),
    );
    let text: Vec<String> =
        report.diagnosis.iter().cloned().chain(report.run_checks.iter().map(|c| c.detail.clone())).collect();
    let diagnosed = mode.diagnosis.is_empty() || text.iter().any(|d| d.contains(mode.diagnosis));
    let (expected, ok) = match mode.expect {
        Expect::Flags { endpoints, stage } => {
            let stages: Vec<usize> = match stage {
                Some(s) => vec![s],
                None => {
                    let mut s: Vec<usize> = report.endpoints.iter().map(|e| e.stage).collect();
                    s.dedup();
                    s
                }
            };
            let mut want: Vec<String> =
                stages.iter().flat_map(|s| endpoints.iter().map(move |e| format!("stage {} {e}", s + 1))).collect();
            want.sort();
            let mut got: Vec<String> = flagged.iter().filter(|f| !f.starts_with("run: ")).cloned().collect();
            got.sort();
            let run_failed = report.run_checks.iter().any(|c| c.verdict.fails());
            (want.clone(), got == want && !run_failed)
        }
        Expect::RunCheck(kind) => {
            let hit = report.run_checks.iter().any(|c| c.kind == kind && c.verdict >= Verdict::Inconclusive);
            let rows_fail = report.endpoints.iter().any(|e| e.verdict.fails());
            (vec![format!("run: {}", kind.label())], hit && !rows_fail && report.overall >= Verdict::Inconclusive)
        }
    };
    Ok(Row { mode: label, ok: ok && diagnosed, expected, flagged, diagnosed, verdict: report.overall.label() })
}

/// Runs the catalog (or one mode of it); returns the detection matrix and the A/A figure.
pub(crate) async fn selftest(options: &SelftestOptions, only: Option<&str>) -> Result<Outcome, SelftestError> {
    std::fs::create_dir_all(&options.out).ok();
    let clean = &CATALOG[0];
    let mut seed = options.seed;
    let mut next_seed = || {
        seed += 1;
        seed - 1
    };
    let placeholder = ModeContext { run_time: options.run_time, chat_p50_ms: 0.0 };
    let chosen = |m: &&Mode| only.is_none_or(|o| o == m.name);
    let standard = CATALOG.iter().filter(chosen).any(|m| m.workload != Workload::Agent);
    let mut rows = Vec::new();
    let mut false_alarms = None;
    if standard {
        let mut base_runs = Vec::new();
        for i in 0..options.baseline_runs.max(1) {
            base_runs.push(run_mode(clean, options, &placeholder, &format!("baseline-{}", i + 1), next_seed()).await?);
        }
        let inputs: Vec<&Path> = base_runs.iter().map(PathBuf::as_path).collect();
        let base = baseline::build(&inputs, &baseline::BuildOptions::default())?;
        baseline::write(&base, &options.out.join("baseline.json"))
            .map_err(|e| SelftestError::Write(options.out.display().to_string(), e))?;
        let chat_p50_ms = base
            .scenarios
            .get("selftest")
            .and_then(|s| s.stages.get(&0))
            .and_then(|s| s.get(CHAT))
            .and_then(|m| m.percentile("p50", 0.5))
            .unwrap_or(200.0);
        let context = ModeContext { run_time: options.run_time, chat_p50_ms };
        if only.is_none_or(|o| o == clean.name) {
            let runs = if only.is_some() { 1 } else { options.aa_runs.max(1) };
            let mut figure = FalseAlarms { runs, alarms: 0, inconclusive: 0 };
            for i in 0..runs {
                let name = format!("clean-{}", i + 1);
                let run = run_mode(clean, options, &context, &name, next_seed()).await?;
                let row = judge(clean, format!("clean #{}", i + 1), &base, &run)?;
                figure.alarms += usize::from(!row.ok);
                figure.inconclusive += usize::from(row.verdict == Verdict::Inconclusive.label());
                rows.push(row);
            }
            false_alarms = only.is_none().then_some(figure);
        }
        for mode in CATALOG.iter().skip(1).filter(chosen).filter(|m| m.workload != Workload::Agent) {
            let run = run_mode(mode, options, &context, mode.name, next_seed()).await?;
            rows.push(judge(mode, mode.name.into(), &base, &run)?);
        }
    }
    // Agent turns are judged against a baseline of their own agent runs.
    let agent_modes: Vec<&Mode> = CATALOG.iter().filter(chosen).filter(|m| m.workload == Workload::Agent).collect();
    if !agent_modes.is_empty() {
        let mut runs = Vec::new();
        for i in 0..options.baseline_runs.max(1) {
            let name = format!("agent-baseline-{}", i + 1);
            runs.push(run_mode(&AGENT_CLEAN, options, &placeholder, &name, next_seed()).await?);
        }
        let inputs: Vec<&Path> = runs.iter().map(PathBuf::as_path).collect();
        let agent_base = baseline::build(&inputs, &baseline::BuildOptions::default())?;
        for mode in agent_modes {
            let run = run_mode(mode, options, &placeholder, mode.name, next_seed()).await?;
            rows.push(judge(mode, mode.name.into(), &agent_base, &run)?);
        }
    }
    Ok(Outcome { rows, false_alarms })
}
