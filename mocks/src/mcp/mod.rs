//! The mock MCP tool server: the Model Context Protocol over Streamable HTTP at `/mcp`, in both the
//! handshake era and the stateless 2026-07-28 era, with file, git and web tools over a sandbox, a
//! tool concurrency limit, and per-tool faults from the shared engine (matched by tool name).
//!
//! Implemented directly on axum rather than with `rmcp`: the fault layer must see and answer raw
//! JSON-RPC (errors echoing the request id, latency inside the concurrency slot), and the sandbox
//! must count refusals, which is simplest with the protocol in our own hands.

mod era;
mod jsonrpc;
mod methods;
pub(crate) mod sandbox;
mod tools;

pub(crate) use era::{HANDSHAKE_VERSIONS, MODERN_VERSIONS};
pub(crate) use tools::TOOLS;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{ACCEPT, CONTENT_TYPE, ORIGIN};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::config::McpConfig;
use crate::faults::{ErrorSpec, FaultEngine, InjectedLatency, RuleError, ServiceProtocol};
use crate::json_body::{BodyError, json_value};
use crate::service::{self, ApiRoutes, MockService, ServiceParts};
use crate::telemetry::Telemetry;
use era::Sessions;
use jsonrpc::{INTERNAL_ERROR, INVALID_REQUEST, Incoming, PARSE_ERROR, RpcError};
use sandbox::Sandbox;

/// One running MCP server's state.
pub struct Mcp {
    /// Its configuration.
    pub config: McpConfig,
    /// Journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Fault rules.
    pub engine: Arc<FaultEngine>,
    /// The tool sandbox.
    pub sandbox: Sandbox,
    sessions: Sessions,
    slots: Arc<Semaphore>,
    pages: BTreeMap<String, String>,
}

impl Mcp {
    /// An MCP server for `config`.
    pub fn new(config: McpConfig, seed: u64) -> Result<Arc<Self>, RuleError> {
        Ok(Arc::new(Mcp {
            telemetry: Arc::new(Telemetry::new("mcp", config.common.journal_capacity)),
            engine: Arc::new(FaultEngine::new(config.common.faults.clone(), seed)?),
            sandbox: sandbox::default_sandbox(sandbox::Limits {
                max_file_bytes: config.max_file_bytes,
                max_total_bytes: config.max_sandbox_bytes,
            }),
            sessions: Sessions::new(
                config.session_capacity,
                std::time::Duration::from_secs(config.session_idle_seconds),
            ),
            slots: Arc::new(Semaphore::new(config.max_concurrent_tools)),
            pages: config.web_pages.clone(),
            config,
        }))
    }

    /// Open handshake sessions.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    fn reset(&self) {
        self.sandbox.reset();
        self.sessions.clear();
    }
}

/// How the client wants the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    EventStream,
}

/// Picks JSON or SSE from `Accept` by q-value (JSON wins ties); `None` when neither is acceptable.
fn negotiate_format(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else { return Some(Format::Json) };
    let (mut json, mut sse) = (0.0f32, 0.0f32);
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json = json.max(q),
            "text/event-stream" => sse = sse.max(q),
            "*/*" | "application/*" => json = json.max(q),
            _ => {}
        }
    }
    if json > 0.0 && json >= sse {
        Some(Format::Json)
    } else if sse > 0.0 {
        Some(Format::EventStream)
    } else {
        None
    }
}

/// One JSON-RPC message as an HTTP answer in the chosen format.
fn answer(
    status: StatusCode,
    message: Value,
    format: Format,
    session: Option<&str>,
    error_code: Option<i64>,
) -> Response {
    let mut response = match format {
        Format::Json => (status, Json(message)).into_response(),
        Format::EventStream => {
            let body = format!("event: message\ndata: {message}\n\n");
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = status;
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            // Reverse proxies must not buffer the stream (the spec's advice for SSE answers).
            r.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
            r
        }
    };
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        response.headers_mut().insert(era::SESSION_HEADER, id);
    }
    if let Some(code) = error_code {
        response
            .extensions_mut()
            .insert(crate::faults::ResponseNote { attribute: None, error_code: Some(code.to_string()) });
    }
    response
}

fn refuse(status: StatusCode, id: &Value, error: RpcError) -> Response {
    let code = error.code;
    answer(status, error.to_message(id), Format::Json, None, Some(code))
}

fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = origin.split("://").nth(1).unwrap_or(origin).split(['/', ':']).next().unwrap_or("");
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || allowed.iter().any(|a| a == origin)
}

async fn post_mcp(State(mcp): State<Arc<Mcp>>, request: Request) -> Response {
    let headers = request.headers().clone();
    if !origin_allowed(&headers, &mcp.config.allowed_origins) {
        return refuse(
            StatusCode::FORBIDDEN,
            &Value::Null,
            RpcError::new(INVALID_REQUEST, "Forbidden: Origin not allowed"),
        );
    }
    let Some(format) = negotiate_format(&headers) else {
        let error = RpcError::new(INVALID_REQUEST, "Not Acceptable: accept application/json or text/event-stream");
        return refuse(StatusCode::NOT_ACCEPTABLE, &Value::Null, error);
    };
    let latency = request.extensions().get::<InjectedLatency>().cloned().unwrap_or_default();
    let value = match json_value(request, mcp.config.common.max_body_bytes).await {
        Ok(value) => value,
        Err(e) => {
            let code = if matches!(e, BodyError::Unparseable(_)) { PARSE_ERROR } else { INVALID_REQUEST };
            let status = e.status();
            let message = if code == PARSE_ERROR { format!("Parse error: {e}") } else { e.to_string() };
            return refuse(status, &Value::Null, RpcError::new(code, message));
        }
    };
    let (id, method, params) = match jsonrpc::parse(&value) {
        Err((id, error)) => return refuse(StatusCode::BAD_REQUEST, &id, error),
        Ok(Incoming::Response) => return StatusCode::ACCEPTED.into_response(),
        Ok(Incoming::Notification) => {
            let session = headers.get(era::SESSION_HEADER).and_then(|v| v.to_str().ok());
            if let Some(id) = session
                && !mcp.sessions.contains(id)
            {
                let error = RpcError::new(INVALID_REQUEST, format!("Session not found: {id}"));
                return refuse(StatusCode::NOT_FOUND, &Value::Null, error);
            }
            return StatusCode::ACCEPTED.into_response();
        }
        Ok(Incoming::Request { id, method, params }) => (id, method, params),
    };
    let era = match era::classify(&headers, &method, &params, &mcp.sessions) {
        Ok(era) => era,
        Err((status, error)) => return refuse(status, &id, error),
    };
    let modern = era.is_modern() || method == "server/discover";
    let outcome = match methods::Method::parse(&method, params) {
        Ok(parsed) => parsed.execute(&mcp, &era, latency).await,
        Err(invalid) => {
            // A fired latency rule adds its delay to every answer, a refusal of the params too.
            crate::faults::hold(latency.duration, &latency.release).await;
            Err(invalid)
        }
    };
    match outcome {
        Ok(methods::Answer { result, new_session }) => {
            answer(StatusCode::OK, jsonrpc::result_message(&id, result), format, new_session.as_deref(), None)
        }
        Err(error) => {
            let status =
                if modern && error.code == jsonrpc::METHOD_NOT_FOUND { StatusCode::NOT_FOUND } else { StatusCode::OK };
            let code = error.code;
            answer(status, error.to_message(&id), format, None, Some(code))
        }
    }
}

async fn delete_mcp(State(mcp): State<Arc<Mcp>>, headers: HeaderMap) -> Response {
    match headers.get(era::SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        None => refuse(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            RpcError::new(INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"),
        ),
        Some(id) if mcp.sessions.close(id) => StatusCode::OK.into_response(),
        Some(id) => refuse(
            StatusCode::NOT_FOUND,
            &Value::Null,
            RpcError::new(INVALID_REQUEST, format!("Session not found: {id}")),
        ),
    }
}

async fn get_mcp() -> Response {
    let mut response = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        &Value::Null,
        RpcError::new(
            INVALID_REQUEST,
            "Method Not Allowed: this server opens no server-to-client stream; POST requests to /mcp",
        ),
    );
    response.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    response
}

/// Any other method on a known path: 405 in the JSON-RPC shape, with `Allow`.
fn wrong_method(allow: &'static str) -> impl Fn(Request) -> std::future::Ready<Response> + Clone {
    move |request: Request| {
        let message = format!("Method Not Allowed: {} {} (allowed: {allow})", request.method(), request.uri().path());
        let mut response =
            refuse(StatusCode::METHOD_NOT_ALLOWED, &Value::Null, RpcError::new(INVALID_REQUEST, message));
        response.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static(allow));
        std::future::ready(response)
    }
}

async fn health(State(mcp): State<Arc<Mcp>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "service": "mcp",
        "tools": TOOLS.len(),
        "sessions": mcp.open_sessions(),
        "sandbox_bytes": mcp.sandbox.bytes(),
    }))
}

async fn fallback(request: Request) -> Response {
    let status = StatusCode::NOT_FOUND;
    let message = format!("No route {} {}. The MCP endpoint is POST /mcp.", request.method(), request.uri().path());
    refuse(status, &Value::Null, RpcError::new(INVALID_REQUEST, message))
}

/// The MCP server's hooks into the shared fault layer.
struct McpProtocol;

impl ServiceProtocol for McpProtocol {
    /// The tool name for `tools/call`, else the method name.
    fn attribute(&self, _parts: &http::request::Parts, body: &[u8]) -> Option<String> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let method = value.get("method")?.as_str()?;
        match method {
            "tools/call" => value.get("params")?.get("name")?.as_str().map(str::to_owned),
            other => Some(other.to_owned()),
        }
    }

    fn injected_error(&self, error: &ErrorSpec, body: &[u8]) -> Response {
        let id = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("id").cloned()).unwrap_or(Value::Null);
        let code = error.code.as_deref().and_then(|c| c.parse::<i64>().ok()).unwrap_or(INTERNAL_ERROR);
        let message = error.message.clone().unwrap_or_else(|| match error.status {
            429 | 503 => "Server busy: try again later".to_owned(),
            _ => "Internal error: the tool server failed".to_owned(),
        });
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = refuse(status, &id, RpcError::new(code, message));
        if let Some(seconds) = error.retry_after
            && let Ok(v) = HeaderValue::from_str(&format!("{}", seconds.ceil() as u64))
        {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        response
    }

    fn always_buffer_body(&self) -> bool {
        true
    }

    fn latency_inside(&self) -> bool {
        true
    }
}

/// The MCP server's complete router.
pub fn router(mcp: Arc<Mcp>) -> MockService {
    let api = ApiRoutes::new()
        .route("/health", get(health).fallback(wrong_method("GET")))
        .route("/mcp", post(post_mcp).delete(delete_mcp).get(get_mcp).fallback(wrong_method("POST, DELETE")))
        .with_state(mcp.clone())
        .fallback(fallback);
    let reset_target = mcp.clone();
    let parts = ServiceParts {
        engine: mcp.engine.clone(),
        telemetry: mcp.telemetry.clone(),
        protocol: Arc::new(McpProtocol),
        on_reset: Arc::new(move || reset_target.reset()),
    };
    service::assemble(api, parts, &mcp.config.common, None)
}
