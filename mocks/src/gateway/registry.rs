//! The models the gateway serves right now, changeable at run time, and how a requested name
//! resolves under the unknown-model policy.

use std::sync::Arc;

use parking_lot::RwLock;

use super::ratelimit::RateLimiter;
use crate::config::{GatewayConfig, UnknownModelPolicy};
use crate::config::{ModelKind, ModelSpec};
use crate::telemetry::Telemetry;

/// A served model and its live rate limiter.
pub struct ServedModel {
    /// Its configuration.
    pub spec: ModelSpec,
    /// Its limiter.
    pub limiter: RateLimiter,
}

impl ServedModel {
    /// Whether `name` is this model's id or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.spec.id == name || self.spec.aliases.iter().any(|a| a == name)
    }
}

/// The live model set.
pub struct ModelRegistry {
    models: RwLock<Arc<Vec<Arc<ServedModel>>>>,
    initial: Vec<ModelSpec>,
    policy: UnknownModelPolicy,
    aliases: std::collections::BTreeMap<String, String>,
}

impl ModelRegistry {
    /// The registry a gateway config starts with.
    pub fn new(config: &GatewayConfig) -> Self {
        let registry = ModelRegistry {
            models: RwLock::new(Arc::new(Vec::new())),
            initial: config.models.clone(),
            policy: config.unknown_model,
            aliases: config.aliases.clone(),
        };
        registry.reset();
        registry
    }

    fn serve(spec: ModelSpec) -> Arc<ServedModel> {
        let limiter = RateLimiter::new(&spec.rate_limit);
        Arc::new(ServedModel { spec, limiter })
    }

    /// Every served model, in order.
    pub fn all(&self) -> Arc<Vec<Arc<ServedModel>>> {
        self.models.read().clone()
    }

    /// How many models are served.
    pub fn len(&self) -> usize {
        self.models.read().len()
    }

    /// Whether no model is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids of every served model of `kind`.
    pub fn ids(&self, kind: ModelKind) -> Vec<String> {
        self.all().iter().filter(|m| m.spec.kind == kind).map(|m| m.spec.id.clone()).collect()
    }

    /// The model with this exact id or alias.
    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.all().iter().find(|m| m.answers_to(name)).cloned()
    }

    /// Resolves a requested name under the policy; `None` means unknown (recorded in `telemetry`).
    pub fn resolve(&self, name: &str, kind: ModelKind, telemetry: &Telemetry) -> Option<Arc<ServedModel>> {
        if let Some(model) = self.get(name) {
            return Some(model);
        }
        let fallback = match self.policy {
            UnknownModelPolicy::Strict => None,
            UnknownModelPolicy::Alias => self.aliases.get(name).and_then(|target| self.get(target)),
            UnknownModelPolicy::AcceptAny => self.all().iter().find(|m| m.spec.kind == kind).cloned(),
        };
        if fallback.is_none() && telemetry.event("unknown_model", name) == 1 && telemetry.may_warn() {
            tracing::warn!(
                service = telemetry.service(),
                model = %crate::telemetry::bounded::text(name).escape_debug(),
                "request for a model this gateway does not serve (more such warnings within a second are not logged; /__admin/counters counts them all)"
            );
        }
        fallback
    }

    /// Adds a model or replaces the one with the same id.
    pub fn upsert(&self, spec: ModelSpec) {
        let mut guard = self.models.write();
        let mut models: Vec<_> = guard.iter().filter(|m| m.spec.id != spec.id).cloned().collect();
        models.push(Self::serve(spec));
        *guard = Arc::new(models);
    }

    /// Removes a model; false when it was not served.
    pub fn remove(&self, id: &str) -> bool {
        let mut guard = self.models.write();
        let before = guard.len();
        *guard = Arc::new(guard.iter().filter(|m| m.spec.id != id).cloned().collect());
        guard.len() != before
    }

    /// Restores the configured models.
    pub fn reset(&self) {
        *self.models.write() = Arc::new(self.initial.iter().cloned().map(Self::serve).collect());
    }
}
