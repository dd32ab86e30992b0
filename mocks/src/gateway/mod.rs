//! The mock OpenAI-compatible gateway: models, chat completions (plain and SSE), embeddings,
//! per-model rate limits, the unknown-model policy and error dialects.
//!
//! The gateway owns only its protocol. Faults, journal, counters and the admin API come from the
//! shared [`crate::faults`], [`crate::telemetry`] and `admin` modules.

mod auth;
mod chat;
mod completions;
mod embeddings;
mod errors;
mod extract;
mod fields;
mod headers;
mod logprobs;
mod models_api;
mod ratelimit;
mod registry;
mod responses;
mod schema_value;
mod shaped;
mod stream;
mod text;
mod tools;
mod wire;

pub(crate) use crate::config::ModelKind;
pub(crate) use errors::ApiError;
pub(crate) use registry::{ModelRegistry, ServedModel};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{delete, get, post};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::config::{Dialect, GatewayConfig};
use crate::faults::{ErrorSpec, FaultEngine, ResponseNote, RuleError, ServiceProtocol};
use crate::service::{self, ApiRoutes, MockService, ServiceParts};
use crate::telemetry::Telemetry;

/// One running gateway's state.
pub struct Gateway {
    /// Its configuration.
    pub config: GatewayConfig,
    /// Seed for content and embeddings.
    pub seed: u64,
    /// Served models.
    pub registry: ModelRegistry,
    /// Journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Fault rules.
    pub engine: Arc<FaultEngine>,
    /// Stored Responses API conversations (`previous_response_id`).
    responses: responses::SharedStore,
    /// Drawn at start: ids differ between two gateways even with the same seed.
    instance: u64,
    /// Ids issued so far: each answer's id differs from every other's.
    issued: AtomicU64,
}

impl Gateway {
    /// A gateway for `config`, seeded with `seed`.
    pub fn new(config: GatewayConfig, seed: u64) -> Result<Arc<Self>, RuleError> {
        Ok(Arc::new(Gateway {
            registry: ModelRegistry::new(&config),
            telemetry: Arc::new(Telemetry::new("gateway", config.common.journal_capacity)),
            engine: Arc::new(FaultEngine::new(config.common.faults.clone(), seed)?),
            seed,
            config,
            responses: responses::SharedStore::default(),
            instance: rand::random(),
            issued: AtomicU64::new(0),
        }))
    }

    /// A number for an answer's id (`chatcmpl-`, `cmpl-`, `resp_`): unique per answer and per
    /// gateway process, while the answer's content stays a function of the request's
    /// `fingerprint` alone.
    pub(crate) fn unique_id(&self, fingerprint: u64) -> u64 {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        fingerprint ^ self.instance ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Resolves a model for an endpoint of `kind`, or the error to answer with.
    pub fn resolve(&self, name: &str, kind: ModelKind) -> Result<Arc<ServedModel>, ApiError> {
        let Some(model) = self.registry.resolve(name, kind, &self.telemetry) else {
            let served = self.registry.ids(kind);
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!(
                    "The model `{name}` does not exist or you do not have access to it. This gateway serves: {}.",
                    served.join(", ")
                ),
                None,
                Some("model_not_found"),
            ));
        };
        if model.spec.kind != kind {
            let message = match kind {
                ModelKind::Chat => format!(
                    "The model `{}` is an embedding model and not supported in the v1/chat/completions endpoint. Chat models here: {}.",
                    model.spec.id,
                    self.registry.ids(ModelKind::Chat).join(", ")
                ),
                ModelKind::Embedding => format!(
                    "The model `{}` is a chat model and does not support embeddings. Embedding models here: {}.",
                    model.spec.id,
                    self.registry.ids(ModelKind::Embedding).join(", ")
                ),
            };
            return Err(ApiError::invalid(message, Some("model"), Some("model_not_supported")));
        }
        Ok(model)
    }

    /// Names used in the startup log line.
    pub fn model_ids(&self) -> Vec<String> {
        self.registry.all().iter().map(|m| m.spec.id.clone()).collect()
    }
}

/// Seconds since the Unix epoch (`created`).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Records the requested model for the journal.
pub(crate) fn note_model(mut response: Response, model: Option<String>) -> Response {
    let mut note = response.extensions().get::<ResponseNote>().cloned().unwrap_or_default();
    note.attribute = model;
    response.extensions_mut().insert(note);
    response
}

/// The gateway's hooks into the shared fault layer.
struct GatewayProtocol {
    dialect: Dialect,
    /// The gateway's instance number: request ids differ between processes.
    seed: u64,
    requests: AtomicU64,
}

impl ServiceProtocol for GatewayProtocol {
    fn attribute(&self, _parts: &http::request::Parts, body: &[u8]) -> Option<String> {
        serde_json::from_slice::<Value>(body).ok()?.get("model")?.as_str().map(str::to_owned)
    }

    fn injected_error(&self, error: &ErrorSpec, _body: &[u8]) -> Response {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // A 429 always says when to come back: `retry-after` (1 s unless the rule gives one) and a
        // message naming the same delay.
        let retry_after = match error.status {
            429 => Some(error.retry_after.unwrap_or(1.0)),
            _ => error.retry_after,
        };
        let rate_limited =
            format!("Rate limit reached for requests. Please try again in {}s.", retry_after.unwrap_or(1.0));
        let (kind, default_code, default_message) = match error.status {
            429 => ("requests", Some("rate_limit_exceeded"), rate_limited.as_str()),
            503 => ("server_error", None, "The engine is currently overloaded, please try again later"),
            401 => {
                let mut api = auth::wrong_key("sk-injected-fault");
                api.status = status;
                if let Some(message) = &error.message {
                    api.message = message.clone();
                }
                let mut response = api.render(self.dialect);
                response.extensions_mut().remove::<ApiError>();
                return response;
            }
            500..=599 => (
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that! You can retry your request.",
            ),
            _ => ("invalid_request_error", None, "The request was rejected by an injected fault."),
        };
        let mut api = ApiError::new(
            status,
            kind,
            error.message.clone().unwrap_or_else(|| default_message.to_owned()),
            None,
            error.code.as_deref().or(default_code),
        );
        api.retry_after = retry_after.map(|s| s as f32);
        let mut response = api.render(self.dialect);
        response.extensions_mut().remove::<ApiError>();
        response
    }

    /// Adds `x-request-id` and `openai-processing-ms`, and re-renders errors in the dialect.
    fn finish(&self, response: Response, elapsed: Duration) -> Response {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut response = match (self.dialect, response.extensions().get::<ApiError>()) {
            (Dialect::OpenAi, _) | (_, None) => response,
            (dialect, Some(error)) => {
                let note = response.extensions().get::<ResponseNote>().cloned();
                let mut rendered = error.render(dialect);
                if let Some(note) = note {
                    rendered.extensions_mut().insert(note);
                }
                rendered
            }
        };
        headers::stamp(response.headers_mut(), self.seed, n, elapsed);
        response
    }
}

/// `value` as 16 lowercase hex digits (`{value:016x}`), for ids on every answer.
pub(crate) fn hex16(value: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    std::array::from_fn(|i| HEX[((value >> (60 - 4 * i)) & 0xf) as usize])
}

/// `GET /health`: `{"status":"ok","service":"gateway","models_served":N}`. Written without a
/// serializer: it is what load balancers and health checks poll, as often as anything.
async fn health(State(gateway): State<Arc<Gateway>>) -> Response {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(br#"{"status":"ok","service":"gateway","models_served":"#);
    body.extend_from_slice(itoa::Buffer::new().format(gateway.registry.len()).as_bytes());
    body.push(b'}');
    ([(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!(
            "Invalid URL ({} {}). See GET /v1/models, POST /v1/chat/completions, POST /v1/embeddings.",
            request.method(),
            request.uri().path()
        ),
        None,
        Some("unknown_url"),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("Method {} is not allowed on {}.", request.method(), request.uri().path()),
        None,
        Some("method_not_allowed"),
    )
}

/// The gateway's complete router: API (behind the fault layer) plus admin routes.
pub fn router(gateway: Arc<Gateway>) -> MockService {
    // Keys are fixed at start: without any, the routes carry no key middleware at all.
    let keyed = |routes: axum::routing::MethodRouter<Arc<Gateway>>| {
        if gateway.config.api_keys.is_empty() {
            routes
        } else {
            routes.route_layer(axum::middleware::from_fn_with_state(gateway.clone(), auth::require_key))
        }
    };
    let protocol = Arc::new(GatewayProtocol {
        dialect: gateway.config.dialect,
        seed: gateway.instance,
        requests: AtomicU64::new(0),
    });
    let api = ApiRoutes::new()
        .route("/health", get(health))
        .route("/v1/models", keyed(get(models_api::list)))
        .route("/v1/models/{id}", keyed(get(models_api::retrieve)))
        .route("/v1/chat/completions", keyed(post(chat::completions)))
        .route("/v1/completions", keyed(post(completions::completions)))
        .route("/v1/embeddings", keyed(post(embeddings::embeddings)))
        .route("/v1/responses", keyed(post(responses::create)))
        .with_state(gateway.clone())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let reset_target = gateway.clone();
    let parts = ServiceParts {
        engine: gateway.engine.clone(),
        telemetry: gateway.telemetry.clone(),
        protocol,
        on_reset: Arc::new(move || {
            reset_target.registry.reset();
            reset_target.responses.lock().clear();
        }),
    };
    let models_admin = Router::new()
        .route("/__admin/models", get(models_api::admin_list).post(models_api::admin_upsert))
        .route("/__admin/models/{id}", delete(models_api::admin_remove))
        .with_state(gateway.clone());
    service::assemble(api, parts, &gateway.config.common, Some(models_admin))
}
