//! loadsuite's integration tests, one binary of many modules (linking the workspace once instead
//! of once per file): the engine, result files, verdicts, the CLI, segments, the self-test and the
//! nightly workflow, against the in-process mocks on port 0.

mod agent;
mod cli;
mod common;
mod direct;
mod engine;
mod github;
mod golden;
mod honest;
mod http2;
mod limits;
mod plans;
mod resources;
mod results;
mod segments;
mod selftest;
mod verdict;
mod workflow;
