//! The two eras of MCP over Streamable HTTP and how a request is placed in one of them.
//!
//! Handshake era (2025-06-18, 2025-11-25): `initialize` issues an `Mcp-Session-Id` that every later
//! request carries (missing: 400, unknown: 404). Stateless era (2026-07-28): no session; every request
//! carries its version in `params._meta` and in the `MCP-Protocol-Version` header, which must agree.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use http::HeaderMap;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::jsonrpc::{HEADER_MISMATCH, INVALID_REQUEST, RpcError, UNSUPPORTED_PROTOCOL_VERSION};

/// Revisions reachable through `initialize`, oldest first.
pub(crate) const HANDSHAKE_VERSIONS: &[&str] = &["2025-06-18", "2025-11-25"];
/// Stateless revisions, oldest first.
pub(crate) const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// `_meta` key carrying the protocol version.
pub(super) const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the server identity in discover results.
pub(super) const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";
/// Session header.
pub(super) const SESSION_HEADER: &str = "mcp-session-id";
/// Version header.
pub(super) const VERSION_HEADER: &str = "mcp-protocol-version";
/// Method header (stateless era).
pub(super) const METHOD_HEADER: &str = "mcp-method";
/// Name header for `tools/call` (stateless era).
pub(super) const NAME_HEADER: &str = "mcp-name";

/// Every revision served, oldest first.
pub(super) fn supported_versions() -> Vec<&'static str> {
    HANDSHAKE_VERSIONS.iter().chain(MODERN_VERSIONS).copied().collect()
}

/// Which era a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Era {
    /// A handshake session at this version.
    Session {
        /// The session id.
        id: String,
        /// The negotiated version.
        version: String,
    },
    /// A stateless request at this version.
    Stateless {
        /// The version from `_meta` and the header.
        version: String,
    },
    /// `initialize` or `server/discover`: the era is being chosen.
    Negotiation,
}

impl Era {
    /// Whether results must carry the 2026 fields (`resultType`, cache hints).
    pub(super) fn is_modern(&self) -> bool {
        matches!(self, Era::Stateless { .. })
    }
}

/// A refusal before any method runs: the HTTP status and the JSON-RPC error.
pub(super) type Refusal = (http::StatusCode, RpcError);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

struct Session {
    version: String,
    /// When it was last used, with a sequence number so equal instants still order.
    last_used: (Instant, u64),
    /// Used by a request since `initialize`.
    used: bool,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Session>,
    /// Sessions no request has used since `initialize`, oldest first: evicted first.
    fresh: BTreeMap<(Instant, u64), String>,
    /// Sessions in use, least recently used first.
    in_use: BTreeMap<(Instant, u64), String>,
    sequence: u64,
}

impl Table {
    fn stamp(&mut self) -> (Instant, u64) {
        self.sequence += 1;
        (Instant::now(), self.sequence)
    }

    fn order(&mut self, used: bool) -> &mut BTreeMap<(Instant, u64), String> {
        if used { &mut self.in_use } else { &mut self.fresh }
    }

    fn remove(&mut self, id: &str) -> Option<Session> {
        let session = self.by_id.remove(id)?;
        self.order(session.used).remove(&session.last_used);
        Some(session)
    }

    /// Drops sessions idle longer than `idle`.
    fn expire(&mut self, idle: Duration) {
        let now = Instant::now();
        for used in [false, true] {
            while let Some((&stamp, _)) = self.order(used).first_key_value() {
                if now.saturating_duration_since(stamp.0) < idle {
                    break;
                }
                if let Some(id) = self.order(used).remove(&stamp) {
                    self.by_id.remove(&id);
                }
            }
        }
    }

    /// Drops one session: the oldest never used, else the least recently used.
    fn evict_one(&mut self) -> bool {
        let Some((_, id)) = self.fresh.pop_first().or_else(|| self.in_use.pop_first()) else { return false };
        self.by_id.remove(&id);
        true
    }
}

/// Handshake sessions, bounded: a session idle for `idle` expires, and past capacity the oldest
/// session nobody used since `initialize` is dropped first, then the least recently used, so a
/// flood of `initialize` calls evicts its own sessions before any a client is using. Every
/// operation is O(log n).
pub(super) struct Sessions {
    capacity: usize,
    idle: Duration,
    table: Mutex<Table>,
}

impl Sessions {
    /// An empty table holding at most `capacity` sessions, each expiring after `idle` unused.
    pub(super) fn new(capacity: usize, idle: Duration) -> Self {
        Sessions { capacity: capacity.max(1), idle, table: Mutex::new(Table::default()) }
    }

    /// Opens a session; returns its id.
    pub(super) fn open(&self, version: &str) -> String {
        let id: String = format!("{:032x}", rand::rng().random::<u128>());
        let mut table = self.table.lock();
        table.expire(self.idle);
        while table.by_id.len() >= self.capacity && table.evict_one() {}
        let last_used = table.stamp();
        table.fresh.insert(last_used, id.clone());
        table.by_id.insert(id.clone(), Session { version: version.to_owned(), last_used, used: false });
        id
    }

    /// Ends a session; false when unknown.
    pub(super) fn close(&self, id: &str) -> bool {
        self.table.lock().remove(id).is_some()
    }

    /// How many are open.
    pub(super) fn len(&self) -> usize {
        let mut table = self.table.lock();
        table.expire(self.idle);
        table.by_id.len()
    }

    /// Ends every session.
    pub(super) fn clear(&self) {
        *self.table.lock() = Table::default();
    }

    /// Whether a session is open, without marking it used (a notification is not a use).
    pub(super) fn contains(&self, id: &str) -> bool {
        let mut table = self.table.lock();
        table.expire(self.idle);
        table.by_id.contains_key(id)
    }

    /// The session's version, marking it used; `None` when unknown or expired.
    fn version(&self, id: &str) -> Option<String> {
        let mut table = self.table.lock();
        table.expire(self.idle);
        let stamp = table.stamp();
        let session = table.by_id.get_mut(id)?;
        let (previous, was_used) = (std::mem::replace(&mut session.last_used, stamp), session.used);
        session.used = true;
        let version = session.version.clone();
        table.order(was_used).remove(&previous);
        table.in_use.insert(stamp, id.to_owned());
        Some(version)
    }
}

/// The version a stateless request states in `params._meta`.
fn meta_version(params: &Map<String, Value>) -> Option<&str> {
    params.get("_meta")?.get(VERSION_META)?.as_str()
}

fn unsupported(requested: &str) -> Refusal {
    let mut error = RpcError::new(UNSUPPORTED_PROTOCOL_VERSION, format!("Unsupported protocol version: {requested}"));
    error.data = Some(json!({"supported": supported_versions(), "requested": requested}));
    (http::StatusCode::BAD_REQUEST, error)
}

/// Checks the 2026 envelope: the `_meta` version is supported and matches the header (and the
/// method and name headers, when sent, match the body).
fn stateless(headers: &HeaderMap, method: &str, params: &Map<String, Value>, version: &str) -> Result<Era, Refusal> {
    let mismatch = |what: String| (http::StatusCode::BAD_REQUEST, RpcError::new(HEADER_MISMATCH, what));
    match header(headers, VERSION_HEADER) {
        Some(h) if h == version => {}
        Some(h) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header `{h}` does not match _meta version `{version}`"
            )));
        }
        None => return Err(mismatch("MCP-Protocol-Version header is required on stateless requests".into())),
    }
    if !MODERN_VERSIONS.contains(&version) {
        return Err(unsupported(version));
    }
    // The standard request headers are required, and must match the body.
    match header(headers, METHOD_HEADER) {
        Some(h) if h == method => {}
        Some(h) => return Err(mismatch(format!("Mcp-Method header `{h}` does not match method `{method}`"))),
        None => return Err(mismatch(format!("Mcp-Method header is required (here: `{method}`)"))),
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => None,
    };
    if let Some(name) = named {
        match header(headers, NAME_HEADER).map(decode_header_value) {
            Some(Some(h)) if h == name => {}
            Some(Some(h)) => return Err(mismatch(format!("Mcp-Name header `{h}` does not match `{name}`"))),
            Some(None) => {
                return Err(mismatch("Mcp-Name header is not valid Base64 in its =?base64?...?= form".into()));
            }
            None => return Err(mismatch(format!("Mcp-Name header is required for {method} (here: `{name}`)"))),
        }
    }
    Ok(Era::Stateless { version: version.to_owned() })
}

/// A header value as sent: plain, or in the `=?base64?...?=` form for values a header cannot carry
/// as they are (`None`: not valid Base64 or not UTF-8).
fn decode_header_value(value: &str) -> Option<String> {
    use base64::Engine;
    match value.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok(),
        None => Some(value.to_owned()),
    }
}

/// Places a request in its era, or refuses it.
pub(super) fn classify(
    headers: &HeaderMap,
    method: &str,
    params: &Map<String, Value>,
    sessions: &Sessions,
) -> Result<Era, Refusal> {
    if method == "initialize" {
        return Ok(Era::Negotiation);
    }
    if method == "server/discover" {
        let version = meta_version(params).or_else(|| header(headers, VERSION_HEADER)).unwrap_or(MODERN_VERSIONS[0]);
        if !MODERN_VERSIONS.contains(&version) {
            return Err(unsupported(version));
        }
        return Ok(Era::Negotiation);
    }
    // A stateless request is one whatever stray session header it carries: that is ignored.
    if let Some(version) = meta_version(params).filter(|v| MODERN_VERSIONS.contains(v)) {
        return stateless(headers, method, params, version);
    }
    if let Some(id) = header(headers, SESSION_HEADER) {
        let Some(version) = sessions.version(id) else {
            let error =
                RpcError::new(INVALID_REQUEST, "Session not found: it expired or was ended. Initialize a new session.");
            return Err((http::StatusCode::NOT_FOUND, error));
        };
        if let Some(h) = header(headers, VERSION_HEADER)
            && !HANDSHAKE_VERSIONS.contains(&h)
        {
            return Err((
                http::StatusCode::BAD_REQUEST,
                RpcError::new(INVALID_REQUEST, format!("Unsupported MCP-Protocol-Version: {h}")),
            ));
        }
        return Ok(Era::Session { id: id.to_owned(), version });
    }
    if let Some(version) = meta_version(params) {
        return stateless(headers, method, params, version);
    }
    let error = RpcError::new(
        INVALID_REQUEST,
        "Bad Request: Mcp-Session-Id header is required (send initialize first), or use the stateless 2026-07-28 envelope.",
    );
    Err((http::StatusCode::BAD_REQUEST, error))
}

/// The version `initialize` settles on: the client's when supported, else the latest.
pub(super) fn negotiate(requested: Option<&str>) -> &'static str {
    HANDSHAKE_VERSIONS
        .iter()
        .find(|v| Some(**v) == requested)
        .copied()
        .unwrap_or(HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1])
}
