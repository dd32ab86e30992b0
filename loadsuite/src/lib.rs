//! loadsuite: load tests for AI stacks. Locust's model (user classes, weighted tasks, think time,
//! spawn rate, stages) and its CSV files, plus arrival-rate mode, HDR statistics, streaming
//! metrics and honest failure kinds.
//!
//! The flow: `scenario` (file -> validated scenario) -> `plan` (one load representation) ->
//! `engine` (users or arrivals, driving `tasks`) -> `stats` (recorder) -> `output` (files).

mod calibrate;
mod capacity;
pub mod cli;
mod counters;
mod duration;
mod embedded;
mod engine;
pub mod formats;
pub mod merge;
mod monitor;
mod output;
mod plan;
mod preflight;
mod resources;
pub mod run;
pub mod scenario;
pub mod segment;
mod selftest;
mod stats;
pub mod tasks;
pub mod verdict;
