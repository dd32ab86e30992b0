//! Configuration of the mock stack, in two stages: a raw serde document ([`raw`]) and the validated,
//! typed [`MocksConfig`] built by [`MocksConfig::from_toml`], which reports every problem with its
//! file, line and field ([`ConfigProblem`]).

mod locate;
pub mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use raw::{Dialect, UnknownModelPolicy};

use crate::faults::FaultRuleSpec;
use crate::gateway::{ModelKind, ModelSpec};

/// The configuration `mocks serve` runs when given no `--config`.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `<default>`).
    pub file: String,
    /// 1-based line, when it could be located.
    pub line: Option<usize>,
    /// Field path, e.g. `gateway.models[2].dimensions`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

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
        problems: Vec<ConfigProblem>,
    },
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
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Whether `x-mock-fault-*` headers are honoured.
    pub allow_header_faults: bool,
    /// Journal entries kept.
    pub journal_capacity: usize,
    /// Relative random spread of token pacing, 0..1.
    pub stream_jitter: f64,
    /// Served models.
    pub models: Vec<ModelSpec>,
    /// Fault rules installed at start (and restored by `/__admin/reset`).
    pub faults: Vec<FaultRuleSpec>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct MocksConfig {
    /// Seed for every random choice (content, latency samples, fault selection).
    pub seed: u64,
    /// The gateway.
    pub gateway: GatewayConfig,
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
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            problems: vec![ConfigProblem {
                file: file.to_owned(),
                line: e.span().map(|s| locate::line_of(text, s.start)),
                field: "(syntax)".to_owned(),
                message: e.message().trim().to_owned(),
            }],
        })?;
        let mut problems = Vec::new();
        let config = validate(raw, &mut problems);
        if problems.is_empty() {
            return Ok(config);
        }
        Err(ConfigError::Invalid { problems: locate::locate_all(text, file, problems) })
    }
}

/// A problem before it is located: field path segments and a message.
pub(crate) struct Unlocated {
    pub path: Vec<locate::Segment>,
    pub message: String,
}

fn validate(raw: raw::RawConfig, problems: &mut Vec<Unlocated>) -> MocksConfig {
    use locate::Segment::{Index, Key};
    let default_gateway = || toml::from_str::<raw::RawConfig>(DEFAULT_TOML).expect("default parses").gateway;
    let g = raw.gateway.unwrap_or_else(|| default_gateway().expect("default has a gateway"));
    let models = match g.models {
        Some(models) => models,
        None => default_gateway().and_then(|g| g.models).unwrap_or_default(),
    };
    let mut bad = |path: Vec<locate::Segment>, message: String| problems.push(Unlocated { path, message });
    let gw = |rest: &[locate::Segment]| {
        let mut p = vec![Key("gateway".into())];
        p.extend_from_slice(rest);
        p
    };
    let mut seen = std::collections::HashSet::new();
    for (i, model) in models.iter().enumerate() {
        for (field, message) in model.problems() {
            let mut path = vec![Key("models".into()), Index(i)];
            path.extend(field.split('.').map(|f| Key(f.to_owned())));
            bad(gw(&path), message);
        }
        for name in std::iter::once(&model.id).chain(&model.aliases) {
            if !seen.insert(name.clone()) {
                bad(
                    gw(&[Key("models".into()), Index(i), Key("id".into())]),
                    format!("`{name}` is served twice; ids and aliases must be unique"),
                );
            }
        }
    }
    if !models.iter().any(|m| m.kind == ModelKind::Chat) && g.unknown_model == UnknownModelPolicy::AcceptAny {
        bad(gw(&[Key("unknown_model".into())]), "`accept-any` needs at least one chat model to answer with".into());
    }
    for (from, to) in &g.aliases {
        if !models.iter().any(|m| &m.id == to) {
            bad(
                gw(&[Key("aliases".into()), Key(from.clone())]),
                format!("alias target `{to}` is not a served model id"),
            );
        }
    }
    if !(0.0..=1.0).contains(&g.stream_jitter) {
        bad(gw(&[Key("stream_jitter".into())]), format!("{} is not between 0 and 1", g.stream_jitter));
    }
    if g.max_body_bytes == 0 {
        bad(gw(&[Key("max_body_bytes".into())]), "must be at least 1".into());
    }
    let mut rule_names = std::collections::HashSet::new();
    for (i, rule) in g.faults.iter().enumerate() {
        for problem in rule.validate() {
            let mut path = vec![Key("faults".into()), Index(i)];
            path.extend(problem.field.split('.').map(|f| Key(f.to_owned())));
            bad(gw(&path), problem.message);
        }
        if !rule_names.insert(rule.name.clone()) {
            bad(
                gw(&[Key("faults".into()), Index(i), Key("name".into())]),
                format!("rule name `{}` is used twice", rule.name),
            );
        }
    }
    MocksConfig {
        seed: raw.seed.unwrap_or(42),
        gateway: GatewayConfig {
            dialect: g.dialect,
            unknown_model: g.unknown_model,
            aliases: g.aliases,
            max_body_bytes: g.max_body_bytes,
            allow_header_faults: g.allow_header_faults,
            journal_capacity: g.journal_capacity,
            stream_jitter: g.stream_jitter,
            models,
            faults: g.faults,
        },
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
