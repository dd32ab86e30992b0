//! The admin API every mock serves under `/__admin/` (WireMock-style), plus `/metrics`.
//!
//! Fault rules: `GET/POST/PUT/DELETE /__admin/faults`, `DELETE /__admin/faults/{name}`; the journal
//! `GET /__admin/journal?limit=N`; `GET /__admin/counters`; `POST /__admin/reset`. A service adds
//! its own admin routes (the gateway: `/__admin/models`) next to these. Errors use the envelope
//! `{"error":{"message","type","param","code"}}`.

pub(crate) mod guard;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::json;

use crate::faults::{FaultEngine, FaultRuleSpec, RuleError};
use crate::telemetry::Telemetry;

/// What the admin routes act on.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The service's fault rules.
    pub engine: Arc<FaultEngine>,
    /// The service's journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Extra reset work of the service (e.g. restoring configured models).
    pub on_reset: Arc<dyn Fn() + Send + Sync>,
}

/// An admin request that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// The body was not what the route takes.
    #[error("{0}")]
    BadBody(String),
    /// The rules were refused.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// No admin route has this path.
    #[error("No admin route {0}. See README.md, \"Admin API\".")]
    NoRoute(String),
    /// The admin route does not take this method.
    #[error("{0} is not allowed on {1}. See README.md, \"Admin API\".")]
    MethodNotAllowed(String, String),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::Rule(RuleError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Rule(_) => (StatusCode::BAD_REQUEST, "invalid_rule"),
            AdminError::BadBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            AdminError::NoRoute(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::MethodNotAllowed(..) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        };
        let body = json!({"error": {"message": self.to_string(), "type": "invalid_request_error", "param": null, "code": code}});
        (status, Json(body)).into_response()
    }
}

/// The admin routes of one service.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/__admin/faults", get(list_rules).post(add_rule).put(replace_rules).delete(clear_rules))
        .route("/__admin/faults/{name}", axum::routing::delete(remove_rule))
        .route("/__admin/journal", get(journal))
        .route("/__admin/counters", get(counters))
        .route("/__admin/reset", post(reset))
        .with_state(state)
}

/// Finishes a service's admin router (its own routes merged in): unknown admin paths and methods
/// answer in the admin error envelope, like every other admin error, and every request passes the
/// [`guard`] first.
pub(crate) fn with_fallbacks(router: Router, access: Arc<crate::config::AdminConfig>) -> Router {
    router
        .fallback(|uri: http::Uri| async move { AdminError::NoRoute(uri.path().to_owned()) })
        .method_not_allowed_fallback(|method: http::Method, uri: http::Uri| async move {
            AdminError::MethodNotAllowed(method.to_string(), uri.path().to_owned())
        })
        .layer(axum::middleware::from_fn_with_state(access, guard::guard))
}

/// `GET /metrics` for one service (mounted inside the fault layer so it can be faulted too).
pub(crate) async fn metrics(State(telemetry): State<Arc<Telemetry>>) -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], telemetry.prometheus()).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| AdminError::BadBody(format!("invalid {what}: {e}. See README.md, \"Fault rules\".")))
}

async fn list_rules(State(state): State<AdminState>) -> Json<serde_json::Value> {
    Json(json!({"rules": state.engine.list()}))
}

async fn add_rule(State(state): State<AdminState>, body: Bytes) -> Result<Response, AdminError> {
    let rule: FaultRuleSpec = parse(&body, "fault rule")?;
    state.engine.upsert(rule.clone())?;
    tracing::info!(service = state.telemetry.service(), rule = rule.name, "fault rule installed");
    Ok((StatusCode::CREATED, Json(json!({"rule": rule}))).into_response())
}

/// `PUT` takes `[rule, ...]` or `{"rules": [rule, ...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleList {
    Bare(Vec<FaultRuleSpec>),
    Wrapped { rules: Vec<FaultRuleSpec> },
}

async fn replace_rules(State(state): State<AdminState>, body: Bytes) -> Result<Json<serde_json::Value>, AdminError> {
    let rules = match parse::<RuleList>(&body, "rule list")? {
        RuleList::Bare(rules) | RuleList::Wrapped { rules } => rules,
    };
    state.engine.replace(rules)?;
    Ok(Json(json!({"rules": state.engine.list()})))
}

async fn clear_rules(State(state): State<AdminState>) -> StatusCode {
    state.engine.clear();
    StatusCode::NO_CONTENT
}

async fn remove_rule(State(state): State<AdminState>, Path(name): Path<String>) -> Result<StatusCode, AdminError> {
    state.engine.remove(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct JournalQuery {
    limit: Option<usize>,
}

async fn journal(
    State(state): State<AdminState>,
    query: Result<Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = match query {
        Ok(Query(q)) => q.limit.unwrap_or(100),
        Err(e) => {
            return AdminError::BadBody(format!("invalid query: {e}; use ?limit=N")).into_response();
        }
    };
    Json(json!({"entries": state.telemetry.journal(limit)})).into_response()
}

async fn counters(State(state): State<AdminState>) -> Json<crate::telemetry::CountersView> {
    Json(state.telemetry.counters())
}

async fn reset(State(state): State<AdminState>) -> StatusCode {
    state.engine.reset();
    state.telemetry.reset();
    (state.on_reset)();
    StatusCode::NO_CONTENT
}
