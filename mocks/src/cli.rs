//! The `mocks` command line: argument types (clap) and what each subcommand does.
//!
//! `main.rs` only calls [`main`]; everything here is reachable from tests.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, MocksConfig};
use crate::stack::{ServiceKind, Stack};

/// Mock AI services (OpenAI-compatible gateway, ...) with injectable faults.
#[derive(Debug, Parser)]
#[command(name = "mocks", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the mock services together (default: all, on 127.0.0.1 and their default ports).
    Serve(ServeArgs),
    /// Run only the gateway (what its container runs).
    Gateway(SingleArgs),
    /// Run only the RAG service (what its container runs).
    Rag(SingleArgs),
    /// Run only the MCP tool server (what its container runs).
    Mcp(SingleArgs),
    /// Exit 0 when URL answers 200 (for container health checks).
    Healthcheck {
        /// The URL to probe, e.g. http://127.0.0.1:8000/health.
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Work with config files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A short tour of the stack on free local ports (no Docker): the unknown-model failure,
    /// an injected fault, the journal and counters.
    Demo {
        /// Config and seed.
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// `mocks config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and print every problem with file, line and field.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print the built-in default config (a starting point for your own).
    Default,
}

/// Options shared by every serving command.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Config file (TOML); the built-in default when absent.
    #[arg(long, env = "MOCKS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed for every random choice (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads serving requests; default: the cores this process may use. One runs
    /// tokio's current-thread scheduler (cheaper per request on a single core).
    #[arg(long, env = "MOCKS_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,
    /// Token every admin request must carry (`Authorization: Bearer`); overrides `[admin] token`.
    #[arg(long, env = "MOCKS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// `mocks serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Only these services (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<ServiceKind>,
    /// Gateway address (use 0.0.0.0:8000 to listen on every interface).
    #[arg(long, default_value = "127.0.0.1:8000")]
    gateway_addr: SocketAddr,
    /// RAG service address.
    #[arg(long, default_value = "127.0.0.1:8002")]
    rag_addr: SocketAddr,
    /// MCP server address.
    #[arg(long, default_value = "127.0.0.1:8020")]
    mcp_addr: SocketAddr,
    /// Serve the gateway's admin API on this address instead of under its own `/__admin/`.
    #[arg(long)]
    gateway_admin_addr: Option<SocketAddr>,
    /// Serve the RAG service's admin API on this address.
    #[arg(long)]
    rag_admin_addr: Option<SocketAddr>,
    /// Serve the MCP server's admin API on this address.
    #[arg(long)]
    mcp_admin_addr: Option<SocketAddr>,
}

/// `mocks gateway` (and later the other single services).
#[derive(Debug, Args)]
pub struct SingleArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Listen address.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Serve the admin API on this address instead of under `/__admin/`.
    #[arg(long)]
    admin_addr: Option<SocketAddr>,
}

/// Parses the process arguments and runs; the whole of `main`.
pub fn main() -> ExitCode {
    // Before any thread: connections accepted later never wait for the table to grow.
    common::startup::reserve_descriptor_table();
    let cli = Cli::parse();
    init_logging();
    quiet_panics();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Panics in request handlers are answered (500 in the service's shape) and the service keeps
/// serving; the default hook would print a backtrace for each one. This hook logs one line, at
/// most once a second.
fn quiet_panics() {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::panic::set_hook(Box::new(|info| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if LAST.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
            tracing::error!(panic = %info.to_string().escape_debug(), "panic (in a handler it is answered 500)");
        }
    }));
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

fn load(common: &CommonArgs) -> anyhow::Result<MocksConfig> {
    let mut config = match &common.config {
        Some(path) => MocksConfig::load(path)?,
        None => MocksConfig::default(),
    };
    if let Some(seed) = common.seed {
        config.seed = seed;
    }
    if common.admin_token.is_some() {
        config.set_admin_token(common.admin_token.clone());
    }
    Ok(config)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Default) => {
            print!("{}", crate::config::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { file }) => Ok(check_config(&file)),
        Command::Demo { common } => {
            let config = load(&common)?;
            let runtime = common::runtime::build(common.worker_threads).context("starting the async runtime")?;
            print!("{}", runtime.block_on(crate::demo::run(&config))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url, timeout_ms } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            match runtime.block_on(crate::healthcheck::check(&url, Duration::from_millis(timeout_ms))) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    eprintln!("unhealthy: {error}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Serve(args) => {
            let config = load(&args.common)?;
            let kinds = if args.only.is_empty() { ServiceKind::ALL.to_vec() } else { args.only.clone() };
            let services: Vec<_> = kinds
                .into_iter()
                .map(|kind| match kind {
                    ServiceKind::Gateway => (kind, args.gateway_addr),
                    ServiceKind::Rag => (kind, args.rag_addr),
                    ServiceKind::Mcp => (kind, args.mcp_addr),
                })
                .collect();
            let admin = [
                (ServiceKind::Gateway, args.gateway_admin_addr),
                (ServiceKind::Rag, args.rag_admin_addr),
                (ServiceKind::Mcp, args.mcp_admin_addr),
            ]
            .into_iter()
            .filter_map(|(kind, addr)| addr.map(|a| (kind, a)))
            .collect();
            serve(config, services, admin, args.common.worker_threads)
        }
        Command::Gateway(args) => serve_one(ServiceKind::Gateway, &args),
        Command::Rag(args) => serve_one(ServiceKind::Rag, &args),
        Command::Mcp(args) => serve_one(ServiceKind::Mcp, &args),
    }
}

fn serve_one(kind: ServiceKind, args: &SingleArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.common)?;
    let admin = args.admin_addr.map(|a| vec![(kind, a)]).unwrap_or_default();
    serve(config, vec![(kind, args.addr.unwrap_or(kind.default_addr()))], admin, args.common.worker_threads)
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match MocksConfig::load(file) {
        Ok(config) => {
            println!(
                "{}: ok (gateway: {} models, {} fault rules; rag: {} fault rules, corpus {}; mcp: {} fault rules)",
                file.display(),
                config.gateway.models.len(),
                config.gateway.common.faults.len(),
                config.rag.common.faults.len(),
                config.rag.seed_corpus.as_deref().unwrap_or("none"),
                config.mcp.common.faults.len(),
            );
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid { problems }) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("{} problem(s) in {}", problems.len(), file.display());
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

fn serve(
    config: MocksConfig,
    services: Vec<(ServiceKind, SocketAddr)>,
    admin: Vec<(ServiceKind, SocketAddr)>,
    worker_threads: Option<NonZeroUsize>,
) -> anyhow::Result<ExitCode> {
    let runtime = common::runtime::build(worker_threads).context("starting the async runtime")?;
    runtime.block_on(async move {
        let stack = Stack::start_with_admin(&config, &services, &admin).await?;
        let handle = tokio::runtime::Handle::current();
        tracing::info!(worker_threads = handle.metrics().num_workers(), scheduler = ?handle.runtime_flavor(), "serving");
        common::shutdown_signal().await;
        stack.shutdown().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}
