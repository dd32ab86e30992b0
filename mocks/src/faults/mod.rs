//! The fault engine shared by every mock: one rule model, one tower layer, one admin surface.
//!
//! `spec` is the rule language (config and admin API), `engine` holds installed rules and decides
//! per request (`path` compares request paths with rule patterns), `layer` applies decisions to a
//! service, `body` and `headers` are its helpers. A service plugs in only its protocol through
//! [`ServiceProtocol`].

mod body;
mod engine;
pub mod headers;
mod layer;
mod path;
mod spec;

pub use engine::{FaultDecision, FaultEngine, MAX_RULES, Release, RuleError, RuleSet, RuleStatus};
pub use layer::{FaultContext, FaultFuture, FaultLayer, FaultService, InjectedLatency, ResponseNote, ServiceProtocol};
pub use spec::{
    ErrorSpec, FaultRuleSpec, Firing, LatencySpec, MAX_FAULT_MS, MAX_RULE_NAME, MAX_SIGMA, MatchSpec, SpecProblem,
    StreamFault, TransportSpec, WindowSpec,
};

/// Sleeps for `duration` (returning at once for zero), cut short when a rule that asked for the
/// pause is removed (deleting a rule releases the requests it holds).
pub async fn hold(duration: std::time::Duration, release: &Release) {
    if duration.is_zero() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = release.released() => {}
    }
}
