//! The `loadsuite` command line. `main.rs` only calls [`main`]; `args` declares the arguments,
//! `commands` turns each into one library call and an exit code.
//!
//! Exit codes of `run`: 0 the run completed and every request passed its check; 1 it completed but
//! some requests failed (or an arrival-rate schedule was not kept); 2 usage, scenario or preflight
//! error; 3 nothing was measured (no request was sent); 4 interrupted (partial results written).
//! Of `compare` and `report`: 0 pass, 1 regression or a missed target, 3 inconclusive, 2 usage or
//! input error.

mod args;
mod commands;

use std::process::ExitCode;

use clap::Parser;

pub use args::{CalibrateArgs, Cli, Command, RunArgs, SelftestArgs};
pub use commands::execute;

/// Why a command could not do its work (exit 2): each library error as it is, or a usage error
/// naming the flag and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value is wrong; the message names it and says what to write.
    #[error("{0}")]
    Usage(String),
    /// The scenario does not parse or validate.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// An input file (run, baseline, thresholds, Locust CSV) is not usable.
    #[error(transparent)]
    Input(#[from] crate::formats::InputError),
    /// The run could not start or write its results.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// The segments do not merge.
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    /// The self-test could not run.
    #[error(transparent)]
    Selftest(#[from] crate::selftest::SelftestError),
    /// The calibration could not run.
    #[error(transparent)]
    Calibrate(#[from] crate::calibrate::CalibrateError),
    /// The issue could not be built or filed.
    #[error(transparent)]
    Issue(#[from] crate::verdict::github::IssueError),
    /// The embedded mocks (`--embedded`, `--mocks-config`) are not usable.
    #[error(transparent)]
    Embedded(#[from] crate::embedded::EmbeddedError),
    /// `--segment` or `--start-at` is not usable.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    /// A file could not be written, or the runtime could not start.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::Usage(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        CliError::Usage(message.to_owned())
    }
}

/// Parses the process arguments and runs; the whole of `main`.
pub fn main() -> ExitCode {
    // Before any thread: connections opened and memory touched later never wait on the kernel
    // (neither is needed for the run to work, so a refusal is ignored).
    common::startup::reserve_descriptor_table();
    let _ = common::startup::avoid_huge_page_stalls();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
