//! The mocks' integration tests, one binary of many modules (linking the crate once instead of once
//! per file): each service over real HTTP, the shared fault engine, the admin API and its guard,
//! hostile input, the binary's command line, and the official Python clients.

mod admin_security;
mod bad_input;
mod cli;
mod common;
mod faults;
mod gateway_api;
mod gateway_stream;
mod gateway_tools;
mod mcp_protocol;
mod mcp_python;
mod openai_python;
mod rag_api;
