//! Mock services for load- and fault-testing an AI stack: an OpenAI-compatible gateway (and, with
//! their own modules, RAG and MCP services), all sharing one fault engine and admin API.
//!
//! Every binary entry point lives in [`cli`]; tests drive the same functions.

mod admin;
pub mod cli;
pub mod config;
mod demo;
pub mod faults;
pub mod gateway;
mod healthcheck;
mod json_body;
pub mod mcp;
pub mod rag;
mod server;
pub mod service;
pub mod stack;
pub mod telemetry;
