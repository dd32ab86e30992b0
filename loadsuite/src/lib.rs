//! loadsuite: load tests for AI stacks. Locust's model (user classes, weighted tasks, think time,
//! spawn rate, stages) and its CSV files, plus arrival-rate mode, HDR statistics, streaming
//! metrics and honest failure kinds.
//!
//! The flow: `scenario` (file -> validated scenario) -> `plan` (one load representation) ->
//! `engine` (users or arrivals, driving `tasks`) -> `stats` (recorder) -> `output` (files).

pub mod calibrate;
pub mod capacity;
pub mod cli;
pub mod counters;
pub mod duration;
pub mod embedded;
pub mod engine;
pub mod formats;
pub mod merge;
pub mod monitor;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod resources;
pub mod run;
pub mod scenario;
pub mod segment;
pub mod selftest;
pub mod stats;
pub mod tasks;
pub mod verdict;
