//! Assembling a mock service: its own protocol routes, wrapped the same way for every service —
//! `/metrics`, the shared fault layer and the shared `/__admin` API (the panic guard wraps the whole
//! router once, in [`crate::server::serve`]). Each service supplies only its routes, its
//! [`ServiceProtocol`] and what its reset restores.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::admin::{self, AdminState};
use crate::config::ServiceCommon;
use crate::faults::{FaultContext, FaultEngine, FaultLayer, ServiceProtocol};
use crate::telemetry::Telemetry;

/// What every service shares with the common machinery.
pub struct ServiceParts {
    /// Its fault rules.
    pub engine: Arc<FaultEngine>,
    /// Its journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Its protocol hooks.
    pub protocol: Arc<dyn ServiceProtocol>,
    /// Extra work of `POST /__admin/reset` (restoring models, corpus, sandbox ...).
    pub on_reset: Arc<dyn Fn() + Send + Sync>,
}

/// The complete router of a service: `api` (its routes, state and fallbacks) plus `/metrics`
/// behind the fault layer, the admin API (and `extra_admin` routes) beside it.
pub fn assemble(api: Router, parts: ServiceParts, common: &ServiceCommon, extra_admin: Option<Router>) -> Router {
    let metrics = Router::new().route("/metrics", get(admin::metrics)).with_state(parts.telemetry.clone());
    let fault_layer = FaultLayer::new(FaultContext {
        engine: parts.engine.clone(),
        telemetry: parts.telemetry.clone(),
        protocol: parts.protocol,
        allow_header_faults: common.allow_header_faults,
        max_body_bytes: common.max_body_bytes,
    });
    let admin =
        admin::router(AdminState { engine: parts.engine, telemetry: parts.telemetry, on_reset: parts.on_reset });
    let router = api.merge(metrics).layer(fault_layer).merge(admin);
    match extra_admin {
        Some(extra) => router.merge(extra),
        None => router,
    }
}
