//! Preflight: before any load, every target answers `/health`, and every model a chat or
//! embeddings task asks for is in the gateway's `/v1/models`. A scenario asking for a model the
//! gateway does not serve stops here, naming the model and the served ones (`--no-preflight`
//! runs anyway: that is how the 100% failure is reproduced on purpose).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::scenario::{Scenario, TaskKind};

/// Why the run may not start.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A target did not answer.
    #[error(
        "preflight: target `{target}` ({url}) did not answer: {reason}. Start it (e.g. `make up` or `mocks serve`), fix --target, or use --embedded."
    )]
    Unreachable {
        /// Target name.
        target: String,
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A target answered `/health` with an error.
    #[error("preflight: target `{target}` ({url}/health) answered {status}; it is not healthy.")]
    Unhealthy {
        /// Target name.
        target: String,
        /// Its URL.
        url: String,
        /// Status.
        status: u16,
    },
    /// The gateway refused the request for want of a (valid) API key.
    #[error("preflight: target `{target}` ({url}/v1/models) answered {status}: {}", if *given { "it refused the API key of [api_keys]; check it" } else { "it needs an API key; set it under [api_keys] (e.g. `gateway = \"env:OPENAI_API_KEY\"`)" })]
    Refused {
        /// Target name.
        target: String,
        /// Its URL.
        url: String,
        /// Status.
        status: u16,
        /// Whether the scenario gave a key.
        given: bool,
    },
    /// A task asks for a model the gateway does not serve.
    #[error("preflight: the scenario asks for model `{model}`, which the gateway at {url} does not serve (it serves: {}). Fix the model in the scenario, or run with --no-preflight to reproduce the failure on purpose.", served.join(", "))]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// The gateway.
        url: String,
        /// What it serves.
        served: Vec<String>,
    },
}

/// Runs every check.
pub(crate) async fn check(scenario: &Scenario, client: &crate::tasks::Http) -> Result<(), PreflightError> {
    let mut models: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for user in &scenario.users {
        used.insert(user.target.as_str());
        for task in &user.tasks {
            if let TaskKind::Chat { model, .. } | TaskKind::Embeddings { model, .. } = &task.kind {
                models.entry(user.target.as_str()).or_default().insert(model.as_str());
            }
        }
    }
    for target in used {
        let url = scenario.targets.get(target).map(|u| u.trim_end_matches('/').to_owned()).unwrap_or_default();
        let unreachable = |e: reqwest::Error| PreflightError::Unreachable {
            target: target.to_owned(),
            url: url.clone(),
            reason: e.to_string(),
        };
        let response = client
            .request(reqwest::Method::GET, format!("{url}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(PreflightError::Unhealthy {
                target: target.to_owned(),
                url,
                status: response.status().as_u16(),
            });
        }
        let Some(wanted) = models.get(target) else { continue };
        let listing = client.request(reqwest::Method::GET, format!("{url}/v1/models"));
        let answer = listing.timeout(Duration::from_secs(5)).send().await.map_err(unreachable)?;
        if matches!(answer.status().as_u16(), 401 | 403) {
            let given = scenario.api_keys.contains_key(target);
            return Err(PreflightError::Refused {
                target: target.to_string(),
                url,
                status: answer.status().as_u16(),
                given,
            });
        }
        let list: Value = answer.json().await.unwrap_or(Value::Null);
        let served: Vec<String> =
            list["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect();
        if let Some(missing) = wanted.iter().find(|m| !served.iter().any(|s| s == *m)) {
            return Err(PreflightError::UnknownModel { model: (*missing).to_owned(), url, served });
        }
    }
    Ok(())
}
