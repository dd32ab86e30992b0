//! One run from start to finish: resolve targets (or start the embedded mocks), preflight, run
//! the engine with a once-per-second ticker (time series, progress, CPU watch), then write every
//! result file, also when the run was interrupted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::embedded::{EmbeddedError, EmbeddedMocks};
use crate::engine::{self, EngineConfig};
use crate::engine::{RunWarning, WarningKind};
use crate::formats::run::{RunFile, RunParts};
use crate::monitor::CpuMonitor;
use crate::output::{self, summary};
use crate::preflight::{self, PreflightError};
use crate::resources::{Sampler, WatchOptions};
use crate::scenario::Scenario;
use crate::segment::Segment;
use crate::stats::Recorder;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Results directory.
    pub out: PathBuf,
    /// CSV file prefix.
    pub prefix: String,
    /// Seed.
    pub seed: u64,
    /// Start the mock stack in-process and point `gateway`, `rag`, `mcp` at it.
    pub embedded: bool,
    /// The embedded stack's configuration file (e.g. a fault profile); the mocks' defaults when absent.
    pub mocks_config: Option<PathBuf>,
    /// Check targets and models first.
    pub preflight: bool,
    /// No progress output.
    pub quiet: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Longest drain of in-flight requests at the end.
    pub drain: Duration,
    /// Cancel to stop the run early (Ctrl-C); results are still written.
    pub stop: CancellationToken,
    /// Replace the results of an earlier run in `out` (refused otherwise).
    pub overwrite: bool,
    /// Containers and processes whose CPU and memory are sampled during the run.
    pub watch: WatchOptions,
    /// The share of the plan to run (`--segment I/N`; the whole plan by default).
    pub segment: Segment,
    /// When the stages start (`--start-at`): the same instant for every segment; now when absent.
    pub start_at: Option<std::time::SystemTime>,
    /// Read the targets' own counters (the mocks' `/__admin/counters`) at the start and end.
    pub target_counters: bool,
    /// Also read a Prometheus `/metrics` from targets without `/__admin/counters`.
    pub target_metrics: bool,
}

impl RunOptions {
    /// Defaults writing to `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            prefix: "loadsuite".into(),
            seed: 42,
            embedded: false,
            mocks_config: None,
            preflight: true,
            quiet: true,
            timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
            stop: CancellationToken::new(),
            overwrite: false,
            watch: WatchOptions { auto_containers: true, ..WatchOptions::default() },
            segment: Segment::WHOLE,
            start_at: None,
            target_counters: true,
            target_metrics: false,
        }
    }
}

/// Why a run did not produce results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Preflight refused.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The embedded stack did not start.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// The results directory holds an earlier run's results.
    #[error("{0}")]
    OutNotEmpty(String),
    /// A result file could not be written.
    #[error("cannot write results to {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What a finished run reports.
#[derive(Debug)]
pub struct RunOutcome {
    /// Where the files are.
    pub out: PathBuf,
    /// `run.json`'s path.
    pub run_json: PathBuf,
    /// Requests sent.
    pub requests: u64,
    /// Requests failed.
    pub failures: u64,
    /// The terminal summary.
    pub summary: String,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// Whether the generator's CPU was saturated.
    pub saturated: bool,
    /// Where the run fell short of its plan (also printed on stderr and kept in run.json).
    pub warnings: Vec<RunWarning>,
    /// Open plans: how the arrival schedule was kept.
    pub schedule: crate::stats::Schedule,
}

/// Dropped or late arrival-rate iterations above this fraction of the scheduled ones fail a run.
pub const MAX_MISSED_ITERATIONS: f64 = 0.01;

impl RunOutcome {
    /// The exit status of `loadsuite run`: 4 interrupted (partial results), 3 nothing was measured,
    /// `on_error` (1 by default) when requests failed or the arrival schedule was not kept, else 0.
    pub fn exit_code(&self, on_error: u8) -> u8 {
        if self.interrupted {
            4
        } else if self.requests == 0 {
            3
        } else if self.failures > 0 || self.schedule.missed_fraction() > MAX_MISSED_ITERATIONS {
            on_error
        } else {
            0
        }
    }
}

/// The mocks a self-test or calibration works on: `NAME=URL` targets for all three services, or the
/// embedded stack (also when none is given). The stack, when started, must be shut down.
pub async fn mock_targets(
    embedded: bool,
    given: &[String],
) -> Result<(Option<EmbeddedMocks>, BTreeMap<String, String>), String> {
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for t in given {
        let (n, u) = t.split_once('=').ok_or_else(|| format!("--target {t}: write NAME=URL"))?;
        targets.insert(n.to_owned(), u.trim_end_matches('/').to_owned());
    }
    let stack = if embedded || targets.is_empty() {
        let (stack, embedded) = EmbeddedMocks::start(None).await.map_err(|e| e.to_string())?;
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

/// Runs `scenario` and writes its results.
pub async fn run(mut scenario: Scenario, options: RunOptions) -> Result<RunOutcome, RunError> {
    let stack = if options.embedded {
        let (stack, targets) = EmbeddedMocks::start(options.mocks_config.as_deref()).await?;
        scenario.targets.extend(targets);
        Some(stack)
    } else {
        None
    };
    let result = run_against(scenario, &options).await;
    if let Some(stack) = stack {
        stack.shutdown().await;
    }
    result
}

async fn run_against(mut scenario: Scenario, options: &RunOptions) -> Result<RunOutcome, RunError> {
    // One set of clients for the run: the preflight, the counter reads and every user.
    let client = crate::tasks::Http::for_scenario(&scenario);
    if options.preflight {
        preflight::check(&scenario, &client).await?;
    }
    scenario.plan = options.segment.plan(&scenario.plan);
    let unreachable: Vec<RunWarning> = scenario
        .plan
        .unreachable_stages()
        .into_iter()
        .map(|(index, message)| RunWarning { kind: WarningKind::StageUnreachable, stage: Some(index), message })
        .collect();
    for w in &unreachable {
        eprintln!("loadsuite: warning: {}", w.message);
    }
    let write_error = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| RunError::Write { path, source }
    };
    output::prepare_out(&options.out, &options.prefix, options.overwrite).map_err(RunError::OutNotEmpty)?;
    std::fs::create_dir_all(&options.out).map_err(write_error(&options.out))?;
    let recorder = Arc::new(Recorder::default());
    let scenario = Arc::new(scenario);
    let sampler = Sampler::discover(&options.watch, &scenario.targets).await;
    if let Some(start_at) = options.start_at {
        wait_for_start(start_at, options).await;
    }
    let started_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    if !options.quiet {
        let segment = if options.segment.is_whole() { String::new() } else { format!(", segment {}", options.segment) };
        eprintln!(
            "loadsuite: running `{}` for {:.0}s ({} stages{segment})",
            scenario.name,
            scenario.plan.total().as_secs_f64(),
            scenario.plan.stage_count()
        );
    }
    let no_targets = BTreeMap::new();
    let counted = if options.target_counters { &scenario.targets } else { &no_targets };
    let counters_at_start = crate::counters::read_all(&client, counted, options.target_metrics).await;
    let ticker_stop = CancellationToken::new();
    let ticker = tokio::spawn(ticker(recorder.clone(), ticker_stop.clone(), options.quiet, scenario.plan.total()));
    let lag = tokio::spawn(crate::monitor::probe_lag(recorder.clone(), ticker_stop.clone()));
    let resource_notes = sampler.notes.clone();
    let sampler = (!sampler.is_empty()).then(|| tokio::spawn(sampler.run(Duration::from_secs(1), ticker_stop.clone())));
    let report = engine::run(
        EngineConfig {
            scenario: scenario.clone(),
            seed: options.seed,
            timeout: options.timeout,
            stop: options.stop.clone(),
            drain: options.drain,
            segment: options.segment,
            client: client.clone(),
        },
        recorder.clone(),
    )
    .await;
    ticker_stop.cancel();
    let target_counters = crate::counters::change(
        &counters_at_start,
        crate::counters::read_all(&client, counted, options.target_metrics).await,
    );
    let cpu = ticker.await.unwrap_or_default();
    let lag = lag.await.unwrap_or_default();
    let steady_from_s = report.stages.last().map_or(0.0, |s| s.started_s);
    recorder.tick();
    let snapshot = recorder.snapshot();
    let writes = writes_in_stage(&scenario, &snapshot, report.stages.len().saturating_sub(1));
    let resources = match sampler {
        Some(task) => task.await.map(|s| s.finish(steady_from_s, &writes)).unwrap_or_default(),
        None => Vec::new(),
    };
    let seconds = report.duration_s;
    let interrupted = report.interrupted;
    let out = &options.out;
    let saturated = cpu.saturated;
    let mut engine = report;
    engine.warnings.splice(0..0, unreachable);
    let streamed: Vec<usize> =
        snapshot.per_stage.iter().filter(|(_, stats)| !stats.ttft.is_empty()).map(|((stage, _), _)| *stage).collect();
    let mut streamed = streamed;
    streamed.dedup();
    engine.warnings.extend(crate::monitor::stream_distortion(&cpu, &streamed));
    engine.warnings.extend(crate::counters::stream_lag(&target_counters, &streamed));
    for w in &engine.warnings {
        eprintln!("loadsuite: warning: {}", w.message);
    }
    let warnings = engine.warnings.clone();
    let run_file = RunFile::new(RunParts {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        targets: scenario.targets.clone(),
        http2: scenario.http2.clone(),
        plan: scenario.plan.clone(),
        snapshot: &snapshot,
        engine,
        started_at,
        seed: options.seed,
        cpu,
        lag,
        segment: (!options.segment.is_whole()).then_some(options.segment),
        segments: Vec::new(),
        resources,
        resource_notes,
        thresholds: scenario.thresholds.clone(),
        target_counters,
    });
    let run_json_path = output::write_run(out, &options.prefix, &snapshot, &run_file)
        .map_err(|(path, source)| RunError::Write { path: path.display().to_string(), source })?;
    // Every run leaves its report beside its CSVs, judged on the default targets; `compare` and
    // `report` write it again with a baseline or a thresholds file.
    if let Err(error) = crate::verdict::judge_and_write(None, &run_json_path, None, Some(out.clone())) {
        eprintln!("loadsuite: warning: the run's report could not be written: {error}");
    }
    let mut table = Vec::new();
    let _ = summary::write(&mut table, &snapshot, seconds);
    let mut summary = String::from_utf8_lossy(&table).into_owned();
    for series in &run_file.resources {
        summary.push_str(&format!("\n{}", crate::resources::describe(series)));
    }
    if !run_file.resources.is_empty() {
        summary.push('\n');
    }
    if saturated {
        summary.push_str("\nWARNING: the generator's CPU was saturated; latencies include its own queueing. Use fewer users per process or more processes.\n");
    }
    if let Some(late) =
        run_file.generator_lag.iter().filter(|l| l.p99_ms >= BUSY_LAG_MS).max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
    {
        summary.push_str(&format!(
            "\nNOTE: the generator's timers fired up to {:.1} ms late (p99, stage {}): the machine was busy, and latencies include that wait. `compare` weighs it against the baseline's.\n",
            late.p99_ms,
            late.stage + 1
        ));
    }
    write_log(options, &scenario, &run_file, &warnings, &summary, interrupted);
    let aggregate = snapshot.aggregate();
    Ok(RunOutcome {
        out: out.clone(),
        run_json: run_json_path,
        requests: aggregate.count,
        failures: aggregate.failures,
        summary,
        interrupted,
        saturated,
        warnings,
        schedule: snapshot.schedule,
    })
}

/// Write requests (tasks that store data: see `TaskKind::writes`) the run sent to each target in
/// `stage`: the leak check's explanation for memory a target gains then.
fn writes_in_stage(scenario: &Scenario, snapshot: &crate::stats::Snapshot, stage: usize) -> BTreeMap<String, u64> {
    let mut rows: std::collections::BTreeSet<(&str, &str, &str)> = Default::default();
    for class in &scenario.users {
        for task in class.tasks.iter().filter(|t| t.kind.writes()) {
            rows.insert((class.target.as_str(), task.kind.method(), task.name.as_str()));
        }
    }
    let mut writes = BTreeMap::new();
    for (target, method, name) in rows {
        let key = (stage, (method.to_owned(), name.to_owned()));
        let count = snapshot.per_stage.get(&key).map_or(0, |s| s.count);
        *writes.entry(target.to_owned()).or_insert(0) += count;
    }
    writes
}

/// Writes `<prefix>.log` beside the results: what ran (scenario, targets, seed, plan), its
/// warnings, the summary table and how it ended, so a results directory explains itself without
/// the terminal it ran in.
fn write_log(
    options: &RunOptions,
    scenario: &Scenario,
    run_file: &RunFile,
    warnings: &[RunWarning],
    summary: &str,
    interrupted: bool,
) {
    let path = options.out.join(format!("{}.log", options.prefix));
    let written = output::write_atomic(&path, |out| {
        writeln!(out, "loadsuite {} run of `{}`: {}", env!("CARGO_PKG_VERSION"), scenario.name, scenario.description)?;
        writeln!(
            out,
            "run {}, started at {:.3} (Unix seconds), seed {}",
            run_file.run_id, run_file.started_at, options.seed
        )?;
        for (name, url) in &scenario.targets {
            writeln!(out, "target {name} = {url}")?;
        }
        for (i, stage) in run_file.engine.stages.iter().enumerate() {
            writeln!(
                out,
                "stage {}: target {} users, peak {}, {:.1} s from {:.1} s",
                i + 1,
                stage.target,
                stage.peak,
                stage.duration_s,
                stage.started_s
            )?;
        }
        for w in warnings {
            writeln!(out, "warning: {}", w.message)?;
        }
        writeln!(out)?;
        write!(out, "{summary}")?;
        let end = if interrupted { "interrupted: the results are partial" } else { "completed its plan" };
        writeln!(out, "\nthe run {end}; results in {}", options.out.display())
    });
    if let Err(error) = written {
        eprintln!("loadsuite: warning: {} could not be written: {error}", path.display());
    }
}

/// Timer lateness (p99, ms) from which the run's summary says the machine was busy.
const BUSY_LAG_MS: f64 = 10.0;

/// Sleeps until `start_at` (unless stopped first), so every segment starts its stages at one
/// shared instant and their time series line up.
async fn wait_for_start(start_at: std::time::SystemTime, options: &RunOptions) {
    match start_at.duration_since(std::time::SystemTime::now()) {
        Ok(wait) => {
            if !options.quiet {
                eprintln!("loadsuite: waiting {:.1}s for --start-at", wait.as_secs_f64());
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = options.stop.cancelled() => {}
            }
        }
        Err(late) if late.duration() > Duration::from_secs(1) => {
            tracing::warn!(late_s = late.duration().as_secs_f64(), "--start-at is already past; starting now");
        }
        Err(_) => {}
    }
}

/// Once per second: closes the time-series second, samples CPU, shows progress.
async fn ticker(
    recorder: Arc<Recorder>,
    stop: CancellationToken,
    quiet: bool,
    total: Duration,
) -> crate::monitor::CpuReport {
    let mut cpu = CpuMonitor::default();
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.tick().await;
    let started = std::time::Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = (!quiet && terminal).then(|| {
        let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}").expect("valid template"),
        );
        bar
    });
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = stop.cancelled() => break,
        }
        recorder.tick();
        let fraction = cpu.sample(recorder.stage());
        let snapshot_line = recorder.progress_line();
        let saturated = fraction.is_some_and(|f| f >= crate::monitor::SATURATED);
        let warning = if saturated { "  [generator CPU saturated: latencies include its own queueing]" } else { "" };
        match &bar {
            Some(bar) => {
                bar.set_position(started.elapsed().as_secs());
                bar.set_message(format!("{snapshot_line}{warning}"));
            }
            None if !quiet && started.elapsed().as_secs() % 5 == 0 => {
                eprintln!("[{:>4}s] {snapshot_line}{warning}", started.elapsed().as_secs())
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    cpu.report
}
