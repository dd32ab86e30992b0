//! Configuration of the mock stack, in two stages: a raw serde document (`raw`) and the validated,
//! typed [`MocksConfig`] built by [`MocksConfig::from_toml`], which reports every problem with its
//! file, line and field ([`Problem`]).

mod model_spec;
pub(crate) mod raw;

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use common::Problem;
pub(crate) use common::locate;
pub(crate) use model_spec::{AnswerWords, ModelKind, ModelSpec, RateLimitSpec};
pub(crate) use raw::{Dialect, OverLimit, UnknownModelPolicy};

use common::locate::Unlocated;

use crate::faults::FaultRuleSpec;

/// The configuration `mocks serve` runs when given no `--config`.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A config file that could not be used, with every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {file}: {source}")]
    Read {
        /// The path.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is invalid.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

/// Settings every service has.
#[derive(Debug, Clone)]
pub struct ServiceCommon {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Whether `x-mock-fault-*` headers are honoured.
    pub allow_header_faults: bool,
    /// Journal entries kept.
    pub journal_capacity: usize,
    /// Fault rules installed at start (and restored by `/__admin/reset`).
    pub faults: Vec<FaultRuleSpec>,
    /// Who may use the admin API (the stack's `[admin]` table, shared by every service).
    pub admin: std::sync::Arc<AdminConfig>,
}

/// Validated RAG settings.
#[derive(Debug, Clone)]
pub struct RagConfig {
    /// Embedding dimensions.
    pub dimensions: usize,
    /// Words per chunk.
    pub chunk_words: usize,
    /// Words shared by consecutive chunks.
    pub chunk_overlap: usize,
    /// Most documents held.
    pub max_documents: Option<usize>,
    /// Most text bytes held.
    pub max_bytes: Option<usize>,
    /// Seed corpus (`builtin`, a directory, or a JSON/JSONL file).
    pub seed_corpus: Option<String>,
    /// Largest `top_k`.
    pub max_top_k: usize,
    /// Body limit, header faults, journal, fault rules.
    pub common: ServiceCommon,
}

/// Validated MCP settings.
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// Tool executions in flight at once.
    pub max_concurrent_tools: usize,
    /// Reject or queue past the limit.
    pub over_limit: OverLimit,
    /// Longest wait for a slot when queueing.
    pub queue_timeout_ms: u64,
    /// Handshake sessions kept.
    pub session_capacity: usize,
    /// A handshake session unused this long expires.
    pub session_idle_seconds: u64,
    /// Largest file a tool may write into the sandbox.
    pub max_file_bytes: usize,
    /// Most bytes of file content the sandbox holds.
    pub max_sandbox_bytes: usize,
    /// Origins allowed besides localhost.
    pub allowed_origins: Vec<String>,
    /// Pages `web_fetch` can return.
    pub web_pages: BTreeMap<String, String>,
    /// Body limit, header faults, journal, fault rules.
    pub common: ServiceCommon,
}

/// Validated gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Error dialect.
    pub dialect: Dialect,
    /// What to do with unknown models.
    pub unknown_model: UnknownModelPolicy,
    /// Unknown model id -> served model id (policy `alias`).
    pub aliases: BTreeMap<String, String>,
    /// Relative random spread of token pacing, 0..1.
    pub stream_jitter: f64,
    /// Served models.
    pub models: Vec<ModelSpec>,
    /// API keys `/v1/...` requests must carry (`Authorization: Bearer`); none: no check.
    pub api_keys: Vec<String>,
    /// Body limit, header faults, journal, fault rules.
    pub common: ServiceCommon,
}

/// How the servers of the process limit connections and slow clients.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections open at once across the process; `None` sizes it from the open-file limit.
    pub max_connections: Option<usize>,
    /// Longest wait for request headers, for the next request on a kept-alive connection, and for
    /// a new connection's first byte.
    pub header_timeout: std::time::Duration,
    /// Longest wait for a whole request body (408 after it).
    pub body_timeout: std::time::Duration,
    /// Requests open at once on one HTTP/2 connection; more wait at the client.
    pub http2_max_streams: u32,
}

/// Requests open at once on one HTTP/2 connection by default: five times hyper's own 200, since a
/// load generator multiplexes many users on one connection (`http2` in a loadsuite scenario),
/// and bounded, since every open stream may hold a request body.
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 1000;

/// Who may use the admin API (see `admin::guard`).
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// Required as `Authorization: Bearer` (or `X-Admin-Token`) when set.
    pub token: Option<String>,
    /// Dotted host names allowed besides IP literals and single-label names.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed besides localhost.
    pub allowed_origins: Vec<String>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct MocksConfig {
    /// Seed for every random choice (content, latency samples, fault selection).
    pub seed: u64,
    /// Who may use every service's admin API.
    pub admin: AdminConfig,
    /// Connection limits and timeouts.
    pub server: ServerConfig,
    /// The gateway.
    pub gateway: GatewayConfig,
    /// The RAG service.
    pub rag: RagConfig,
    /// The MCP server.
    pub mcp: McpConfig,
}

impl Default for MocksConfig {
    fn default() -> Self {
        MocksConfig::from_toml(DEFAULT_TOML, "<default>").expect("the shipped default config is valid")
    }
}

impl MocksConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
        Self::from_toml(&text, &file)
    }

    /// Parses and validates TOML text; `file` names it in problems.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Invalid { problems: vec![Problem::syntax(file, text, &e)] })?;
        let mut problems = Vec::new();
        let config = validate(raw, &mut problems);
        if problems.is_empty() {
            return Ok(config);
        }
        Err(ConfigError::Invalid { problems: locate::locate_all(text, file, problems) })
    }
}

fn default_raw() -> raw::RawConfig {
    toml::from_str(DEFAULT_TOML).expect("the default config parses")
}

/// Collects problems under a path prefix.
struct Problems<'a> {
    out: &'a mut Vec<Unlocated>,
}

impl Problems<'_> {
    fn add(&mut self, path: Vec<locate::Segment>, message: String) {
        self.out.push((path, message));
    }
}

fn path(service: &str, rest: &[&str]) -> Vec<locate::Segment> {
    std::iter::once(service).chain(rest.iter().copied()).map(|k| locate::Segment::Key(k.to_owned())).collect()
}

fn indexed(service: &str, list: &str, i: usize, field: &str) -> Vec<locate::Segment> {
    use locate::Segment::{Index, Key};
    let mut p = vec![Key(service.to_owned()), Key(list.to_owned()), Index(i)];
    p.extend(field.split('.').map(|f| Key(f.to_owned())));
    p
}

fn common(
    service: &str,
    problems: &mut Problems<'_>,
    max_body_bytes: usize,
    allow_header_faults: bool,
    journal_capacity: usize,
    faults: Vec<FaultRuleSpec>,
) -> ServiceCommon {
    if max_body_bytes == 0 {
        problems.add(path(service, &["max_body_bytes"]), "must be at least 1".into());
    }
    if !(1..=MAX_JOURNAL).contains(&journal_capacity) {
        problems.add(path(service, &["journal_capacity"]), format!("must be between 1 and {MAX_JOURNAL}"));
    }
    if faults.len() > crate::faults::MAX_RULES {
        problems.add(path(service, &["faults"]), format!("at most {} rules per service", crate::faults::MAX_RULES));
    }
    let mut names = std::collections::HashSet::new();
    for (i, rule) in faults.iter().enumerate() {
        for problem in rule.validate() {
            problems.add(indexed(service, "faults", i, &problem.field), problem.message);
        }
        if !names.insert(rule.name.clone()) {
            problems.add(indexed(service, "faults", i, "name"), format!("rule name `{}` is used twice", rule.name));
        }
    }
    ServiceCommon { max_body_bytes, allow_header_faults, journal_capacity, faults, admin: Default::default() }
}

/// The most journal entries a service keeps (each bounded in size: see `telemetry::bounded`).
pub const MAX_JOURNAL: usize = 100_000;

fn validate_gateway(g: raw::RawGateway, problems: &mut Problems<'_>) -> GatewayConfig {
    let models = match g.models {
        Some(models) => models,
        None => default_raw().gateway.and_then(|g| g.models).unwrap_or_default(),
    };
    let mut seen = std::collections::HashSet::new();
    for (i, model) in models.iter().enumerate() {
        for (field, message) in model.problems() {
            problems.add(indexed("gateway", "models", i, field), message);
        }
        for name in std::iter::once(&model.id).chain(&model.aliases) {
            if !seen.insert(name.clone()) {
                problems.add(
                    indexed("gateway", "models", i, "id"),
                    format!("`{name}` is served twice; ids and aliases must be unique"),
                );
            }
        }
    }
    if !models.iter().any(|m| m.kind == ModelKind::Chat) && g.unknown_model == UnknownModelPolicy::AcceptAny {
        problems.add(
            path("gateway", &["unknown_model"]),
            "`accept-any` needs at least one chat model to answer with".into(),
        );
    }
    for (from, to) in &g.aliases {
        if !models.iter().any(|m| &m.id == to) {
            problems.add(path("gateway", &["aliases", from]), format!("alias target `{to}` is not a served model id"));
        }
    }
    if g.api_keys.iter().any(|k| k.trim().is_empty() || k.contains(char::is_whitespace)) {
        problems.add(path("gateway", &["api_keys"]), "keys are non-empty and have no spaces".into());
    }
    if !(0.0..=1.0).contains(&g.stream_jitter) {
        problems.add(path("gateway", &["stream_jitter"]), format!("{} is not between 0 and 1", g.stream_jitter));
    }
    GatewayConfig {
        dialect: g.dialect,
        unknown_model: g.unknown_model,
        aliases: g.aliases,
        stream_jitter: g.stream_jitter,
        models,
        api_keys: g.api_keys,
        common: common("gateway", problems, g.max_body_bytes, g.allow_header_faults, g.journal_capacity, g.faults),
    }
}

fn validate_rag(r: raw::RawRag, problems: &mut Problems<'_>) -> RagConfig {
    if !(1..=16_384).contains(&r.dimensions) {
        problems.add(path("rag", &["dimensions"]), format!("{} is not between 1 and 16384", r.dimensions));
    }
    if r.chunk_words == 0 {
        problems.add(path("rag", &["chunk_words"]), "must be at least 1".into());
    }
    if r.chunk_overlap >= r.chunk_words.max(1) {
        problems.add(path("rag", &["chunk_overlap"]), "must be smaller than chunk_words".into());
    }
    if r.max_top_k == 0 {
        problems.add(path("rag", &["max_top_k"]), "must be at least 1".into());
    }
    if let Some(spec) = &r.seed_corpus
        && spec != "builtin"
        && !Path::new(spec).exists()
    {
        problems.add(
            path("rag", &["seed_corpus"]),
            format!("`{spec}` does not exist; use `builtin`, a directory, or a .json/.jsonl file"),
        );
    }
    RagConfig {
        dimensions: r.dimensions,
        chunk_words: r.chunk_words,
        chunk_overlap: r.chunk_overlap,
        max_documents: r.max_documents,
        max_bytes: r.max_bytes,
        seed_corpus: r.seed_corpus,
        max_top_k: r.max_top_k,
        common: common("rag", problems, r.max_body_bytes, r.allow_header_faults, r.journal_capacity, r.faults),
    }
}

fn validate_mcp(m: raw::RawMcp, problems: &mut Problems<'_>) -> McpConfig {
    if m.max_concurrent_tools == 0 {
        problems.add(path("mcp", &["max_concurrent_tools"]), "must be at least 1".into());
    }
    if m.session_capacity == 0 {
        problems.add(path("mcp", &["session_capacity"]), "must be at least 1".into());
    }
    if m.session_idle_seconds == 0 {
        problems.add(path("mcp", &["session_idle_seconds"]), "must be at least 1".into());
    }
    if m.max_file_bytes == 0 || m.max_file_bytes > m.max_sandbox_bytes {
        problems.add(path("mcp", &["max_file_bytes"]), "must be at least 1 and at most `max_sandbox_bytes`".into());
    }
    McpConfig {
        session_idle_seconds: m.session_idle_seconds,
        max_file_bytes: m.max_file_bytes,
        max_sandbox_bytes: m.max_sandbox_bytes,
        max_concurrent_tools: m.max_concurrent_tools,
        over_limit: m.over_limit,
        queue_timeout_ms: m.queue_timeout_ms,
        session_capacity: m.session_capacity,
        allowed_origins: m.allowed_origins,
        web_pages: m.web_pages.unwrap_or_else(|| default_raw().mcp.and_then(|m| m.web_pages).unwrap_or_default()),
        common: common("mcp", problems, m.max_body_bytes, m.allow_header_faults, m.journal_capacity, m.faults),
    }
}

fn validate(raw: raw::RawConfig, problems: &mut Vec<Unlocated>) -> MocksConfig {
    let mut problems = Problems { out: problems };
    let defaults = default_raw();
    let gateway = raw.gateway.or(defaults.gateway).expect("the default config has a gateway");
    let rag = raw.rag.or(defaults.rag).expect("the default config has a rag service");
    let mcp = raw.mcp.or(defaults.mcp).expect("the default config has an mcp server");
    let admin = raw.admin.unwrap_or_default();
    if admin.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        problems.add(
            vec![locate::Segment::Key("admin".into()), locate::Segment::Key("token".into())],
            "must not be empty (omit it for no token)".into(),
        );
    }
    let server = raw.server.unwrap_or_default();
    for (field, seconds) in [
        ("header_timeout_seconds", server.header_timeout_seconds),
        ("body_timeout_seconds", server.body_timeout_seconds),
    ] {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
            problems.add(
                vec![locate::Segment::Key("server".into()), locate::Segment::Key(field.into())],
                "must be between 0 and 3600 seconds".into(),
            );
        }
    }
    if !(1..=100_000).contains(&server.http2_max_streams) {
        problems.add(
            vec![locate::Segment::Key("server".into()), locate::Segment::Key("http2_max_streams".into())],
            "must be between 1 and 100000".into(),
        );
    }
    if server.max_connections == Some(0) {
        problems.add(
            vec![locate::Segment::Key("server".into()), locate::Segment::Key("max_connections".into())],
            "must be at least 1 (omit it to size it from the open-file limit)".into(),
        );
    }
    let seconds = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or(std::time::Duration::from_secs(10));
    let mut config = MocksConfig {
        server: ServerConfig {
            max_connections: server.max_connections,
            header_timeout: seconds(server.header_timeout_seconds),
            body_timeout: seconds(server.body_timeout_seconds),
            http2_max_streams: server.http2_max_streams,
        },
        admin: AdminConfig {
            token: admin.token,
            allowed_hosts: admin.allowed_hosts,
            allowed_origins: admin.allowed_origins,
        },
        seed: raw.seed.unwrap_or(42),
        gateway: validate_gateway(gateway, &mut problems),
        rag: validate_rag(rag, &mut problems),
        mcp: validate_mcp(mcp, &mut problems),
    };
    config.share_admin();
    config
}

impl MocksConfig {
    /// Sets the admin token (e.g. from `MOCKS_ADMIN_TOKEN`), for every service.
    pub fn set_admin_token(&mut self, token: Option<String>) {
        self.admin.token = token.filter(|t| !t.trim().is_empty());
        self.share_admin();
    }

    /// Hands the stack's admin settings to each service.
    fn share_admin(&mut self) {
        let admin = std::sync::Arc::new(self.admin.clone());
        self.gateway.common.admin = admin.clone();
        self.rag.common.admin = admin.clone();
        self.mcp.common.admin = admin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_does_not_serve_qwen() {
        let config = MocksConfig::default();
        assert!(!config.gateway.models.iter().any(|m| m.id.contains("qwen")));
        assert!(config.gateway.models.iter().any(|m| m.kind == ModelKind::Embedding));
    }

    #[test]
    fn problems_name_line_and_field() {
        let text = "[gateway]\nstream_jitter = 3.0\n\n[[gateway.models]]\nid = \"e\"\nkind = \"embedding\"\n";
        let Err(ConfigError::Invalid { problems }) = MocksConfig::from_toml(text, "x.toml") else { panic!() };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].field, "gateway.stream_jitter");
        assert_eq!(problems[0].line, Some(2));
        assert_eq!(problems[1].field, "gateway.models[0].dimensions");
        assert_eq!(problems[1].line, Some(4));
    }

    #[test]
    fn syntax_and_unknown_fields_are_located() {
        let Err(ConfigError::Invalid { problems }) =
            MocksConfig::from_toml("seed = 1\n[gateway]\nbogus = 1\n", "y.toml")
        else {
            panic!()
        };
        assert_eq!(problems[0].line, Some(3));
        assert!(problems[0].message.contains("bogus"), "{}", problems[0].message);
    }
}
