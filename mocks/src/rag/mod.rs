//! The mock RAG service: document indexing and retrieval over an in-memory vector collection,
//! with capacity limits and backend failure modes (vector-store timeouts, database errors, index
//! lock contention) injected through the shared fault engine.
//!
//! Routes: `POST /v1/index`, `DELETE /v1/documents/{id}`, `GET /v1/collections`, `POST /v1/query`,
//! `GET /health`, `GET /metrics`, and the shared `/__admin` API.

mod corpus;
mod embed;
mod errors;
mod store;

pub(crate) use corpus::CorpusError;
pub(crate) use errors::RagError;
pub(crate) use store::{NewDocument, Store, StoreLimits};

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::config::RagConfig;
use crate::faults::{ErrorSpec, FaultEngine, RuleError, ServiceProtocol};
use crate::json_body::json_object;
use crate::service::{self, ApiRoutes, MockService, ServiceParts};
use crate::telemetry::Telemetry;

/// Why the RAG service could not start.
#[derive(Debug, thiserror::Error)]
pub enum RagStartError {
    /// A fault rule was refused.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// The seed corpus could not be loaded.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The seed corpus does not fit the capacity.
    #[error("the seed corpus does not fit: {0}")]
    Capacity(#[from] store::StoreError),
}

/// One running RAG service's state.
pub struct Rag {
    /// Its configuration.
    pub config: RagConfig,
    /// The collection.
    pub store: Store,
    /// Journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Fault rules.
    pub engine: Arc<FaultEngine>,
    seed_documents: Vec<NewDocument>,
}

impl Rag {
    /// A RAG service for `config`, with its seed corpus indexed.
    pub fn new(config: RagConfig, seed: u64) -> Result<Arc<Self>, RagStartError> {
        let seed_documents = match &config.seed_corpus {
            Some(spec) => corpus::load(spec)?,
            None => Vec::new(),
        };
        let store = Store::new(StoreLimits {
            dimensions: config.dimensions,
            chunk_words: config.chunk_words,
            chunk_overlap: config.chunk_overlap,
            max_documents: config.max_documents,
            max_bytes: config.max_bytes,
        });
        store.upsert(seed_documents.clone())?;
        Ok(Arc::new(Rag {
            telemetry: Arc::new(Telemetry::new("rag", config.common.journal_capacity)),
            engine: Arc::new(FaultEngine::new(config.common.faults.clone(), seed)?),
            store,
            config,
            seed_documents,
        }))
    }

    /// Empties the collection and indexes the seed corpus again.
    pub fn reseed(&self) {
        self.store.clear();
        let _ = self.store.upsert(self.seed_documents.clone());
    }
}

/// The RAG service's hooks into the shared fault layer.
struct RagProtocol;

impl ServiceProtocol for RagProtocol {
    fn attribute(&self, _parts: &http::request::Parts, _body: &[u8]) -> Option<String> {
        None
    }

    fn injected_error(&self, error: &ErrorSpec, _body: &[u8]) -> Response {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = match (error.code.as_deref(), error.status) {
            (Some("vector_store_timeout"), _) | (None, 504) => {
                ("vector_store_timeout", "The vector store did not answer in time (timeout after 30s). Retry later.")
            }
            (Some("db_error"), _) | (None, 500) => {
                ("db_error", "The document database failed: connection to the metadata store was lost.")
            }
            (Some(code), _) => (code, "The RAG backend failed."),
            (None, 503) => ("unavailable", "The RAG service is overloaded. Retry later."),
            (None, 429) => ("rate_limited", "Too many requests. Retry later."),
            (None, _) => ("injected_error", "The request was rejected by an injected fault."),
        };
        let mut rag = RagError::new(status, kind, error.message.clone().unwrap_or_else(|| message.to_owned()));
        rag.retry_after = error.retry_after;
        rag.into_response()
    }
}

fn body_error(e: crate::json_body::BodyError) -> Response {
    RagError::from(e).into_response()
}

async fn health(State(rag): State<Arc<Rag>>) -> Json<Value> {
    Json(json!({"status": "ok", "service": "rag", "documents": rag.store.stats().documents}))
}

/// Refuses fields a request type does not have (a typo would otherwise change nothing).
fn known_fields(body: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), RagError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(field) => Err(RagError::invalid(format!(
            "Unknown field '{field}' in {what}; it takes: {}.",
            known.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
        ))),
        None => Ok(()),
    }
}

fn documents(body: &Map<String, Value>) -> Result<Vec<NewDocument>, RagError> {
    known_fields(body, &["documents"], "an index request")?;
    let items = match body.get("documents") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(RagError::invalid("'documents' is empty: send at least one document.")),
        Some(_) => return Err(RagError::invalid("'documents' must be an array of {id, text, metadata}.")),
        None => {
            return Err(RagError::invalid(
                "Missing 'documents': send {\"documents\": [{\"id\", \"text\", \"metadata\"}]}.",
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Some(fields) = item.as_object() else {
                return Err(RagError::invalid(format!("documents[{i}] must be an object {{id, text, metadata}}.")));
            };
            known_fields(fields, &["id", "text", "metadata"], &format!("documents[{i}]"))?;
            let id = match item.get("id") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(RagError::invalid(format!("documents[{i}].id must be a non-empty string."))),
            };
            let text = match item.get("text") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => return Err(RagError::invalid(format!("documents[{i}].text must be a non-empty string."))),
            };
            let metadata = match item.get("metadata") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(RagError::invalid(format!("documents[{i}].metadata must be an object."))),
            };
            Ok(NewDocument { id, text, metadata })
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|batch| {
            let mut seen = std::collections::HashMap::new();
            for (i, d) in batch.iter().enumerate() {
                if let Some(first) = seen.insert(d.id.as_str(), i) {
                    return Err(RagError::invalid(format!(
                        "documents[{i}].id '{}' repeats documents[{first}].id: one batch indexes each id once.",
                        d.id
                    )));
                }
            }
            Ok(batch)
        })
}

async fn index(State(rag): State<Arc<Rag>>, request: Request) -> Response {
    let body = match json_object(request, rag.config.common.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return body_error(e),
    };
    let batch = match documents(&body) {
        Ok(batch) => batch,
        Err(e) => return e.into_response(),
    };
    match rag.store.upsert(batch) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => RagError::new(StatusCode::INSUFFICIENT_STORAGE, "capacity_exceeded", e.to_string()).into_response(),
    }
}

async fn query(State(rag): State<Arc<Rag>>, request: Request) -> Response {
    let body = match json_object(request, rag.config.common.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return body_error(e),
    };
    let started = std::time::Instant::now();
    if let Err(e) = known_fields(&body, &["query", "top_k", "filter"], "a query") {
        return e.into_response();
    }
    let text = match body.get("query") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => return RagError::invalid("'query' must be a non-empty string.").into_response(),
    };
    let max = rag.config.max_top_k;
    let top_k = match body.get("top_k") {
        None | Some(Value::Null) => 5,
        Some(v) => match v.as_u64() {
            Some(k) if (1..=max as u64).contains(&k) => k as usize,
            _ => return RagError::invalid(format!("'top_k' must be an integer from 1 to {max}.")).into_response(),
        },
    };
    let empty = Map::new();
    let filter = match body.get("filter") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(f)) => f,
        Some(_) => {
            return RagError::invalid("'filter' must be an object of metadata key/value pairs to match exactly.")
                .into_response();
        }
    };
    let results = rag.store.query(text, top_k, filter);
    Json(json!({"results": results, "took_ms": started.elapsed().as_secs_f64() * 1000.0})).into_response()
}

async fn remove(State(rag): State<Arc<Rag>>, Path(id): Path<String>) -> Response {
    if rag.store.delete(&id) {
        Json(json!({"deleted": id})).into_response()
    } else {
        RagError::new(StatusCode::NOT_FOUND, "not_found", format!("No document `{id}`.")).into_response()
    }
}

async fn collections(State(rag): State<Arc<Rag>>) -> Json<Value> {
    Json(json!({"collections": [rag.store.stats()]}))
}

async fn not_found(request: Request) -> RagError {
    RagError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "No route {} {}. Routes: POST /v1/index, POST /v1/query, DELETE /v1/documents/{{id}}, GET /v1/collections.",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> RagError {
    RagError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Method {} is not allowed on {}.", request.method(), request.uri().path()),
    )
}

/// The RAG service's complete router.
pub fn router(rag: Arc<Rag>) -> MockService {
    let api = ApiRoutes::new()
        .route("/health", get(health))
        .route("/v1/index", post(index))
        .route("/v1/query", post(query))
        .route("/v1/documents/{id}", delete(remove))
        .route("/v1/collections", get(collections))
        .with_state(rag.clone())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let reseed = rag.clone();
    let parts = ServiceParts {
        engine: rag.engine.clone(),
        telemetry: rag.telemetry.clone(),
        protocol: Arc::new(RagProtocol),
        on_reset: Arc::new(move || reseed.reseed()),
    };
    service::assemble(api, parts, &rag.config.common, None)
}
