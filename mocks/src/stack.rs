//! Starting and stopping the mock services: one at a time (what a container runs) or the whole
//! stack in-process (what `mocks serve`, tests and loadsuite's `--embedded` mode use).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::ServeOptions;
use crate::service::MockService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MocksConfig;
use crate::faults::RuleError;
use crate::gateway::{self, Gateway};
use crate::mcp::{self, Mcp};
use crate::rag::{self, Rag, RagStartError};

/// The services this crate can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ServiceKind {
    /// The OpenAI-compatible gateway (default port 8000).
    Gateway,
    /// The RAG service (default port 8002).
    Rag,
    /// The MCP tool server (default port 8020).
    Mcp,
}

impl ServiceKind {
    /// Every service, in start order.
    pub const ALL: [ServiceKind; 3] = [ServiceKind::Gateway, ServiceKind::Rag, ServiceKind::Mcp];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Gateway => "gateway",
            ServiceKind::Rag => "rag",
            ServiceKind::Mcp => "mcp",
        }
    }

    /// The default listen address.
    pub fn default_addr(self) -> SocketAddr {
        match self {
            ServiceKind::Gateway => SocketAddr::from(([127, 0, 0, 1], 8000)),
            ServiceKind::Rag => SocketAddr::from(([127, 0, 0, 1], 8002)),
            ServiceKind::Mcp => SocketAddr::from(([127, 0, 0, 1], 8020)),
        }
    }
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The address could not be bound.
    #[error(
        "cannot listen on {addr} for the {service}: {source}. Is another process using the port? Pick another with --{service}-addr."
    )]
    Bind {
        /// The service.
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A configured fault rule was refused.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// The RAG service could not start (corpus, capacity).
    #[error(transparent)]
    Rag(#[from] RagStartError),
}

/// The state of a running service, for tests and embedding.
#[derive(Clone)]
pub enum ServiceState {
    /// The gateway.
    Gateway(Arc<Gateway>),
    /// The RAG service.
    Rag(Arc<Rag>),
    /// The MCP server.
    Mcp(Arc<Mcp>),
}

/// A running service.
pub struct RunningService {
    /// Which one.
    pub kind: ServiceKind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its admin API listens, when on its own address.
    pub admin_addr: Option<SocketAddr>,
    /// Its state.
    pub state: ServiceState,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl ServiceState {
    /// The service's journal and counters.
    pub fn telemetry(&self) -> Arc<crate::telemetry::Telemetry> {
        match self {
            ServiceState::Gateway(g) => g.telemetry.clone(),
            ServiceState::Rag(r) => r.telemetry.clone(),
            ServiceState::Mcp(m) => m.telemetry.clone(),
        }
    }
}

impl RunningService {
    /// The gateway's state, when this is the gateway.
    pub fn gateway(&self) -> Option<Arc<Gateway>> {
        match &self.state {
            ServiceState::Gateway(g) => Some(g.clone()),
            _ => None,
        }
    }

    /// The MCP server's state, when this is it.
    pub fn mcp(&self) -> Option<Arc<Mcp>> {
        match &self.state {
            ServiceState::Mcp(m) => Some(m.clone()),
            _ => None,
        }
    }

    /// The RAG service's state, when this is it.
    pub fn rag(&self) -> Option<Arc<Rag>> {
        match &self.state {
            ServiceState::Rag(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A service ready to serve: its router, its state, and what its startup line tells.
struct Built {
    router: MockService,
    state: ServiceState,
    summary: String,
}

fn build(kind: ServiceKind, config: &MocksConfig) -> Result<Built, StackError> {
    match kind {
        ServiceKind::Gateway => {
            let gw = Gateway::new(config.gateway.clone(), config.seed)?;
            let summary = format!("models={}", gw.model_ids().join(","));
            Ok(Built { router: gateway::router(gw.clone()), state: ServiceState::Gateway(gw), summary })
        }
        ServiceKind::Rag => {
            let service = Rag::new(config.rag.clone(), config.seed)?;
            let stats = service.store.stats();
            let summary =
                format!("documents={} chunks={} dimensions={}", stats.documents, stats.chunks, stats.dimensions);
            Ok(Built { router: rag::router(service.clone()), state: ServiceState::Rag(service), summary })
        }
        ServiceKind::Mcp => {
            let service = Mcp::new(config.mcp.clone(), config.seed)?;
            let summary = format!(
                "endpoint=/mcp tools={} max_concurrent_tools={} versions={}",
                mcp::TOOLS.len(),
                config.mcp.max_concurrent_tools,
                mcp::HANDSHAKE_VERSIONS.iter().chain(mcp::MODERN_VERSIONS).copied().collect::<Vec<_>>().join(",")
            );
            Ok(Built { router: mcp::router(service.clone()), state: ServiceState::Mcp(service), summary })
        }
    }
}

/// Serves one service on an already bound listener (and its admin API on `admin`, when given)
/// until `shutdown` is cancelled.
pub fn spawn(
    kind: ServiceKind,
    config: &MocksConfig,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: CancellationToken,
    options: &ServeOptions,
) -> Result<RunningService, StackError> {
    let Built { router, state, summary } = build(kind, config)?;
    let options = ServeOptions { telemetry: Some(state.telemetry()), ..options.clone() };
    let local = |l: &TcpListener| {
        l.local_addr().map_err(|source| StackError::Bind { service: kind.name(), addr: kind.default_addr(), source })
    };
    let addr = local(&listener)?;
    let admin_addr = admin.as_ref().map(local).transpose()?;
    tracing::info!(service = kind.name(), %addr, "listening; {summary}");
    let exposed = |a: SocketAddr| !a.ip().is_loopback();
    if config.admin.token.is_none() && (exposed(admin_addr.unwrap_or(addr))) {
        tracing::warn!(
            service = kind.name(),
            admin = %admin_addr.unwrap_or(addr),
            "the admin API listens beyond loopback without a token: anyone who can reach it can change this service's faults; set MOCKS_ADMIN_TOKEN (or [admin] token)"
        );
    }
    let stop = |shutdown: CancellationToken| async move { shutdown.cancelled().await };
    let mut tasks = Vec::new();
    match (admin, admin_addr) {
        (Some(admin), Some(admin_at)) => {
            tracing::info!(service = kind.name(), addr = %admin_at, "admin API on its own address");
            let (api, admin_side) = router.split(&format!("http://{addr}"), &format!("http://{admin_at}"));
            tasks.push(tokio::spawn(crate::server::serve(listener, api, stop(shutdown.clone()), options.clone())));
            tasks.push(tokio::spawn(crate::server::serve(admin, admin_side, stop(shutdown), options)));
        }
        _ => tasks.push(tokio::spawn(crate::server::serve(listener, router, stop(shutdown), options))),
    }
    Ok(RunningService { kind, addr, admin_addr, state, tasks })
}

/// Several services started together.
pub struct Stack {
    /// The running services.
    pub services: Vec<RunningService>,
    shutdown: CancellationToken,
}

impl Stack {
    /// Binds each `(service, address)` and starts it. Port 0 picks a free port.
    pub async fn start(config: &MocksConfig, services: &[(ServiceKind, SocketAddr)]) -> Result<Stack, StackError> {
        Self::start_with_admin(config, services, &[]).await
    }

    /// [`Stack::start`], with the admin API of the services in `admin` on their own addresses.
    pub async fn start_with_admin(
        config: &MocksConfig,
        services: &[(ServiceKind, SocketAddr)],
        admin: &[(ServiceKind, SocketAddr)],
    ) -> Result<Stack, StackError> {
        let shutdown = CancellationToken::new();
        let mut running = Vec::new();
        crate::json_body::set_body_timeout(config.server.body_timeout);
        let mut options = ServeOptions::new(config.server.max_connections, config.server.header_timeout);
        options.http2_max_streams = config.server.http2_max_streams;
        let bind = |kind: ServiceKind, addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|source| StackError::Bind { service: kind.name(), addr, source })
        };
        for (kind, addr) in services {
            let listener = bind(*kind, *addr).await?;
            let admin_listener = match admin.iter().find(|(k, _)| k == kind) {
                Some((_, at)) => Some(bind(*kind, *at).await?),
                None => None,
            };
            running.push(spawn(*kind, config, listener, admin_listener, shutdown.clone(), &options)?);
        }
        Ok(Stack { services: running, shutdown })
    }

    /// Every service on 127.0.0.1 with a free port (tests, embedded runs).
    pub async fn start_ephemeral(config: &MocksConfig) -> Result<Stack, StackError> {
        let services: Vec<_> = ServiceKind::ALL.iter().map(|k| (*k, SocketAddr::from(([127, 0, 0, 1], 0)))).collect();
        Self::start(config, &services).await
    }

    /// The running service of `kind`.
    pub fn service(&self, kind: ServiceKind) -> Option<&RunningService> {
        self.services.iter().find(|s| s.kind == kind)
    }

    /// Stops every service and waits (bounded) for them to drain.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.services.into_iter().flat_map(|s| s.tasks) {
            let _ = tokio::time::timeout(crate::server::SHUTDOWN_GRACE * 2, task).await;
        }
    }
}
