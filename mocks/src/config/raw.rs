//! The config file exactly as written: serde types with `deny_unknown_fields` and defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ModelSpec;
use crate::faults::FaultRuleSpec;

/// The top level of a config file. A missing service table means that service's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// Seed for every random choice.
    pub seed: Option<u64>,
    /// The `[gateway]` table.
    pub gateway: Option<RawGateway>,
    /// The `[rag]` table.
    pub rag: Option<RawRag>,
    /// The `[mcp]` table.
    pub mcp: Option<RawMcp>,
    /// The `[admin]` table.
    pub admin: Option<RawAdmin>,
    /// The `[server]` table.
    pub server: Option<RawServer>,
}

/// The `[server]` table: connection limits and timeouts for every service of the process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// Connections open at once; sized from the open-file limit when absent.
    pub max_connections: Option<usize>,
    /// Longest wait for request headers (and between kept-alive requests).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: f64,
    /// Longest wait for a whole request body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: f64,
    /// Requests open at once on one HTTP/2 connection (the SETTINGS a client is sent).
    #[serde(default = "default_http2_max_streams")]
    pub http2_max_streams: u32,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            max_connections: None,
            header_timeout_seconds: default_header_timeout(),
            body_timeout_seconds: default_body_timeout(),
            http2_max_streams: default_http2_max_streams(),
        }
    }
}

fn default_header_timeout() -> f64 {
    10.0
}
fn default_body_timeout() -> f64 {
    30.0
}
fn default_http2_max_streams() -> u32 {
    crate::config::DEFAULT_HTTP2_MAX_STREAMS
}

/// The `[admin]` table: who may use the admin API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    /// Token required on every admin request (`MOCKS_ADMIN_TOKEN` overrides it).
    pub token: Option<String>,
    /// Dotted host names allowed besides IP literals and single-label names.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed besides localhost.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// What the MCP server does with a tool call past its concurrency limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// Answer at once with a JSON-RPC "server busy" error (-32010).
    #[default]
    Reject,
    /// Wait for a slot up to `queue_timeout_ms`, then answer busy.
    Queue,
}

/// The `[mcp]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    /// Tool executions in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_tools: usize,
    /// Reject or queue past the limit.
    #[serde(default)]
    pub over_limit: OverLimit,
    /// Longest wait for a slot when queueing.
    #[serde(default = "default_queue_ms")]
    pub queue_timeout_ms: u64,
    /// Handshake sessions kept (the least recently used is dropped past it).
    #[serde(default = "default_sessions")]
    pub session_capacity: usize,
    /// A handshake session unused this long expires.
    #[serde(default = "default_session_idle")]
    pub session_idle_seconds: u64,
    /// Largest file a tool may write into the sandbox.
    #[serde(default = "default_max_file")]
    pub max_file_bytes: usize,
    /// Most bytes of file content the sandbox holds.
    #[serde(default = "default_max_sandbox")]
    pub max_sandbox_bytes: usize,
    /// Origins allowed besides localhost (others get 403).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// URL -> page text for `web_fetch`; any other URL is a tool error. The default pages when absent.
    pub web_pages: Option<BTreeMap<String, String>>,
    /// Largest request body.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Honour `x-mock-fault-*` headers.
    #[serde(default)]
    pub allow_header_faults: bool,
    /// Journal size.
    #[serde(default = "default_journal")]
    pub journal_capacity: usize,
    /// Fault rules.
    #[serde(default)]
    pub faults: Vec<FaultRuleSpec>,
}

fn default_concurrency() -> usize {
    8
}
fn default_queue_ms() -> u64 {
    5000
}
fn default_session_idle() -> u64 {
    1800
}
fn default_max_file() -> usize {
    1 << 20
}
fn default_max_sandbox() -> usize {
    16 << 20
}
fn default_max_documents() -> Option<usize> {
    Some(10_000)
}
fn default_max_rag_bytes() -> Option<usize> {
    Some(64 << 20)
}
fn default_sessions() -> usize {
    10_000
}

/// How errors are shaped on the wire, to harden clients against the servers they will meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dialect {
    /// OpenAI's status codes and `{"error":{...}}` body.
    #[default]
    #[serde(rename = "openai")]
    OpenAi,
    /// vLLM: exception-style `type` (e.g. `NotFoundError`) and an integer `code`.
    #[serde(rename = "vllm")]
    Vllm,
    /// Older LiteLLM proxies: the OpenAI error body with HTTP 200.
    #[serde(rename = "litellm-200")]
    Litellm200,
}

/// What the gateway does when asked for a model it does not serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownModelPolicy {
    /// 404 `model_not_found` (what real gateways do).
    #[default]
    Strict,
    /// Resolve through `[gateway.aliases]`; unknown otherwise.
    Alias,
    /// Answer with the first model of the right kind, echoing the requested name.
    AcceptAny,
}

/// The `[gateway]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    /// Error dialect.
    #[serde(default)]
    pub dialect: Dialect,
    /// Unknown-model policy.
    #[serde(default)]
    pub unknown_model: UnknownModelPolicy,
    /// Alias map for policy `alias`.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Pacing jitter.
    #[serde(default)]
    pub stream_jitter: f64,
    /// Served models; the default models when absent.
    pub models: Option<Vec<ModelSpec>>,
    /// API keys requests must carry; none: no check.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Largest request body.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Honour `x-mock-fault-*` headers.
    #[serde(default)]
    pub allow_header_faults: bool,
    /// Journal size.
    #[serde(default = "default_journal")]
    pub journal_capacity: usize,
    /// Fault rules.
    #[serde(default)]
    pub faults: Vec<FaultRuleSpec>,
}

/// The `[rag]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRag {
    /// Embedding dimensions.
    #[serde(default = "default_dimensions")]
    pub dimensions: usize,
    /// Words per chunk.
    #[serde(default = "default_chunk_words")]
    pub chunk_words: usize,
    /// Words shared by consecutive chunks.
    #[serde(default = "default_chunk_overlap")]
    pub chunk_overlap: usize,
    /// Most documents held (a soak that keeps indexing must not grow the collection forever).
    #[serde(default = "default_max_documents")]
    pub max_documents: Option<usize>,
    /// Most text bytes held.
    #[serde(default = "default_max_rag_bytes")]
    pub max_bytes: Option<usize>,
    /// `builtin`, a directory of .md/.txt files, or a .json/.jsonl file; none when absent.
    pub seed_corpus: Option<String>,
    /// Largest `top_k`.
    #[serde(default = "default_top_k")]
    pub max_top_k: usize,
    /// Largest request body.
    #[serde(default = "default_rag_body")]
    pub max_body_bytes: usize,
    /// Honour `x-mock-fault-*` headers.
    #[serde(default)]
    pub allow_header_faults: bool,
    /// Journal size.
    #[serde(default = "default_journal")]
    pub journal_capacity: usize,
    /// Fault rules.
    #[serde(default)]
    pub faults: Vec<FaultRuleSpec>,
}

fn default_body() -> usize {
    1024 * 1024
}
fn default_rag_body() -> usize {
    4 * 1024 * 1024
}
fn default_journal() -> usize {
    2000
}
fn default_dimensions() -> usize {
    256
}
fn default_chunk_words() -> usize {
    64
}
fn default_chunk_overlap() -> usize {
    8
}
fn default_top_k() -> usize {
    50
}
