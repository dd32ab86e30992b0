//! Resource sampling during a run: the CPU and memory of what the load targets run on, once a
//! second, so a run shows the cost of its load and a leak shows as growth. Containers are sampled
//! through the Docker engine API (found automatically from the target URLs, or named), local
//! processes by PID. Samples and their summary go to `run.json`; a steady climb during the final,
//! constant-load stage is called out as a possible leak.

pub(crate) mod docker;
pub(crate) mod leak;
pub(crate) mod process;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use docker::Docker;
pub(crate) use leak::{LeakFinding, analyze};

/// What to watch besides the automatic container discovery.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Local processes to sample (`--watch-pid`).
    pub pids: Vec<u32>,
    /// Containers by name or id (`--watch-container`).
    pub containers: Vec<String>,
    /// Find the containers behind the targets (by published port or name) when Docker is reachable.
    pub auto_containers: bool,
}

/// One reading.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ResourceSample {
    /// Seconds from the run start.
    pub t_s: f64,
    /// CPU in use since the previous reading, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
}

/// The readings of one container or process, summarized.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceSeries {
    /// What it serves: the target names, or the process name.
    pub name: String,
    /// `container` or `process`.
    pub kind: String,
    /// Container name or PID.
    pub id: String,
    /// Mean CPU, cores.
    pub cpu_mean_cores: f64,
    /// Highest CPU, cores.
    pub cpu_max_cores: f64,
    /// The cores it may use: a container's CPU limit, else the machine's cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_cores: Option<f64>,
    /// Memory at the first reading, bytes.
    pub memory_start_bytes: u64,
    /// Highest memory, bytes.
    pub memory_peak_bytes: u64,
    /// Memory at the last reading, bytes.
    pub memory_end_bytes: u64,
    /// A steady climb in the judged window that the run's own writes do not explain (see
    /// [`leak`]): a possible leak.
    pub leak: Option<LeakFinding>,
    /// A steady climb while the run wrote to this target in that window (documents indexed,
    /// files written): growth the run's own writes explain, reported, not called a leak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_with_writes: Option<WriteGrowth>,
    /// Readings that failed (the container stopped, the process exited), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Every reading.
    pub samples: Vec<ResourceSample>,
}

enum Source {
    Container(String),
    Process(u32),
}

struct Watched {
    name: String,
    kind: &'static str,
    id: String,
    cpu_limit_cores: f64,
    source: Source,
    last_cpu: Option<(Instant, f64)>,
    samples: Vec<ResourceSample>,
    missed: u64,
}

/// Samples what it was told to watch until stopped.
pub(crate) struct Sampler {
    docker: Option<Docker>,
    watched: Vec<Watched>,
    started: Instant,
    /// Why automatic discovery found nothing, when it was asked for.
    pub notes: Vec<String>,
}

fn host_and_port(url: &str) -> Option<(String, u16)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some((parsed.host_str()?.trim_matches(['[', ']']).to_owned(), parsed.port_or_known_default()?))
}

fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0")
}

impl Sampler {
    /// Resolves `options` against the run's `targets` (name -> URL).
    pub(crate) async fn discover(options: &WatchOptions, targets: &BTreeMap<String, String>) -> Sampler {
        let mut sampler = Sampler { docker: None, watched: Vec::new(), started: Instant::now(), notes: Vec::new() };
        for pid in &options.pids {
            let name = process::name(*pid).unwrap_or_else(|| format!("pid {pid}"));
            sampler.push(name, "process", pid.to_string(), Source::Process(*pid));
        }
        if !options.auto_containers && options.containers.is_empty() {
            return sampler;
        }
        let Some(docker) = Docker::from_env() else {
            sampler.notes.push("DOCKER_HOST is not a unix socket: containers are not sampled".into());
            return sampler;
        };
        let containers = match docker.containers().await {
            Ok(list) => list,
            Err(e) => {
                if !options.containers.is_empty() {
                    sampler.notes.push(e.to_string());
                }
                return sampler;
            }
        };
        let mut chosen: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
        for wanted in &options.containers {
            match containers.iter().find(|c| c.answers_to(wanted)) {
                Some(c) => chosen.entry(c.id.clone()).or_insert_with(|| (Vec::new(), c.name())).0.push(wanted.clone()),
                None => sampler.notes.push(format!("--watch-container {wanted}: no running container of that name")),
            }
        }
        if options.auto_containers {
            for (target, url) in targets {
                let Some((host, port)) = host_and_port(url) else { continue };
                let found = containers.iter().find(|c| {
                    if is_local(&host) {
                        c.ports.iter().any(|p| p.reached_at(port, host == "::1"))
                    } else {
                        c.answers_to(&host) && c.ports.iter().any(|p| p.private_port == port)
                    }
                });
                if let Some(c) = found {
                    chosen.entry(c.id.clone()).or_insert_with(|| (Vec::new(), c.name())).0.push(target.clone());
                }
            }
        }
        for (id, (names, container)) in chosen {
            let limit = docker.cpu_limit(&id).await;
            sampler.push(names.join("+"), "container", container, Source::Container(id));
            if let (Some(limit), Some(w)) = (limit, sampler.watched.last_mut()) {
                w.cpu_limit_cores = limit;
            }
        }
        sampler.docker = Some(docker);
        sampler
    }

    fn push(&mut self, name: String, kind: &'static str, id: String, source: Source) {
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        self.watched.push(Watched {
            name,
            kind,
            id,
            cpu_limit_cores: cores,
            source,
            last_cpu: None,
            samples: Vec::new(),
            missed: 0,
        });
    }

    /// Whether anything is watched.
    pub(crate) fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Takes one reading of everything watched (containers concurrently).
    pub(crate) async fn sample(&mut self) {
        let docker = self.docker.clone();
        let readings = futures::future::join_all(self.watched.iter().map(|w| {
            let docker = docker.clone();
            async move {
                match &w.source {
                    Source::Process(pid) => process::usage(*pid).map(|u| (u.cpu_seconds, u.rss_bytes)),
                    Source::Container(id) => match docker {
                        Some(d) => d.usage(id).await.ok().map(|u| (u.cpu_ns as f64 / 1e9, u.memory_bytes)),
                        None => None,
                    },
                }
            }
        }))
        .await;
        let now = Instant::now();
        let t_s = (now - self.started).as_secs_f64();
        for (w, reading) in self.watched.iter_mut().zip(readings) {
            // A stopped container reads as zero memory; count it as a miss, not a sample.
            match reading.filter(|(_, memory)| *memory > 0) {
                Some((cpu_seconds, memory_bytes)) => {
                    let cpu_cores = match w.last_cpu.replace((now, cpu_seconds)) {
                        Some((then, before)) => {
                            ((cpu_seconds - before) / (now - then).as_secs_f64().max(1e-3)).max(0.0)
                        }
                        None => 0.0,
                    };
                    w.samples.push(ResourceSample { t_s, cpu_cores, memory_bytes });
                }
                None => {
                    w.missed += 1;
                    w.last_cpu = None;
                }
            }
        }
    }

    /// Samples every `every` until `stop`, then returns the sampler.
    pub(crate) async fn run(mut self, every: Duration, stop: CancellationToken) -> Sampler {
        self.started = Instant::now();
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => self.sample().await,
                () = stop.cancelled() => break,
            }
        }
        self
    }

    /// The summarized series; the leak check looks at readings from `steady_from_s` on, and a
    /// climb on a series serving a target the run wrote to then (`writes`: target name -> write
    /// requests in that window) is growth with writes, not a possible leak.
    pub(crate) fn finish(self, steady_from_s: f64, writes: &BTreeMap<String, u64>) -> Vec<ResourceSeries> {
        self.watched
            .into_iter()
            .map(|w| {
                let written: u64 = w.name.split('+').filter_map(|t| writes.get(t)).sum();
                let (leak, growth_with_writes) = classify(analyze(&w.samples, steady_from_s), written);
                let cpu: Vec<f64> = w.samples.iter().skip(1).map(|s| s.cpu_cores).collect();
                let memory = |s: Option<&ResourceSample>| s.map_or(0, |s| s.memory_bytes);
                ResourceSeries {
                    cpu_mean_cores: if cpu.is_empty() { 0.0 } else { cpu.iter().sum::<f64>() / cpu.len() as f64 },
                    cpu_max_cores: cpu.iter().copied().fold(0.0, f64::max),
                    cpu_limit_cores: Some(w.cpu_limit_cores),
                    memory_start_bytes: memory(w.samples.first()),
                    memory_peak_bytes: w.samples.iter().map(|s| s.memory_bytes).max().unwrap_or(0),
                    memory_end_bytes: memory(w.samples.last()),
                    leak,
                    growth_with_writes,
                    note: (w.missed > 0).then(|| {
                        format!(
                            "{} readings failed ({} not running or unreachable for part of the run)",
                            w.missed, w.kind
                        )
                    }),
                    name: w.name,
                    kind: w.kind.into(),
                    id: w.id,
                    samples: w.samples,
                }
            })
            .collect()
    }
}

/// Memory growth in the judged window, while the run wrote to the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WriteGrowth {
    /// The climb.
    pub growth: LeakFinding,
    /// Write requests the run sent to the target in the window.
    pub writes: u64,
}

/// A climb is a possible leak unless the run wrote to the target meanwhile (`written` write
/// requests), when it is growth the run's own writes explain.
pub(crate) fn classify(climb: Option<LeakFinding>, written: u64) -> (Option<LeakFinding>, Option<WriteGrowth>) {
    match climb {
        Some(growth) if written > 0 => (None, Some(WriteGrowth { growth, writes: written })),
        other => (other, None),
    }
}

impl ResourceSeries {
    /// The leak check's verdict in words: `steady`, a possible leak, or growth the run's writes
    /// explain.
    pub fn leak_check(&self) -> String {
        match (&self.leak, &self.growth_with_writes) {
            (Some(leak), _) => format!("possible leak: {}", leak.describe()),
            (None, Some(w)) => format!(
                "growth with writes (not a leak by itself): {}, while the run sent {} write requests to it; a leak would keep growing once the stored data stops",
                w.growth.describe(),
                w.writes
            ),
            (None, None) => "steady".to_owned(),
        }
    }
}

/// Bytes as MiB with one decimal, for reports.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One line per series for terminal summaries and reports, leaks first.
pub(crate) fn describe(series: &ResourceSeries) -> String {
    let base = format!(
        "{} {} `{}`: CPU mean {:.2} / max {:.2} cores; memory {} -> {} (peak {})",
        series.kind,
        series.id,
        series.name,
        series.cpu_mean_cores,
        series.cpu_max_cores,
        mib(series.memory_start_bytes),
        mib(series.memory_end_bytes),
        mib(series.memory_peak_bytes)
    );
    match (&series.leak, &series.growth_with_writes) {
        (Some(leak), _) => format!("{base}. POSSIBLE LEAK: {}", leak.describe()),
        (None, Some(_)) => format!("{base}. {}", series.leak_check()),
        (None, None) => base,
    }
}
