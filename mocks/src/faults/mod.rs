//! The fault engine shared by every mock: one rule model, one tower layer, one admin surface.
//!
//! `spec` is the rule language (config and admin API), `engine` holds installed rules and decides
//! per request, `layer` applies decisions to a service, `body` and `headers` are its helpers. A
//! service plugs in only its protocol through [`ServiceProtocol`].

mod body;
mod engine;
pub mod headers;
mod layer;
mod spec;

pub use engine::{FaultDecision, FaultEngine, RuleError, RuleStatus, fnv1a};
pub use layer::{FaultContext, FaultLayer, FaultService, ResponseNote, ServiceProtocol};
pub use spec::{ErrorSpec, FaultRuleSpec, LatencySpec, MatchSpec, SpecProblem, StreamFault, TransportSpec, WindowSpec};
