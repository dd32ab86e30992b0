//! The `loadsuite` command line. `main.rs` only calls [`main`].
//!
//! Exit codes of `run`: 0 the run completed and every request passed its check; 1 it completed but
//! some requests failed (or an arrival-rate schedule was not kept); 2 usage, scenario or preflight
//! error; 3 nothing was measured (no request was sent); 4 interrupted (partial results written).
//! Of `compare` and `report`: 0 pass, 1 regression or a missed target, 3 inconclusive, 2 usage or
//! input error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::plan::{ClosedStage, OpenStage, Plan};
use crate::run::{RunOptions, run};
use crate::scenario::{self, Scenario, Task, TaskKind, Think, UserClass};

/// Load tests for AI stacks, with Locust-compatible results.
#[derive(Debug, Parser)]
#[command(name = "loadsuite", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario (a path or a shipped name), or an ad-hoc test of one URL (--url).
    Run(Box<RunArgs>),
    /// List the shipped scenarios.
    Scenarios,
    /// Validate a scenario file and print every problem with file, line and field.
    Check {
        /// Path or shipped name.
        scenario: String,
    },
    /// Build (or merge) a baseline from results directories, run.json files or Locust _stats.csv;
    /// warns about (and records) what it is blessing.
    Baseline {
        /// An input (repeatable; several runs of one scenario merge and give its run-to-run spread).
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        /// The baseline file to write.
        #[arg(long)]
        out: PathBuf,
        /// Keep endpoints that failed every request (refused otherwise).
        #[arg(long)]
        allow_failing: bool,
        /// The thresholds later comparisons will use (for the minimum samples and error target).
        #[arg(long)]
        thresholds: Option<PathBuf>,
    },
    /// Judge a run against a baseline: exit 0 pass, 1 regression or missed target, 3 inconclusive,
    /// 2 input error.
    Compare {
        /// The baseline file.
        #[arg(long)]
        baseline: PathBuf,
        /// The run (results directory or run.json).
        #[arg(long)]
        run: PathBuf,
        /// Thresholds file (TOML); defaults otherwise.
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Where to write verdict.json, summary.md, junit.xml (default: the run's directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Build the GitHub issue for a regression verdict; print it (--dry-run) or file it
    /// (GITHUB_TOKEN, GITHUB_API_URL), commenting on an open issue with the same fingerprint.
    Issue {
        /// verdict.json from `compare` or `report`.
        #[arg(long)]
        verdict: PathBuf,
        /// OWNER/NAME.
        #[arg(long)]
        repo: String,
        /// Print the REST payload instead of posting.
        #[arg(long)]
        dry_run: bool,
    },
    /// Test the pipeline itself: a clean A/A pair, then every failure mode of the catalog injected
    /// into the mocks, each checked to flag exactly the affected endpoints. Exits 1 on any miss or
    /// false alarm.
    Selftest(SelftestArgs),
    /// Measure the verdicts' false-alarm rate (A/A) and power on the mocks configured as a
    /// realistic noisy service; writes verdicts.md and verdicts.json (see `make bench-verdicts`).
    Calibrate(CalibrateArgs),
    /// Reproduce one failure mode of the self-test catalog alone and show its verdict.
    Repro {
        /// The mode (see `loadsuite repro --list`).
        name: Option<String>,
        /// List the modes and their symptoms.
        #[arg(long)]
        list: bool,
        /// Where it runs.
        #[command(flatten)]
        targets: SelftestArgs,
    },
    /// Merge the runs of the N segments of one plan (`run --segment I/N`) into one run: the same
    /// files as a single run, histograms added exactly.
    Merge {
        /// The segment runs (results directories or run.json files), one per segment.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Where the merged run goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Judge a single run on the absolute targets and write its reports.
    Report {
        /// The run (results directory or run.json).
        run: PathBuf,
        /// Thresholds file (TOML).
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Where to write the reports (default: the run's directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Where the self-test runs.
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Start the mocks in-process (default when no --target is given).
    #[arg(long)]
    pub embedded: bool,
    /// The mocks to use: gateway=URL, rag=URL, mcp=URL.
    #[arg(long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Where runs and the detection matrix go.
    #[arg(long, default_value = "results/selftest")]
    pub out: PathBuf,
    /// Length of each run (two stages of half each).
    #[arg(long, default_value = "6s")]
    pub run_time: String,
    /// Users per run (the second stage's; the first has half).
    #[arg(long, default_value_t = 40)]
    pub users: u32,
    /// Seed of the first run (each later run takes the next): reproduces a self-test.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Clean runs merged into the baseline.
    #[arg(long, default_value_t = 3)]
    pub baseline_runs: usize,
    /// Clean runs judged against the baseline (the A/A part).
    #[arg(long, default_value_t = 3)]
    pub aa_runs: usize,
}

/// `loadsuite calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Start the mocks in-process (default when no --target is given).
    #[arg(long)]
    pub embedded: bool,
    /// The mocks to use: gateway=URL, rag=URL, mcp=URL.
    #[arg(long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Where the runs go.
    #[arg(long, default_value = "results/calibrate")]
    pub out: PathBuf,
    /// Where verdicts.md and verdicts.json go (default: --out).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// A/A comparisons.
    #[arg(long, default_value_t = 100)]
    pub aa: usize,
    /// Trials per known change.
    #[arg(long, default_value_t = 20)]
    pub power: usize,
    /// Length of each run.
    #[arg(long, default_value = "8s")]
    pub run_time: String,
    /// Users of each run.
    #[arg(long, default_value_t = 120)]
    pub users: u32,
    /// Seed of the first run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `loadsuite run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario path or shipped name (see `loadsuite scenarios`).
    pub scenario: Option<String>,
    /// Point a target at a URL: NAME=URL (repeatable; LOADSUITE_TARGETS takes a comma-separated list).
    #[arg(long = "target", value_name = "NAME=URL", env = "LOADSUITE_TARGETS", value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Sample this local process's CPU and memory during the run (repeatable).
    #[arg(long = "watch-pid", value_name = "PID")]
    pub watch_pids: Vec<u32>,
    /// Sample this container's CPU and memory during the run (name or id; repeatable).
    #[arg(long = "watch-container", value_name = "NAME")]
    pub watch_containers: Vec<String>,
    /// Do not look for the containers behind the targets (found by published port or name).
    #[arg(long)]
    pub no_watch_containers: bool,
    /// Run only the I-th of N shares of the plan (0-based, e.g. 1/3); merge the N runs with
    /// `loadsuite merge`.
    #[arg(long, value_name = "I/N", env = "LOADSUITE_SEGMENT")]
    pub segment: Option<String>,
    /// When the stages start, in Unix seconds (the same value for every segment, so their time
    /// series line up); now by default.
    #[arg(long, value_name = "UNIX_SECONDS", env = "LOADSUITE_START_AT")]
    pub start_at: Option<String>,
    /// Exit code when the run completed but some requests failed (as Locust's option; 0 lets a
    /// segment's pod or container succeed so the merge runs).
    #[arg(long, default_value_t = 1)]
    pub exit_code_on_error: u8,
    /// Users in every stage (overrides the scenario).
    #[arg(long)]
    pub users: Option<u32>,
    /// Users started per second (overrides the scenario).
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Total run time; stages are scaled to fit (e.g. 30s, 2m).
    #[arg(long)]
    pub run_time: Option<String>,
    /// Multiply every stage duration by this factor.
    #[arg(long)]
    pub duration_scale: Option<f64>,
    /// Results directory (default: results/<scenario>-<unix time>). One that already holds a
    /// run's results is refused unless --overwrite.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the results of an earlier run in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Start the mock stack in-process and point gateway/rag/mcp at it.
    #[arg(long)]
    pub embedded: bool,
    /// With --embedded: the mocks' configuration file (e.g. compose/profiles/slow-gateway.toml).
    #[arg(long, value_name = "FILE", requires = "embedded")]
    pub mocks_config: Option<PathBuf>,
    /// Skip the health and model checks (to reproduce failures on purpose).
    #[arg(long)]
    pub no_preflight: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Longest wait for in-flight requests when the run ends; those still waiting then are
    /// recorded as `unfinished` failures.
    #[arg(long, default_value = "10s")]
    pub drain: String,
    /// Ad hoc: the URL to load (instead of a scenario).
    #[arg(long, conflicts_with = "scenario")]
    pub url: Option<String>,
    /// Ad hoc: HTTP method.
    #[arg(short = 'X', long = "method", default_value = "GET")]
    pub method: String,
    /// Ad hoc: a header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Ad hoc: request body.
    #[arg(short = 'd', long = "data")]
    pub data: Option<String>,
    /// Ad hoc: open arrival rate in requests/s instead of users.
    #[arg(long, conflicts_with = "users")]
    pub rate: Option<f64>,
    /// Ad hoc: think time, MIN or MIN..MAX seconds.
    #[arg(long)]
    pub wait: Option<String>,
}

/// Parses the process arguments and runs; the whole of `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
    match execute(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command line; an `Err` is a usage or input error (exit 2).
pub fn execute(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Scenarios => {
            for (name, text) in scenario::SHIPPED {
                let description = scenario::parse(text, name, name).map(|s| s.description).unwrap_or_default();
                println!("{name:<22} {description}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { scenario } => match scenario::load(&scenario) {
            Ok(s) => {
                println!(
                    "{scenario}: ok ({} user classes, {} stages, {:.0}s)",
                    s.users.len(),
                    s.plan.stage_count(),
                    s.plan.total().as_secs_f64()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Run(args) => run_command(*args),
        Command::Baseline { from, out, allow_failing, thresholds } => {
            let inputs: Vec<&std::path::Path> = from.iter().map(PathBuf::as_path).collect();
            let thresholds = thresholds_of(thresholds)?;
            let options = crate::verdict::baseline::BuildOptions { allow_failing, thresholds };
            let baseline = crate::verdict::baseline::build(&inputs, &options).map_err(|e| e.to_string())?;
            crate::verdict::baseline::write(&baseline, &out)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            for (name, scenario) in &baseline.scenarios {
                for w in &scenario.warnings {
                    let at = match (w.stage, &w.endpoint) {
                        (Some(stage), Some(e)) => format!(" stage {} `{e}`", stage + 1),
                        _ => String::new(),
                    };
                    eprintln!("loadsuite: warning: baseline `{name}`{at}: {}", w.message);
                }
            }
            let endpoints: usize = baseline.scenarios.values().flat_map(|s| s.stages.values()).map(|e| e.len()).sum();
            println!(
                "baseline: {} ({} scenarios, {endpoints} stage endpoints from {} inputs)",
                out.display(),
                baseline.scenarios.len(),
                inputs.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { baseline, run, thresholds, out } => {
            let loaded = crate::formats::baseline::read(&baseline).map_err(|e| e.to_string())?;
            verdict_command(Some((&baseline, &loaded)), &run, thresholds, out)
        }
        Command::Report { run, thresholds, out } => verdict_command(None, &run, thresholds, out),
        Command::Merge { runs, out } => {
            let merged = crate::merge::merge(&runs, &out, "loadsuite").map_err(|e| e.to_string())?;
            println!(
                "merged {} segments: {} requests, {} failures -> {}",
                merged.segments,
                merged.requests,
                merged.failures,
                merged.run_json.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Issue { verdict, repo, dry_run } => issue_command(&verdict, &repo, dry_run),
        Command::Selftest(args) => selftest_command(&args, None),
        Command::Calibrate(args) => calibrate_command(&args),
        Command::Repro { list: true, .. } | Command::Repro { name: None, .. } => {
            for mode in crate::selftest::CATALOG {
                println!("{:<24} {}", mode.name, mode.symptom);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Repro { name: Some(name), targets, .. } => {
            if !crate::selftest::CATALOG.iter().any(|m| m.name == name) {
                return Err(format!("no failure mode `{name}`; see `loadsuite repro --list`"));
            }
            selftest_command(&targets, Some(&name))
        }
    }
}

/// The mocks a self-test or calibration works on: `--target NAME=URL` for all three services, or
/// the embedded stack (also when no target is given). The stack, when started, must be shut down.
async fn mock_targets(
    embedded: bool,
    given: &[String],
) -> Result<(Option<mocks::stack::Stack>, BTreeMap<String, String>), String> {
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for t in given {
        let (n, u) = t.split_once('=').ok_or_else(|| format!("--target {t}: write NAME=URL"))?;
        targets.insert(n.to_owned(), u.trim_end_matches('/').to_owned());
    }
    let stack = if embedded || targets.is_empty() {
        let config = mocks::config::MocksConfig::default();
        let (stack, embedded) = crate::run::embedded_stack(&config).await.map_err(|e| e.to_string())?;
        targets.extend(embedded);
        Some(stack)
    } else {
        None
    };
    for needed in ["gateway", "rag", "mcp"] {
        if !targets.contains_key(needed) {
            return Err(format!("--target {needed}=URL is missing (or use --embedded)"));
        }
    }
    Ok((stack, targets))
}

fn selftest_command(args: &SelftestArgs, only: Option<&str>) -> Result<ExitCode, String> {
    use crate::selftest::{SelftestOptions, matrix, selftest};
    let run_time = crate::duration::parse(&args.run_time).map_err(|e| format!("--run-time: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (stack, targets) = mock_targets(args.embedded, &args.targets).await?;
        let options = SelftestOptions {
            targets,
            out: args.out.clone(),
            run_time,
            users: args.users,
            seed: args.seed,
            baseline_runs: args.baseline_runs,
            aa_runs: args.aa_runs,
        };
        let outcome = selftest(&options, only).await.map_err(|e| e.to_string());
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        let outcome = outcome?;
        let table = matrix(&outcome);
        print!("{table}");
        let md = args.out.join("detection-matrix.md");
        let json = args.out.join("detection-matrix.json");
        crate::output::write_atomic(&md, |w| std::io::Write::write_all(w, table.as_bytes()))
            .map_err(|e| e.to_string())?;
        crate::output::write_atomic(&json, |w| {
            serde_json::to_writer_pretty(w, &outcome).map_err(std::io::Error::other)
        })
        .map_err(|e| e.to_string())?;
        println!("matrix: {}", md.display());
        Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

fn calibrate_command(args: &CalibrateArgs) -> Result<ExitCode, String> {
    use crate::calibrate::{CalibrateOptions, calibrate, markdown};
    let run_time = crate::duration::parse(&args.run_time).map_err(|e| format!("--run-time: {e}"))?;
    if args.aa == 0 {
        return Err("--aa must be at least 1".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (stack, targets) = mock_targets(args.embedded, &args.targets).await?;
        let options = CalibrateOptions {
            targets,
            out: args.out.clone(),
            aa: args.aa,
            power: args.power,
            run_time,
            users: args.users,
            seed: args.seed,
        };
        let result = calibrate(&options).await.map_err(|e| e.to_string());
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        let result = result?;
        let text = markdown(&result);
        print!("{text}");
        let dir = args.report.clone().unwrap_or_else(|| args.out.clone());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        crate::output::write_atomic(&dir.join("verdicts.md"), |w| std::io::Write::write_all(w, text.as_bytes()))
            .map_err(|e| e.to_string())?;
        crate::output::write_atomic(&dir.join("verdicts.json"), |w| {
            serde_json::to_writer_pretty(w, &result).map_err(std::io::Error::other)
        })
        .map_err(|e| e.to_string())?;
        println!("calibration: {}", dir.join("verdicts.md").display());
        Ok(ExitCode::SUCCESS)
    })
}

fn issue_command(verdict: &std::path::Path, repo: &str, dry_run: bool) -> Result<ExitCode, String> {
    use crate::verdict::github;
    let text = std::fs::read_to_string(verdict).map_err(|e| format!("cannot read {}: {e}", verdict.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", verdict.display()))?;
    let Some(issue) = github::payload(&value).map_err(|e| format!("{}: {e}", verdict.display()))? else {
        println!("no regression in {}: nothing to file", verdict.display());
        return Ok(ExitCode::SUCCESS);
    };
    if !repo.contains('/') {
        return Err(format!("--repo {repo}: write OWNER/NAME"));
    }
    if dry_run {
        let payload = serde_json::json!({"title": issue.title, "body": issue.body, "labels": issue.labels});
        println!("POST /repos/{repo}/issues\n{}", serde_json::to_string_pretty(&payload).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let token =
        std::env::var("GITHUB_TOKEN").map_err(|_| "GITHUB_TOKEN is not set: export it, or use --dry-run".to_owned())?;
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    match runtime.block_on(github::file(&api, repo, &token, &issue)).map_err(|e| e.to_string())? {
        github::Filed::Opened(n) => println!("opened issue #{n} in {repo}"),
        github::Filed::Commented(n) => println!("commented on open issue #{n} in {repo} (same fingerprint)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict_command(
    baseline: Option<(&PathBuf, &crate::formats::baseline::Baseline)>,
    run: &std::path::Path,
    thresholds: Option<PathBuf>,
    out: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let thresholds = thresholds_of(thresholds)?;
    let report =
        crate::verdict::judge(baseline.map(|(p, b)| (p.as_path(), b)), run, thresholds).map_err(|e| e.to_string())?;
    let out = out.unwrap_or_else(|| {
        if run.is_dir() { run.to_owned() } else { run.parent().map(PathBuf::from).unwrap_or_default() }
    });
    crate::verdict::write_reports(&report, &out)
        .map_err(|e| format!("cannot write reports to {}: {e}", out.display()))?;
    let mut text = Vec::new();
    let _ = crate::verdict::report::write_markdown(&mut text, &report);
    print!("{}", String::from_utf8_lossy(&text));
    println!("reports: {}", out.display());
    Ok(ExitCode::from(crate::verdict::exit_code(report.overall)))
}

/// The thresholds file's values, or the defaults.
fn thresholds_of(path: Option<PathBuf>) -> Result<crate::verdict::Thresholds, String> {
    match path {
        Some(path) => crate::verdict::load_thresholds(&path).map_err(|e| e.to_string()),
        None => Ok(crate::verdict::Thresholds::default()),
    }
}

fn ad_hoc(args: &RunArgs, url: &str, run_time: Duration) -> Result<Scenario, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("--url {url}: {e}"))?;
    let base = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("localhost"))
        + &parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut path = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        path = format!("{path}?{q}");
    }
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("-X {}: not an HTTP method", args.method))?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("-H {h}: write `Name: value`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let think = match args.wait.as_deref() {
        None => Think::None,
        Some(w) => match w.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (seconds(a)?, seconds(b)?);
                if min > max {
                    return Err(format!("--wait {w}: the minimum must not exceed the maximum (write MIN..MAX)"));
                }
                Think::Between { min, max }
            }
            None => Think::Constant { seconds: seconds(w)? },
        },
    };
    let task = Task {
        name: parsed.path().to_owned(),
        weight: 1,
        kind: TaskKind::Http { method, path, body: args.data.clone(), headers },
        expect_status: None,
    };
    let plan = match args.rate {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            Plan::Open { stages: vec![OpenStage { rate, duration: run_time }], max_in_flight: 10_000 }
        }
        Some(_) => return Err("--rate must be positive".into()),
        None => {
            let users = args.users.unwrap_or(10);
            Plan::Closed {
                stages: vec![ClosedStage {
                    users,
                    spawn_rate: args.spawn_rate.unwrap_or(users as f64),
                    duration: run_time,
                }],
            }
        }
    };
    Ok(Scenario {
        name: "adhoc".into(),
        description: format!("{} {url}", args.method),
        targets: BTreeMap::from([("url".to_owned(), base)]),
        users: vec![UserClass { name: "adhoc".into(), weight: 1, target: "url".into(), think, tasks: vec![task] }],
        plan,
    })
}

fn seconds(text: &str) -> Result<f64, String> {
    crate::duration::parse(text).map(|d| d.as_secs_f64()).map_err(|e| format!("--wait: {e}"))
}

fn run_command(args: RunArgs) -> Result<ExitCode, String> {
    let run_time =
        args.run_time.as_deref().map(crate::duration::parse).transpose().map_err(|e| format!("--run-time: {e}"))?;
    let timeout = crate::duration::parse(&args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("--timeout 0s would fail every request: give a positive timeout (e.g. 30s)".into());
    }
    if let Some(rate) = args.spawn_rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(format!("--spawn-rate {rate}: must be a positive number of users per second"));
    }
    let drain = crate::duration::parse(&args.drain).map_err(|e| format!("--drain: {e}"))?;
    let mut scenario = match (&args.scenario, &args.url) {
        (_, Some(url)) => ad_hoc(&args, url, run_time.ok_or("ad-hoc runs need --run-time (e.g. --run-time 10s)")?)?,
        (Some(spec), None) => scenario::load(spec).map_err(|e| e.to_string())?,
        (None, None) => return Err("give a scenario (see `loadsuite scenarios`) or --url URL".into()),
    };
    if args.url.is_none() {
        // Time first (it scales spawn rates with durations), then the explicit overrides as given.
        if let Some(factor) = args.duration_scale {
            if !(factor.is_finite() && factor > 0.0) {
                return Err("--duration-scale must be a positive number".into());
            }
            scenario.plan.scale(factor);
        }
        if let Some(total) = run_time {
            scenario.plan.fit(total);
        }
        scenario.plan.override_users(args.users, args.spawn_rate);
    }
    let problems = scenario.plan.problems();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    for target in &args.targets {
        let (name, url) = target.split_once('=').ok_or_else(|| format!("--target {target}: write NAME=URL"))?;
        // The stack's own names may be given to every scenario (the Makefile and compose do);
        // any other name must be one of the scenario's targets.
        let stack_name = matches!(name, "gateway" | "rag" | "mcp");
        if !scenario.targets.contains_key(name) && !stack_name {
            let known: Vec<&str> = scenario.targets.keys().map(String::as_str).collect();
            return Err(format!(
                "--target {target}: scenario `{}` has no target `{name}` (its targets: {}); a typo here would load the default URL",
                scenario.name,
                known.join(", ")
            ));
        }
        reqwest::Url::parse(url).map_err(|e| format!("--target {target}: `{url}` is not a URL ({e})"))?;
        scenario.targets.insert(name.to_owned(), url.to_owned());
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from("results").join(format!("{}-{stamp}", scenario.name))
    });
    let mut options = RunOptions::new(out);
    options.seed = args.seed;
    options.overwrite = args.overwrite;
    options.embedded = args.embedded;
    if let Some(path) = &args.mocks_config {
        options.mocks_config = Some(mocks::config::MocksConfig::load(path).map_err(|e| e.to_string())?);
    }
    options.preflight = !args.no_preflight && args.url.is_none();
    options.quiet = args.quiet;
    options.timeout = timeout;
    options.drain = drain;
    if let Some(segment) = &args.segment {
        options.segment = segment.parse().map_err(|e: crate::segment::SegmentError| e.to_string())?;
    }
    if let Some(start_at) = &args.start_at {
        options.start_at = Some(crate::segment::parse_start_at(start_at).map_err(|e| e.to_string())?);
    }
    options.watch = crate::resources::WatchOptions {
        pids: args.watch_pids.clone(),
        containers: args.watch_containers.clone(),
        auto_containers: !args.no_watch_containers && !args.embedded,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    let stop = options.stop.clone();
    let outcome = runtime.block_on(async move {
        tokio::spawn(async move {
            mocks::server::shutdown_signal().await;
            eprintln!("loadsuite: stopping; draining in-flight requests and writing results");
            stop.cancel();
        });
        run(scenario, options).await
    });
    let outcome = outcome.map_err(|e| e.to_string())?;
    if !args.quiet {
        print!("{}", outcome.summary);
    }
    println!("results: {}", outcome.out.display());
    let code = outcome.exit_code(args.exit_code_on_error);
    match code {
        4 => eprintln!("loadsuite: interrupted: the results are partial (exit 4)"),
        3 => eprintln!("loadsuite: no request was sent: nothing was measured (exit 3)"),
        _ => {}
    }
    Ok(ExitCode::from(code))
}
