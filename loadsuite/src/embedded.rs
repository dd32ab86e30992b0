//! The mock stack started in-process (`--embedded`): the one module that knows the `mocks` crate.
//!
//! loadsuite is a load generator for any target; the mocks are only linked in for `--embedded`
//! (runs, capacity searches, the self-test and the calibration on one machine without Docker).
//! They sit behind the cargo feature `embedded` (on by default): `cargo build -p loadsuite
//! --no-default-features` builds a generator without them, which answers `--embedded` with
//! [`EmbeddedError::NotBuilt`] instead.

use std::collections::BTreeMap;
use std::path::Path;

/// Why the embedded mocks did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The mocks' configuration file (`--mocks-config`) is not usable.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Config(#[from] mocks::config::ConfigError),
    /// A service did not start (e.g. no free port).
    #[cfg(feature = "embedded")]
    #[error("embedded mocks: {0}")]
    Start(#[from] mocks::stack::StackError),
    /// This loadsuite was built without the mocks.
    #[error(
        "--embedded: this loadsuite was built without the mocks (cargo feature `embedded`); \
         point --target at running mocks (e.g. `make up`, then --target gateway=http://127.0.0.1:8000 ...) \
         or rebuild with the default features"
    )]
    NotBuilt,
}

/// The running in-process stack; [`EmbeddedMocks::shutdown`] stops it.
pub struct EmbeddedMocks {
    #[cfg(feature = "embedded")]
    stack: mocks::stack::Stack,
}

impl EmbeddedMocks {
    /// Starts the gateway, RAG and MCP mocks on free ports, configured by `config` (a mocks TOML
    /// file, e.g. a fault profile) or the mocks' defaults, and returns the `gateway`, `rag` and
    /// `mcp` targets pointing at them. The one place loadsuite starts them.
    #[cfg(feature = "embedded")]
    pub async fn start(config: Option<&Path>) -> Result<(Self, BTreeMap<String, String>), EmbeddedError> {
        use mocks::stack::{ServiceKind, Stack};
        let config = config.map(mocks::config::MocksConfig::load).transpose()?.unwrap_or_default();
        let stack = Stack::start_ephemeral(&config).await?;
        let mut targets = BTreeMap::new();
        for (kind, name) in [(ServiceKind::Gateway, "gateway"), (ServiceKind::Rag, "rag"), (ServiceKind::Mcp, "mcp")] {
            if let Some(service) = stack.service(kind) {
                targets.insert(name.to_owned(), service.url());
            }
        }
        Ok((EmbeddedMocks { stack }, targets))
    }

    /// Without the `embedded` feature: always [`EmbeddedError::NotBuilt`].
    #[cfg(not(feature = "embedded"))]
    pub async fn start(_config: Option<&Path>) -> Result<(Self, BTreeMap<String, String>), EmbeddedError> {
        Err(EmbeddedError::NotBuilt)
    }

    /// Checks a mocks configuration file without starting anything, so a bad `--mocks-config`
    /// is reported before a run prepares its results directory.
    #[cfg(feature = "embedded")]
    pub fn check_config(config: &Path) -> Result<(), EmbeddedError> {
        mocks::config::MocksConfig::load(config).map(drop).map_err(EmbeddedError::from)
    }

    /// Without the `embedded` feature: always [`EmbeddedError::NotBuilt`].
    #[cfg(not(feature = "embedded"))]
    pub fn check_config(_config: &Path) -> Result<(), EmbeddedError> {
        Err(EmbeddedError::NotBuilt)
    }

    /// Stops every service and waits for them to finish.
    pub async fn shutdown(self) {
        #[cfg(feature = "embedded")]
        self.stack.shutdown().await;
    }
}

#[cfg(all(test, not(feature = "embedded")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_the_feature_embedded_says_how_to_go_on() {
        let Err(error) = EmbeddedMocks::start(None).await else { panic!("the mocks are not built in") };
        assert!(matches!(error, EmbeddedError::NotBuilt));
        assert!(error.to_string().contains("--target gateway="), "{error}");
        assert!(matches!(EmbeddedMocks::check_config(Path::new("mocks.toml")), Err(EmbeddedError::NotBuilt)));
    }
}
