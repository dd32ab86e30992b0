//! The `model_cycle` task: model management as an operator does it while users chat. One
//! iteration lists the gateway's served models (`GET /__admin/models`), unloads the task's model
//! (`DELETE /__admin/models/{id}`), waits `hold` seconds, and loads it back exactly as it was
//! (`POST /__admin/models` with the listed spec). Each call is its own row (`MODELS list`,
//! `MODELS unload`, `MODELS load`), and the chat rows of the same run show what users saw while
//! the model was gone (`model_not_found`) and what happened to requests already in flight.
//!
//! The admin token, when the mocks require one, comes from `MOCKS_ADMIN_TOKEN`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Http, Outcome, exchange};
use crate::stats::{Failure, FailureKind};

/// What a cycle needs.
pub(super) struct ModelCycle<'a> {
    /// The gateway's base URL.
    pub base: &'a str,
    /// The model to unload and load back.
    pub model: &'a str,
    /// How long it stays unloaded.
    pub hold: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match std::env::var("MOCKS_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => request.bearer_auth(token),
        _ => request,
    }
}

/// Runs one cycle.
pub(super) async fn cycle(client: &Http, cycle: &ModelCycle<'_>) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(failure) = run(client, cycle, &mut outcome).await {
        outcome.failure = Some(failure);
    }
    outcome
}

async fn run(client: &Http, cycle: &ModelCycle<'_>, outcome: &mut Outcome) -> Result<(), Failure> {
    let url = format!("{}/__admin/models", cycle.base.trim_end_matches('/'));
    let started = Instant::now();
    let (result, listed) =
        exchange(admin(client.request(reqwest::Method::GET, &url).timeout(cycle.timeout)), None, 1 << 20).await;
    outcome.step("list".into(), started.elapsed(), result)?;
    let spec = listed.as_ref().and_then(|l| listed_spec(l, cycle.model)).ok_or_else(|| {
        Failure::new(
            FailureKind::Protocol,
            format!("list: the gateway does not serve `{}`: nothing to cycle", cycle.model),
        )
    })?;
    let started = Instant::now();
    let unload = client.delete(format!("{url}/{}", cycle.model)).timeout(cycle.timeout);
    let (result, _) = exchange(admin(unload), None, 1 << 16).await;
    outcome.step("unload".into(), started.elapsed(), result)?;
    tokio::time::sleep(cycle.hold).await;
    let started = Instant::now();
    let (result, _) = exchange(admin(client.post(&url).json(&spec).timeout(cycle.timeout)), None, 1 << 16).await;
    outcome.step("load".into(), started.elapsed(), result)
}

/// The spec of `model` in a `GET /__admin/models` answer.
fn listed_spec(listed: &Value, model: &str) -> Option<Value> {
    listed["models"].as_array()?.iter().find(|m| m["id"] == model).cloned()
}
