//! [`Images`] and [`ContainerStack`]: what every end-to-end test starts from.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use testcontainers::core::{ContainerPort, Healthcheck, IntoContainerPort};
use testcontainers::runners::{AsyncBuilder, AsyncRunner};
use testcontainers::{ContainerAsync, GenericBuildableImage, GenericImage, ImageExt};
use tokio::sync::OnceCell;

/// Why the stack could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The static binaries are missing.
    #[error("{0} is missing: build the static binaries first with `make static` (or `make images`)")]
    MissingBinary(String),
    /// Docker refused something.
    #[error("docker: {0}")]
    Docker(#[from] testcontainers::TestcontainersError),
    /// A loadsuite container did not exit in time.
    #[error("the loadsuite container ({args}) did not finish within {seconds} s")]
    Unfinished {
        /// Its arguments.
        args: String,
        /// The wait.
        seconds: u64,
    },
    /// A service did not become healthy.
    #[error("{service} did not answer /health with 200 within {seconds} s")]
    Unhealthy {
        /// The service.
        service: &'static str,
        /// The wait.
        seconds: u64,
    },
}

/// The image names built for the tests (the same Dockerfiles as `make images`).
#[derive(Debug, Clone)]
pub struct Images {
    /// The mocks image (`name`, `tag`).
    pub mocks: (String, String),
    /// The loadsuite image.
    pub loadsuite: (String, String),
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_owned()
}

fn static_binary(name: &str) -> Result<PathBuf, StackError> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from);
    let path = dir.join("x86_64-unknown-linux-gnu/release").join(name);
    if path.is_file() { Ok(path) } else { Err(StackError::MissingBinary(path.display().to_string())) }
}

async fn build(name: &str, binary: &str, dockerfile: &str) -> Result<(String, String), StackError> {
    let dockerfile = std::fs::read_to_string(repo_root().join("compose").join(dockerfile))
        .map_err(|e| StackError::MissingBinary(format!("compose/{dockerfile} ({e})")))?;
    let mut image = GenericBuildableImage::new(name, "e2e")
        .with_dockerfile_string(dockerfile)
        .with_file(static_binary(binary)?, format!("./{binary}"));
    if binary == "loadsuite" {
        image = image.with_data(b"results are written here\n".to_vec(), "./results/README");
    }
    let _built = image.build_image().await?;
    Ok((name.to_owned(), "e2e".to_owned()))
}

static IMAGES: OnceCell<Images> = OnceCell::const_new();

impl Images {
    /// Builds both images once per test process (cached layers make a rebuild cheap).
    pub async fn get() -> Result<&'static Images, StackError> {
        IMAGES
            .get_or_try_init(|| async {
                Ok(Images {
                    mocks: build("aistack-mocks", "mocks", "Dockerfile.mocks").await?,
                    loadsuite: build("aistack-loadsuite", "loadsuite", "Dockerfile.loadsuite").await?,
                })
            })
            .await
    }
}

/// One mock service in the stack.
pub struct Service {
    /// `gateway`, `rag` or `mcp`.
    pub name: &'static str,
    /// Its port inside the network.
    pub port: u16,
    /// Its container name, which is also its host name on the network.
    pub container_name: String,
    /// The running container.
    pub container: ContainerAsync<GenericImage>,
}

impl Service {
    /// Its URL from the host (Docker-chosen port; re-read after a restart).
    pub async fn url(&self) -> Result<String, StackError> {
        let port = self.container.get_host_port_ipv4(self.port.tcp()).await?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// Its URL from inside the network.
    pub fn network_url(&self) -> String {
        format!("http://{}:{}", self.container_name, self.port)
    }

    /// Waits until `/health` answers 200 from the host.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<(), StackError> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(url) = self.url().await
                && client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StackError::Unhealthy { service: self.name, seconds: limit.as_secs() })
    }
}

/// Runs the loadsuite image with `args` on `network`, writing to `results` (mounted at
/// `/results`), and waits (at most `limit`) for it to exit; returns its exit code and the container
/// (kept so its logs can be read).
pub async fn run_loadsuite(
    network: &str,
    args: &[String],
    env: &[(&str, String)],
    results: &std::path::Path,
    limit: Duration,
) -> Result<(i64, ContainerAsync<GenericImage>), StackError> {
    let images = Images::get().await?;
    let mut request = GenericImage::new(&images.loadsuite.0, &images.loadsuite.1)
        .with_cmd(args.to_vec())
        .with_network(network)
        .with_mount(testcontainers::core::Mount::bind_mount(results.display().to_string(), "/results"));
    for (name, value) in env {
        request = request.with_env_var(*name, value);
    }
    let container = request.start().await?;
    let started = Instant::now();
    loop {
        if let Some(code) = container.exit_code().await? {
            return Ok((code, container));
        }
        if started.elapsed() > limit {
            return Err(StackError::Unfinished { args: args.join(" "), seconds: limit.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The three mock services on one private network.
pub struct ContainerStack {
    /// The network's name.
    pub network: String,
    /// gateway, rag, mcp.
    pub services: Vec<Service>,
}

static STACKS: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call, for networks and containers.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), STACKS.fetch_add(1, Ordering::Relaxed))
}

impl ContainerStack {
    /// Starts gateway, RAG and MCP on a new private network and waits until each is healthy.
    /// Docker's own health check is off here: its probes would show up in the journals the tests
    /// compare against; readiness is the same `/health` probed from the host.
    pub async fn start() -> Result<ContainerStack, StackError> {
        let images = Images::get().await?;
        let network = unique("aistack-e2e");
        let mut services = Vec::new();
        for (name, port) in [("gateway", 8000u16), ("rag", 8002), ("mcp", 8020)] {
            let container_name = format!("{network}-{name}");
            let container = GenericImage::new(&images.mocks.0, &images.mocks.1)
                .with_exposed_port(ContainerPort::Tcp(port))
                .with_cmd([name.to_owned(), "--addr".into(), format!("0.0.0.0:{port}")])
                .with_network(&network)
                .with_container_name(&container_name)
                .with_health_check(Healthcheck::none())
                .with_startup_timeout(Duration::from_secs(60))
                .start()
                .await?;
            services.push(Service { name, port, container_name, container });
        }
        let stack = ContainerStack { network, services };
        for service in &stack.services {
            service.wait_healthy(Duration::from_secs(30)).await?;
        }
        Ok(stack)
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> &Service {
        self.services.iter().find(|s| s.name == name).expect("gateway, rag or mcp")
    }

    /// `name -> host URL` of the three services.
    pub async fn targets(&self) -> Result<std::collections::BTreeMap<String, String>, StackError> {
        let mut targets = std::collections::BTreeMap::new();
        for s in &self.services {
            targets.insert(s.name.to_owned(), s.url().await?);
        }
        Ok(targets)
    }

    /// Clears every service's journal, counters and runtime changes (`POST /__admin/reset`).
    pub async fn reset(&self) -> Result<(), StackError> {
        let client = reqwest::Client::new();
        for s in &self.services {
            let url = s.url().await?;
            let _ = client.post(format!("{url}/__admin/reset")).send().await;
        }
        Ok(())
    }
}
