//! What each command does: turn its arguments into one library call, print what the library
//! returned, and give the exit code. No logic of the product lives here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CliError;
use super::args::{CalibrateArgs, Cli, Command, RunArgs, SelftestArgs};
use crate::run::{RunOptions, mock_targets, run};
use crate::scenario::{self, AdHoc, Overrides, Scenario};
use crate::verdict::baseline::BuildOptions;
use crate::{calibrate, duration, selftest, verdict};

/// Runs a parsed command line; an `Err` is a usage or input error (exit 2).
pub fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Scenarios => {
            for (name, text) in scenario::SHIPPED {
                let description = scenario::parse(text, name, name).map(|s| s.description).unwrap_or_default();
                println!("{name:<22} {description}");
            }
        }
        Command::Check { scenario } => {
            let s = scenario::load(&scenario)?;
            let (classes, stages, seconds) = (s.users.len(), s.plan.stage_count(), s.plan.total().as_secs_f64());
            println!("{scenario}: ok ({classes} user classes, {stages} stages, {seconds:.0}s)");
        }
        Command::Run(args) => return run_command(*args),
        Command::Baseline { from, out, allow_failing, thresholds } => {
            let inputs: Vec<&Path> = from.iter().map(PathBuf::as_path).collect();
            let thresholds = thresholds.as_deref().map(verdict::load_thresholds).transpose()?.unwrap_or_default();
            let options = BuildOptions { allow_failing, thresholds };
            let (baseline, warnings) = verdict::baseline::record(&inputs, &out, &options)?;
            for warning in warnings {
                eprintln!("loadsuite: warning: {warning}");
            }
            let endpoints: usize = baseline.scenarios.values().flat_map(|s| s.stages.values()).map(|e| e.len()).sum();
            let scenarios = baseline.scenarios.len();
            println!(
                "baseline: {} ({scenarios} scenarios, {endpoints} stage endpoints from {} inputs)",
                out.display(),
                inputs.len()
            );
        }
        Command::Compare { baseline, run, thresholds, out } => {
            return verdict_command(Some(&baseline), &run, thresholds.as_deref(), out);
        }
        Command::Report { run, thresholds, out } => return verdict_command(None, &run, thresholds.as_deref(), out),
        Command::Merge { runs, out } => {
            let m = crate::merge::merge(&runs, &out, "loadsuite")?;
            let (segments, requests, failures) = (m.segments, m.requests, m.failures);
            println!(
                "merged {segments} segments: {requests} requests, {failures} failures -> {}",
                m.run_json.display()
            );
        }
        Command::Issue { verdict, repo, dry_run } => {
            let said = runtime()?.block_on(verdict::github::issue(&verdict, &repo, dry_run))?;
            println!("{said}");
        }
        Command::Selftest(args) => return selftest_command(&args, None),
        Command::Calibrate(args) => return calibrate_command(&args),
        Command::Repro { name: Some(name), list: false, targets } => {
            if !selftest::CATALOG.iter().any(|m| m.name == name) {
                return Err(format!("no failure mode `{name}`; see `loadsuite repro --list`").into());
            }
            return selftest_command(&targets, Some(&name));
        }
        Command::Repro { .. } => {
            for mode in selftest::CATALOG {
                println!("{:<24} {}", mode.name, mode.symptom);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(common::runtime::build(None)?)
}

/// Runs `work` on the mocks the flags name (the embedded stack when none is given), and shuts
/// that stack down afterwards whatever `work` returned.
fn on_mocks<T>(
    embedded: bool,
    given: &[String],
    work: impl AsyncFnOnce(BTreeMap<String, String>) -> Result<T, CliError>,
) -> Result<T, CliError> {
    runtime()?.block_on(async {
        let (stack, targets) = mock_targets(embedded, given).await?;
        let outcome = work(targets).await;
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        outcome
    })
}

fn selftest_command(args: &SelftestArgs, only: Option<&str>) -> Result<ExitCode, CliError> {
    let run_time = duration::parse(&args.run_time).map_err(|e| format!("--run-time: {e}"))?;
    let outcome = on_mocks(args.embedded, &args.targets, async |targets| {
        let options = selftest::SelftestOptions {
            targets,
            out: args.out.clone(),
            run_time,
            users: args.users,
            seed: args.seed,
            baseline_runs: args.baseline_runs,
            aa_runs: args.aa_runs,
        };
        Ok(selftest::selftest(&options, only).await?)
    })?;
    let (table, md) = selftest::write_matrix(&outcome, &args.out)?;
    print!("{table}");
    println!("matrix: {}", md.display());
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn calibrate_command(args: &CalibrateArgs) -> Result<ExitCode, CliError> {
    let run_time = duration::parse(&args.run_time).map_err(|e| format!("--run-time: {e}"))?;
    if args.aa == 0 {
        return Err("--aa must be at least 1".into());
    }
    let result = on_mocks(args.embedded, &args.targets, async |targets| {
        let options = calibrate::CalibrateOptions {
            targets,
            out: args.out.clone(),
            aa: args.aa,
            power: args.power,
            run_time,
            users: args.users,
            seed: args.seed,
        };
        Ok(calibrate::calibrate(&options).await?)
    })?;
    let (text, md) = calibrate::write(&result, args.report.as_deref().unwrap_or(&args.out))?;
    print!("{text}");
    println!("calibration: {}", md.display());
    Ok(ExitCode::SUCCESS)
}

fn verdict_command(
    baseline: Option<&Path>,
    run: &Path,
    thresholds: Option<&Path>,
    out: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let written = verdict::judge_and_write(baseline, run, thresholds, out)?;
    print!("{}", written.markdown);
    println!("reports: {}", written.out.display());
    Ok(ExitCode::from(verdict::exit_code(written.report.overall)))
}

/// The scenario a `run` command names, with the command line's changes applied.
fn scenario_of(args: &RunArgs) -> Result<Scenario, CliError> {
    let run_time = args.run_time.as_deref().map(duration::parse).transpose().map_err(|e| format!("--run-time: {e}"))?;
    let overrides = Overrides {
        users: args.users,
        spawn_rate: args.spawn_rate,
        run_time,
        duration_scale: args.duration_scale,
        targets: args.targets.clone(),
    };
    let mut scenario = match (&args.scenario, &args.url) {
        (_, Some(url)) => Scenario::ad_hoc(&AdHoc {
            url: url.clone(),
            method: args.method.clone(),
            headers: args.headers.clone(),
            body: args.data.clone(),
            users: args.users,
            spawn_rate: args.spawn_rate,
            rate: args.rate,
            wait: args.wait.clone(),
            run_time: run_time.ok_or("ad-hoc runs need --run-time (e.g. --run-time 10s)")?,
        })?,
        (Some(spec), None) => {
            let vars = args
                .vars
                .iter()
                .map(|v| match v.split_once('=') {
                    Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.to_owned())),
                    _ => Err(format!("--var {v}: give NAME=VALUE (e.g. --var chat_model=gpt-4o)")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            scenario::load_with(spec, &vars)?
        }
        (None, None) => return Err("give a scenario (see `loadsuite scenarios`) or --url URL".into()),
    };
    scenario.apply(&overrides, args.url.is_none())?;
    Ok(scenario)
}

/// `run --find-capacity`: the probes against one set of targets (one embedded stack for all).
fn capacity_command(args: &RunArgs, mut scenario: Scenario, options: RunOptions) -> Result<ExitCode, CliError> {
    let step_time = duration::parse(&args.step_time).map_err(|e| format!("--step-time: {e}"))?;
    if step_time < std::time::Duration::from_secs(1) {
        return Err("--step-time: give each probe at least 1s".into());
    }
    if args.max_users == 0 {
        return Err("--max-users: give at least 1".into());
    }
    let capacity = crate::capacity::CapacityOptions {
        start_users: args.users.unwrap_or(1).clamp(1, args.max_users),
        max_users: args.max_users,
        step_time,
        tolerance: 0.1,
        thresholds: scenario.thresholds.clone().unwrap_or_default(),
    };
    let stop = options.stop.clone();
    let out = options.out.clone();
    let found = runtime()?.block_on(async move {
        tokio::spawn(async move {
            common::shutdown_signal().await;
            eprintln!("loadsuite: stopping the capacity search after this probe");
            stop.cancel();
        });
        let stack = if options.embedded {
            let (stack, targets) = crate::embedded::EmbeddedMocks::start(options.mocks_config.as_deref()).await?;
            scenario.targets.extend(targets);
            Some(stack)
        } else {
            None
        };
        let found = crate::capacity::find(&scenario, &options, &capacity).await;
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        found
    })?;
    crate::capacity::write(&found, &out).map_err(|e| format!("cannot write to {}: {e}", out.display()))?;
    if !args.silent {
        print!("{}", crate::capacity::markdown(&found));
        println!("results: {} (capacity.md, capacity.html, probes/)", out.display());
    }
    Ok(ExitCode::from(if found.sustained_users.is_some() { 0 } else { 1 }))
}

/// The run options the flags give.
fn options_of(args: &RunArgs, scenario: &Scenario) -> Result<RunOptions, CliError> {
    let timeout = duration::parse(&args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("--timeout 0s would fail every request: give a positive timeout (e.g. 30s)".into());
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from("results").join(format!("{}-{stamp}", scenario.name))
    });
    let mut options = RunOptions::new(out);
    options.seed = args.seed;
    options.overwrite = args.overwrite;
    options.embedded = args.embedded;
    if let Some(config) = &args.mocks_config {
        crate::embedded::EmbeddedMocks::check_config(config)?;
    }
    options.mocks_config = args.mocks_config.clone();
    options.preflight = !args.no_preflight && args.url.is_none();
    options.quiet = args.quiet || args.silent;
    options.target_counters = !args.no_target_counters && args.url.is_none();
    options.target_metrics = args.target_metrics;
    options.timeout = timeout;
    options.drain = duration::parse(&args.drain).map_err(|e| format!("--drain: {e}"))?;
    if let Some(segment) = &args.segment {
        options.segment = segment.parse()?;
    }
    options.start_at = args.start_at.as_deref().map(crate::segment::parse_start_at).transpose()?;
    options.watch = crate::resources::WatchOptions {
        pids: args.watch_pids.clone(),
        containers: args.watch_containers.clone(),
        auto_containers: !args.no_watch_containers && !args.embedded,
    };
    Ok(options)
}

fn run_command(args: RunArgs) -> Result<ExitCode, CliError> {
    let scenario = scenario_of(&args)?;
    let options = options_of(&args, &scenario)?;
    if args.find_capacity {
        return capacity_command(&args, scenario, options);
    }
    let stop = options.stop.clone();
    let outcome = runtime()?.block_on(async move {
        tokio::spawn(async move {
            common::shutdown_signal().await;
            eprintln!("loadsuite: stopping; draining in-flight requests and writing results");
            stop.cancel();
        });
        run(scenario, options).await
    })?;
    if !args.silent {
        print!("{}", outcome.summary);
        println!("results: {}", outcome.out.display());
    }
    let code = outcome.exit_code(args.exit_code_on_error);
    match code {
        4 => eprintln!("loadsuite: interrupted: the results are partial (exit 4)"),
        3 => eprintln!("loadsuite: no request was sent: nothing was measured (exit 3)"),
        _ => {}
    }
    Ok(ExitCode::from(code))
}
