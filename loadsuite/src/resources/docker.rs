//! Just enough of the Docker Engine API, over its Unix socket, to find the containers behind the
//! load targets and read their CPU and memory: `GET /containers/json`, one-shot
//! `GET /containers/{id}/stats` and `GET /containers/{id}/json` for a CPU limit. No Docker SDK:
//! three read-only calls do not justify one.

use std::path::PathBuf;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// Why the engine could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DockerError {
    /// No socket, or it refused.
    #[error("cannot reach the Docker engine at {path}: {source}")]
    Connect {
        /// The socket.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("Docker engine request failed: {0}")]
    Http(String),
    /// A non-200 answer.
    #[error("Docker engine answered {status} to {path}")]
    Status {
        /// The request path.
        path: String,
        /// The status.
        status: u16,
    },
    /// An answer that is not the JSON expected.
    #[error("unexpected Docker engine answer to {path}: {message}")]
    Decode {
        /// The request path.
        path: String,
        /// Why.
        message: String,
    },
}

/// A client of one engine socket.
#[derive(Debug, Clone)]
pub(crate) struct Docker {
    socket: PathBuf,
}

/// A published port of a container.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PortBinding {
    /// The port inside the container.
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// The host port, when published.
    #[serde(rename = "PublicPort")]
    pub public_port: Option<u16>,
    /// The host address it is published on (`0.0.0.0`, `::`, `127.0.0.1` ...).
    #[serde(rename = "IP", default)]
    pub ip: String,
}

impl PortBinding {
    /// Whether a client on this host reaches it at `port` over IPv6 (`v6`) or IPv4. Docker may
    /// publish one container port on different IPv4 and IPv6 host ports, so the family matters.
    pub(crate) fn reached_at(&self, port: u16, v6: bool) -> bool {
        self.public_port == Some(port) && self.ip.contains(':') == v6
    }
}

/// A running container as `GET /containers/json` lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ContainerSummary {
    /// Full id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Names, each with a leading `/`.
    #[serde(rename = "Names", default)]
    pub names: Vec<String>,
    /// Ports.
    #[serde(rename = "Ports", default)]
    pub ports: Vec<PortBinding>,
    /// Labels (compose puts its service name in `com.docker.compose.service`).
    #[serde(rename = "Labels", default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl ContainerSummary {
    /// The first name without its `/`, or the short id.
    pub(crate) fn name(&self) -> String {
        self.names.first().map_or_else(|| self.id.chars().take(12).collect(), |n| n.trim_start_matches('/').to_owned())
    }

    /// Whether `host` names this container (name, compose service, or id prefix).
    pub(crate) fn answers_to(&self, host: &str) -> bool {
        self.names.iter().any(|n| n.trim_start_matches('/') == host)
            || self.labels.get("com.docker.compose.service").is_some_and(|s| s == host)
            || (host.len() >= 12 && self.id.starts_with(host))
    }
}

/// CPU and memory of a container at one instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContainerUsage {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, bytes, without the reclaimable page cache (as `docker stats` shows it).
    pub memory_bytes: u64,
}

#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    cpu_stats: CpuStats,
    #[serde(default)]
    memory_stats: MemoryStats,
}

#[derive(Deserialize, Default)]
struct CpuStats {
    #[serde(default)]
    cpu_usage: CpuUsage,
}

#[derive(Deserialize, Default)]
struct CpuUsage {
    #[serde(default)]
    total_usage: u64,
}

#[derive(Deserialize, Default)]
struct MemoryStats {
    #[serde(default)]
    usage: u64,
    #[serde(default)]
    stats: std::collections::BTreeMap<String, u64>,
}

impl Docker {
    /// The engine named by `DOCKER_HOST` (a `unix://` URL) or the default socket; `None` when
    /// `DOCKER_HOST` points elsewhere (TCP engines are not sampled).
    pub(crate) fn from_env() -> Option<Docker> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => host.strip_prefix("unix://").map(|p| Docker { socket: p.into() }),
            _ => Some(Docker { socket: "/var/run/docker.sock".into() }),
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, DockerError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| DockerError::Connect { path: self.socket.display().to_string(), source })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| DockerError::Http(e.to_string()))?;
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header(http::header::HOST, "docker")
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| DockerError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| DockerError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(DockerError::Status { path: path.to_owned(), status });
        }
        let body = response.into_body().collect().await.map_err(|e| DockerError::Http(e.to_string()))?.to_bytes();
        serde_json::from_slice(&body).map_err(|e| DockerError::Decode { path: path.to_owned(), message: e.to_string() })
    }

    /// The running containers.
    pub(crate) async fn containers(&self) -> Result<Vec<ContainerSummary>, DockerError> {
        self.get("/containers/json").await
    }

    /// The cores a container may use when its CPU is limited (`--cpus`, or a quota over a
    /// period); `None` when it is not limited.
    pub(crate) async fn cpu_limit(&self, id: &str) -> Option<f64> {
        #[derive(Deserialize)]
        struct Inspect {
            #[serde(rename = "HostConfig")]
            host_config: HostConfig,
        }
        #[derive(Deserialize)]
        struct HostConfig {
            #[serde(rename = "NanoCpus", default)]
            nano_cpus: u64,
            #[serde(rename = "CpuQuota", default)]
            cpu_quota: i64,
            #[serde(rename = "CpuPeriod", default)]
            cpu_period: i64,
        }
        let inspect: Inspect = self.get(&format!("/containers/{id}/json")).await.ok()?;
        let h = inspect.host_config;
        if h.nano_cpus > 0 {
            Some(h.nano_cpus as f64 / 1e9)
        } else if h.cpu_quota > 0 && h.cpu_period > 0 {
            Some(h.cpu_quota as f64 / h.cpu_period as f64)
        } else {
            None
        }
    }

    /// One reading of a container's CPU and memory.
    pub(crate) async fn usage(&self, id: &str) -> Result<ContainerUsage, DockerError> {
        let stats: Stats = self.get(&format!("/containers/{id}/stats?stream=false&one-shot=true")).await?;
        let memory = &stats.memory_stats;
        // What `docker stats` subtracts: the inactive page cache (cgroup v2, then v1 names).
        let cache =
            ["inactive_file", "total_inactive_file"].iter().find_map(|k| memory.stats.get(*k).copied()).unwrap_or(0);
        Ok(ContainerUsage {
            cpu_ns: stats.cpu_stats.cpu_usage.total_usage,
            memory_bytes: memory.usage.saturating_sub(cache),
        })
    }
}
