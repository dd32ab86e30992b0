//! The load engine: runs a [`Plan`] with the scenario's user classes. It knows nothing about any
//! particular service: it picks tasks, times them and hands [`Sample`]s to the recorder; what a
//! task sends is [`tasks::execute`]'s business.
//!
//! Closed plans keep a number of looping users per stage, started and stopped at the spawn rate.
//! Open plans start iterations on a fixed schedule kept by a task on the runtime's workers ([`open`]).
//!
//! Nothing sent is lost: a request still in flight when the drain time runs out is recorded as an
//! `unfinished` failure with the time it waited. What the plan asked for and did not get (a user
//! class left without users, a stage that never reached its users) comes back as [`RunWarning`]s.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod open;
mod report;

use report::warnings;
pub(crate) use report::{ClassUsage, EngineReport, RunWarning, StageTiming, WarningKind};

use crate::plan::{ClosedStage, Plan};
use crate::scenario::{Scenario, Think, UserClass};
use crate::segment::Segment;
use crate::stats::{Failure, FailureKind, Recorder, Sample};
use crate::tasks::{self, UserState};

/// An arrival-rate iteration starting this much after its schedule counts as late.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(10);
/// How often the closed-model spawner adjusts the user count.
const SPAWN_TICK: Duration = Duration::from_millis(10);

/// What the engine needs besides the scenario.
pub(crate) struct EngineConfig {
    /// The scenario (targets already resolved).
    pub scenario: Arc<Scenario>,
    /// Seed for every user's random choices.
    pub seed: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Cancelled on Ctrl-C / SIGTERM: stop starting work, drain.
    pub stop: CancellationToken,
    /// Longest wait for in-flight requests at the end.
    pub drain: Duration,
    /// The share of the plan this process runs: its users' ids and its arrival phase.
    pub segment: Segment,
    /// The run's clients (the one the preflight and the counter reads use).
    pub client: tasks::Http,
}

struct Shared {
    config: EngineConfig,
    recorder: Arc<Recorder>,
    task_weights: Vec<WeightedIndex<u32>>,
}

fn think_time(think: Think, elapsed: Duration, rng: &mut impl Rng) -> Duration {
    let seconds = match think {
        Think::None => 0.0,
        Think::Constant { seconds } => seconds,
        Think::Between { min, max } if max > min => rng.random_range(min..max),
        Think::Between { min, .. } => min,
        Think::Pacing { seconds } => (seconds - elapsed.as_secs_f64()).max(0.0),
    };
    Duration::from_secs_f64(seconds)
}

impl Shared {
    fn base(&self, class: &UserClass) -> &str {
        self.config.scenario.targets.get(&class.target).map_or("", String::as_str)
    }

    /// One iteration of `class`; `started` is when it was due.
    async fn iterate(&self, class_index: usize, state: &mut UserState, started: Instant) -> Duration {
        let class = &self.config.scenario.users[class_index];
        let task = &class.tasks[self.task_weights[class_index].sample(&mut state.rng)];
        let mut in_flight = InFlight {
            recorder: &self.recorder,
            method: task.kind.method(),
            name: &task.name,
            started,
            stage: self.recorder.stage(),
            done: false,
        };
        let targets = &self.config.scenario.targets;
        let outcome =
            tasks::execute(task, self.base(class), targets, &self.config.client, state, self.config.timeout).await;
        in_flight.done = true;
        let latency = started.elapsed();
        let method = task.kind.method();
        for step in outcome.steps {
            self.recorder.record(Sample {
                method,
                name: &step.name,
                latency: step.latency,
                bytes: step.outcome.bytes,
                failure: step.outcome.failure,
                stream: step.outcome.stream,
                step_counts: Vec::new(),
            });
        }
        self.recorder.record(Sample {
            method,
            name: &task.name,
            latency,
            bytes: outcome.bytes,
            failure: outcome.failure,
            stream: outcome.stream,
            step_counts: outcome.step_counts,
        });
        latency
    }
}

/// A request on its way. Dropped before it finished (its task aborted when the drain time ran
/// out), it records itself as an `unfinished` failure, so no request that was sent goes uncounted.
struct InFlight<'a> {
    recorder: &'a Recorder,
    method: &'a str,
    name: &'a str,
    started: Instant,
    stage: usize,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let waited = self.started.elapsed();
        self.recorder.record_at(
            Sample {
                method: self.method,
                name: self.name,
                latency: waited,
                bytes: 0,
                failure: Some(Failure::new(
                    FailureKind::Unfinished,
                    format!("no answer after {:.1} s when the run ended", waited.as_secs_f64()),
                )),
                stream: None,
                step_counts: Vec::new(),
            },
            self.stage,
        );
    }
}

/// Picks the class for the next user so counts stay proportional to weights (as Locust does).
fn next_class(classes: &[UserClass], counts: &[u64]) -> usize {
    (0..classes.len())
        .min_by(|a, b| {
            let ra = counts[*a] as f64 / classes[*a].weight as f64;
            let rb = counts[*b] as f64 / classes[*b].weight as f64;
            ra.total_cmp(&rb)
        })
        .unwrap_or(0)
}

/// Runs the plan to the end (or until `stop`), recording into `recorder`.
pub(crate) async fn run(config: EngineConfig, recorder: Arc<Recorder>) -> EngineReport {
    let task_weights = config
        .scenario
        .users
        .iter()
        .map(|u| WeightedIndex::new(u.tasks.iter().map(|t| t.weight)).expect("validated: tasks exist with weight >= 1"))
        .collect();
    let shared = Arc::new(Shared { config, recorder, task_weights });
    let started = Instant::now();
    let plan = shared.config.scenario.plan.clone();
    let (stages, peaks, users) = match &plan {
        Plan::Closed { stages } => run_closed(&shared, stages, started).await,
        Plan::Open { stages, max_in_flight } => open::run(&shared, stages, *max_in_flight, started).await,
    };
    tasks::end_sessions(&shared.config.client, users).await;
    let classes: Vec<ClassUsage> = shared
        .config
        .scenario
        .users
        .iter()
        .zip(peaks)
        .map(|(class, peak)| ClassUsage { name: class.name.clone(), weight: class.weight, peak })
        .collect();
    let interrupted = shared.config.stop.is_cancelled();
    let warnings = warnings(&plan, &stages, &classes, interrupted);
    EngineReport { stages, interrupted, duration_s: started.elapsed().as_secs_f64(), classes, warnings }
}

/// Sleeps until `deadline` unless stopped first; false when stopped.
async fn sleep_until(deadline: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => true,
        () = stop.cancelled() => false,
    }
}

/// Users due `elapsed` into a stage that moves from `from` users to `target` at `spawn_rate` a
/// second: like Locust, the first user of a ramp starts at once, then one every 1/rate seconds; a
/// ramp down stops one every 1/rate seconds. Never past the target.
fn users_due(from: usize, target: u32, spawn_rate: f64, elapsed: Duration) -> usize {
    let (from, target) = (from as f64, f64::from(target));
    let moved = elapsed.as_secs_f64() * spawn_rate;
    let due = if target > from { (from + moved + 1.0).floor().min(target) } else { (from - moved).floor().max(target) };
    due as usize
}

/// What one closed stage's spawner saw: the most users it held and when it reached its target.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ramp {
    peak: u64,
    reached_s: Option<f64>,
}

/// Moves the user count from `from` to the stage's target at its spawn rate and holds it until
/// the stage ends or the run stops. `adjust(n)` makes the count `n`; it is called at the stage
/// start and at every [`SPAWN_TICK`] while the count is moving, never while it holds.
async fn ramp_stage(stage: &ClosedStage, from: usize, stop: &CancellationToken, mut adjust: impl FnMut(usize)) -> Ramp {
    let stage_start = Instant::now();
    let stage_end = stage_start + stage.duration;
    let target = stage.users as usize;
    let mut ramp = Ramp { peak: from as u64, reached_s: None };
    loop {
        let now = Instant::now();
        if now >= stage_end || stop.is_cancelled() {
            return ramp;
        }
        let due = users_due(from, stage.users, stage.spawn_rate, now - stage_start);
        adjust(due);
        ramp.peak = ramp.peak.max(due as u64);
        if ramp.reached_s.is_none() && due == target {
            ramp.reached_s = Some((now - stage_start).as_secs_f64());
        }
        let wait = if due == target { stage_end } else { (now + SPAWN_TICK).min(stage_end) };
        sleep_until(wait, stop).await;
    }
}

async fn run_closed(
    shared: &Arc<Shared>,
    stages: &[ClosedStage],
    run_start: Instant,
) -> (Vec<StageTiming>, Vec<u64>, Vec<UserState>) {
    let classes = &shared.config.scenario.users;
    let mut counts = vec![0u64; classes.len()];
    let mut peaks = vec![0u64; classes.len()];
    let mut users: Vec<(CancellationToken, usize)> = Vec::new();
    let mut set = JoinSet::new();
    let mut next_id = 0u64;
    let mut timings = Vec::new();
    let stop = shared.config.stop.clone();
    for (index, stage) in stages.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        shared.recorder.set_stage(index);
        let stage_start = Instant::now();
        let ramp = ramp_stage(stage, users.len(), &stop, |due| {
            while users.len() < due {
                let class = next_class(classes, &counts);
                counts[class] += 1;
                peaks[class] = peaks[class].max(counts[class]);
                let cancel = stop.child_token();
                let state = UserState::new(shared.config.segment.user_id(next_id), shared.config.seed);
                next_id += 1;
                set.spawn(user_loop(shared.clone(), class, state, cancel.clone()));
                users.push((cancel, class));
            }
            while users.len() > due {
                if let Some((cancel, class)) = users.pop() {
                    cancel.cancel();
                    counts[class] -= 1;
                }
            }
            shared.recorder.set_users(users.len() as u64);
        })
        .await;
        timings.push(StageTiming {
            index,
            started_s: (stage_start - run_start).as_secs_f64(),
            duration_s: stage_start.elapsed().as_secs_f64(),
            target: stage.users as f64,
            peak: ramp.peak,
            reached_s: ramp.reached_s,
            complete: Instant::now() >= stage_start + stage.duration,
        });
    }
    for (cancel, _) in &users {
        cancel.cancel();
    }
    let states = drain(set, shared.config.drain).await;
    shared.recorder.set_users(0);
    (timings, peaks, states)
}

async fn user_loop(shared: Arc<Shared>, class: usize, mut state: UserState, cancel: CancellationToken) -> UserState {
    let think = shared.config.scenario.users[class].think;
    while !cancel.is_cancelled() {
        let started = Instant::now();
        let latency = shared.iterate(class, &mut state, started).await;
        let pause = think_time(think, latency, &mut state.rng);
        if !pause.is_zero() && !sleep_until(Instant::now() + pause, &cancel).await {
            break;
        }
    }
    state
}

/// Waits for in-flight work, at most `limit`, then aborts it; aborted requests record themselves
/// as `unfinished` (see [`InFlight`]) before this returns. Returns what the finished tasks gave.
async fn drain<T: 'static>(mut set: JoinSet<T>, limit: Duration) -> Vec<T> {
    let deadline = Instant::now() + limit;
    let mut done = Vec::new();
    while !set.is_empty() {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(Some(Ok(value))) => done.push(value),
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(left = set.len(), "drain time over; recording in-flight requests as unfinished");
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::{Ramp, ramp_stage, users_due};
    use crate::plan::ClosedStage;
    use std::time::Duration;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    /// Runs one stage on tokio's paused clock and returns every change of the user count as
    /// (milliseconds into the stage, users), with what the spawner reported.
    async fn ramp(
        from: usize,
        users: u32,
        spawn_rate: f64,
        seconds: f64,
        stop_after: Option<f64>,
    ) -> (Vec<(u128, usize)>, Ramp) {
        let stage = ClosedStage { users, spawn_rate, duration: at(seconds) };
        let stop = CancellationToken::new();
        if let Some(after) = stop_after {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at(after)).await;
                stop.cancel();
            });
        }
        let start = Instant::now();
        let mut changes: Vec<(u128, usize)> = Vec::new();
        let mut current = from;
        let report = ramp_stage(&stage, from, &stop, |due| {
            if due != current || changes.is_empty() {
                changes.push((start.elapsed().as_millis(), due));
                current = due;
            }
        })
        .await;
        (changes, report)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stage_ramps_at_its_spawn_rate_on_the_clock() {
        // 4 -> 12 users at 8 a second: one at once, then one every 125 ms, seen on the 10 ms tick.
        let (changes, report) = ramp(4, 12, 8.0, 3.0, None).await;
        let expected: Vec<(u128, usize)> = (5..=12).map(|n| (((n - 5) as u128 * 125).div_ceil(10) * 10, n)).collect();
        assert_eq!(changes, expected);
        assert_eq!(report, Ramp { peak: 12, reached_s: Some(0.88) });
        // 0 -> 4 at 20 a second: 1, then one every 50 ms; reached at 150 ms.
        let (changes, report) = ramp(0, 4, 20.0, 1.0, None).await;
        assert_eq!(changes, [(0, 1), (50, 2), (100, 3), (150, 4)]);
        assert_eq!(report.reached_s, Some(0.15));
    }

    #[tokio::test(start_paused = true)]
    async fn a_ramp_down_keeps_the_earlier_peak_and_a_stop_ends_the_stage() {
        let (changes, report) = ramp(12, 2, 100.0, 0.5, None).await;
        assert_eq!(changes.first(), Some(&(0, 12)));
        assert_eq!(changes.last(), Some(&(100, 2)), "ten users stopped at 100 a second take 0.1 s");
        assert_eq!(report, Ramp { peak: 12, reached_s: Some(0.1) });
        let start = Instant::now();
        let (changes, report) = ramp(0, 100, 10.0, 60.0, Some(0.505)).await;
        assert_eq!(start.elapsed(), at(0.505), "the stop ends the stage at once");
        assert_eq!(changes.last(), Some(&(500, 6)));
        assert_eq!(report.reached_s, None, "never reached");
    }

    fn at(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    #[test]
    fn a_ramp_up_starts_one_user_at_once_then_one_every_interval() {
        // 0 -> 10 users at 2 a second: 1 at t=0, 2 at 0.5 s, ..., all 10 from 4.5 s.
        assert_eq!(users_due(0, 10, 2.0, at(0.0)), 1);
        assert_eq!(users_due(0, 10, 2.0, at(0.49)), 1);
        assert_eq!(users_due(0, 10, 2.0, at(0.5)), 2);
        assert_eq!(users_due(0, 10, 2.0, at(4.4)), 9);
        assert_eq!(users_due(0, 10, 2.0, at(4.5)), 10);
        assert_eq!(users_due(0, 10, 2.0, at(60.0)), 10, "never past the target");
        // From where the previous stage left off.
        assert_eq!(users_due(10, 50, 5.0, at(1.0)), 16);
    }

    #[test]
    fn a_ramp_down_stops_one_user_every_interval_and_holds_at_the_target() {
        assert_eq!(users_due(10, 4, 2.0, at(0.0)), 10);
        assert_eq!(users_due(10, 4, 2.0, at(0.5)), 9);
        assert_eq!(users_due(10, 4, 2.0, at(3.0)), 4);
        assert_eq!(users_due(10, 4, 2.0, at(30.0)), 4);
        assert_eq!(users_due(7, 7, 1.0, at(5.0)), 7, "a hold stays put");
    }

    #[test]
    fn an_instant_rate_starts_everyone_at_once() {
        assert_eq!(users_due(0, 500, 1e9, at(0.001)), 500);
    }
}
