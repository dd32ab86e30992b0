//! The command line's arguments, as clap reads them: only declarations; what each command does
//! lives in the library and [`super::commands`] only calls it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Do not read the targets' own counters (the mocks' `/__admin/counters`) at the start and
    /// end of the run (ad-hoc `--url` runs never do).
    #[arg(long)]
    pub no_target_counters: bool,
    /// Also read a Prometheus `/metrics` from targets that have no `/__admin/counters`.
    #[arg(long, conflicts_with = "no_target_counters")]
    pub target_metrics: bool,
    /// Run only the I-th of N shares of the plan (0-based, e.g. 1/3); merge the N runs with
    /// `loadsuite merge`.
    #[arg(long, value_name = "I/N", env = "LOADSUITE_SEGMENT")]
    pub segment: Option<String>,
    /// When the stages start, in Unix seconds or an RFC 3339 time (2026-12-06T02:00:00Z; the same
    /// value for every segment, so their time series line up); now by default.
    #[arg(long, value_name = "TIME", env = "LOADSUITE_START_AT")]
    pub start_at: Option<String>,
    /// Exit code when the run completed but some requests failed (as Locust's option; 0 lets a
    /// segment's pod or container succeed so the merge runs).
    #[arg(long, default_value_t = 1)]
    pub exit_code_on_error: u8,
    /// Override a scenario variable: NAME=VALUE (repeatable; LOADSUITE_VAR_NAME does the same
    /// from the environment, --var wins).
    #[arg(long = "var", value_name = "NAME=VALUE", conflicts_with = "url")]
    pub vars: Vec<String>,
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
    /// Results directory (default: `results/<scenario>-<unix time>`). One that already holds a
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
    /// No progress output (the final table and the results line are still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Print nothing but errors (no progress, no table, no results line): for scripts that read
    /// the results files.
    #[arg(long)]
    pub silent: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Longest wait for in-flight requests when the run ends; those still waiting then are
    /// recorded as `unfinished` failures.
    #[arg(long, default_value = "10s")]
    pub drain: String,
    /// Find the most users the targets sustain: probe runs of --step-time at doubling users from
    /// --users (default 1), then a binary search, until the error or p95 target or a latency knee
    /// is crossed; writes capacity.{json,md,html} and one run per probe under probes/.
    #[arg(long)]
    pub find_capacity: bool,
    /// With --find-capacity: the most users probed.
    #[arg(long, default_value_t = 1000, requires = "find_capacity")]
    pub max_users: u32,
    /// With --find-capacity: the length of each probe.
    #[arg(long, default_value = "10s", requires = "find_capacity")]
    pub step_time: String,
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
