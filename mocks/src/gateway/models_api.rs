//! `GET /v1/models`, `GET /v1/models/{id}`, and the gateway's own admin routes for models
//! (`/__admin/models`): add, replace or remove served models at run time.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::Gateway;
use super::errors::ApiError;
use crate::config::ModelSpec;

fn model_object(name: &str, spec: &ModelSpec) -> Value {
    json!({"id": name, "object": "model", "created": 1_700_000_000u64, "owned_by": spec.owned_by})
}

/// `GET /v1/models`.
pub(super) async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    // Every name a model answers to is listed, its aliases as models of their own, as routers
    // and gateways list them.
    let data: Vec<Value> = gateway
        .registry
        .all()
        .iter()
        .flat_map(|m| std::iter::once(&m.spec.id).chain(&m.spec.aliases).map(|name| model_object(name, &m.spec)))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{id}`.
pub(super) async fn retrieve(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match gateway.registry.get(&id) {
        Some(model) => Ok(Json(model_object(&id, &model.spec))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{id}` does not exist or you do not have access to it."),
            Some("model"),
            Some("model_not_found"),
        )),
    }
}

/// The most models a gateway serves (configured and added at run time).
pub(super) const MAX_MODELS: usize = 1000;

/// `GET /__admin/models`: full specs.
pub(super) async fn admin_list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let models: Vec<ModelSpec> = gateway.registry.all().iter().map(|m| m.spec.clone()).collect();
    Json(json!({"models": models}))
}

/// `POST /__admin/models`: add or replace one model (a [`ModelSpec`] as JSON).
pub(super) async fn admin_upsert(State(gateway): State<Arc<Gateway>>, body: axum::body::Bytes) -> Response {
    let spec: ModelSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => {
            return ApiError::invalid(
                format!("Invalid model: {e}. Send a model object as documented in README.md."),
                None,
                Some("invalid_body"),
            )
            .into_response();
        }
    };
    if let Some((field, message)) = spec.problems().into_iter().next() {
        return ApiError::invalid(
            format!("Invalid model `{}`: {field}: {message}", spec.id),
            Some(field),
            Some("invalid_value"),
        )
        .into_response();
    }
    if gateway.registry.get(&spec.id).is_none() && gateway.registry.len() >= MAX_MODELS {
        return ApiError::invalid(
            format!("This gateway serves at most {MAX_MODELS} models; remove one first."),
            None,
            Some("too_many_models"),
        )
        .into_response();
    }
    tracing::info!(model = %spec.id.escape_debug(), "model added at run time");
    gateway.registry.upsert(spec.clone());
    (StatusCode::CREATED, Json(json!({"model": spec}))).into_response()
}

/// `DELETE /__admin/models/{id}`.
pub(super) async fn admin_remove(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    if gateway.registry.remove(&id) {
        tracing::info!(model = %id.escape_debug(), "model removed at run time");
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No served model `{id}`."),
            None,
            Some("model_not_found"),
        )
        .into_response()
    }
}
