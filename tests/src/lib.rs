//! The containerised stack for end-to-end tests: builds (or reuses, through the engine's layer
//! cache) the FROM-scratch images from the static binaries `make static` produces, and starts the
//! gateway, RAG and MCP containers on a private network with Docker-chosen host ports. Containers
//! are removed when their handles drop, also when a test fails.

pub mod stack;

pub use stack::{ContainerStack, Images, StackError};
