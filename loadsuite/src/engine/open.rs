//! Open (arrival-rate) plans: iterations start on a fixed schedule whatever the target answers;
//! latency counts from the scheduled moment (coordinated omission corrected), late starts and
//! drops (max in flight) are counted.
//!
//! A start is late when the iteration's first step runs more than [`LATE_AFTER`] after its
//! moment, wherever the delay came from: the schedule waking late, or the workers reaching the new
//! task late. The second is the larger: the workers also read every answer, and at thousands of
//! streams a burst of chunks queues a thousand tasks or more (measured: 1,000-1,700 in the global
//! queue, 50 ms of work). So the schedule runs as a task on the workers: a task spawned from a
//! worker runs right after the one that spawned it, ahead of that queue, while a task handed over
//! from another thread waits at its end. Measured at 3,200 streams a second on one core (`make
//! bench-streams`, loadsuite at 85% of it, 2026-12-07): 0.6-1.2% of starts late with the schedule
//! on the workers, 4.4-8.5% with it on a thread of its own (two runs of each, alternating).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{LATE_AFTER, Shared, StageTiming, drain, sleep_until};
use crate::plan::OpenStage;
use crate::tasks::UserState;

/// Idle users' states by class, reused by later iterations (connections and sessions stay warm).
type Pool = Arc<Mutex<BTreeMap<usize, Vec<UserState>>>>;

/// Runs the open stages, then drains; returns the stages' timings, iterations per class and the
/// users' states (for ending their sessions).
pub(super) async fn run(
    shared: &Arc<Shared>,
    stages: &[OpenStage],
    max_in_flight: usize,
    run_start: Instant,
) -> (Vec<StageTiming>, Vec<u64>, Vec<UserState>) {
    let pool = Pool::default();
    let schedule =
        Schedule { shared: shared.clone(), stages: stages.to_vec(), max_in_flight, run_start, pool: pool.clone() };
    let (timings, picked, set) = tokio::spawn(schedule.arrivals()).await.expect("the schedule does not panic");
    drain(set, shared.config.drain).await;
    shared.recorder.set_users(0);
    let states = std::mem::take(&mut *pool.lock()).into_values().flatten().collect();
    (timings, picked, states)
}

/// Everything the schedule's task needs.
struct Schedule {
    shared: Arc<Shared>,
    stages: Vec<OpenStage>,
    max_in_flight: usize,
    run_start: Instant,
    pool: Pool,
}

/// What the schedule hands back: the stages' timings, iterations per class, the iterations still
/// running.
type Started = (Vec<StageTiming>, Vec<u64>, JoinSet<()>);

impl Schedule {
    /// Starts the iterations on time until the last stage ends (or the stop).
    async fn arrivals(self) -> Started {
        let shared = &self.shared;
        let classes = &shared.config.scenario.users;
        let mut picked = vec![0u64; classes.len()];
        let class_pick = WeightedIndex::new(classes.iter().map(|c| c.weight)).expect("validated: classes exist");
        let in_flight = Arc::new(AtomicUsize::new(0));
        let segment = shared.config.segment;
        let mut picker = UserState::new(u64::MAX - u64::from(segment.index), shared.config.seed);
        let mut set = JoinSet::new();
        let mut next_id = 0u64;
        let mut timings = Vec::new();
        let stop = shared.config.stop.clone();
        for (index, stage) in self.stages.iter().enumerate() {
            if stop.is_cancelled() {
                break;
            }
            shared.recorder.set_stage(index);
            let stage_start = Instant::now();
            let stage_end = stage_start + stage.duration;
            let interval = Duration::from_secs_f64(1.0 / stage.rate);
            let mut peak = 0u64;
            let mut k = 0u32;
            let mut stopped = false;
            loop {
                // Segments interleave: each offsets its schedule by its phase of its own interval.
                let scheduled = stage_start + interval.mul_f64(f64::from(k) + segment.phase());
                if scheduled >= stage_end {
                    break;
                }
                if !sleep_until(scheduled, &stop).await {
                    stopped = true;
                    break;
                }
                k += 1;
                let current = in_flight.load(Ordering::Relaxed);
                if current >= self.max_in_flight {
                    shared.recorder.count_scheduled(true);
                    continue;
                }
                shared.recorder.count_scheduled(false);
                peak = peak.max(current as u64 + 1);
                in_flight.fetch_add(1, Ordering::Relaxed);
                shared.recorder.set_users(in_flight.load(Ordering::Relaxed) as u64);
                let class = class_pick.sample(&mut picker.rng);
                picked[class] += 1;
                let state = self.pool.lock().entry(class).or_default().pop();
                let mut state = state.unwrap_or_else(|| {
                    next_id += 1;
                    UserState::new(segment.user_id(next_id), shared.config.seed)
                });
                while set.try_join_next().is_some() {}
                let (shared, pool, in_flight) = (shared.clone(), self.pool.clone(), in_flight.clone());
                let iteration = async move {
                    if Instant::now().saturating_duration_since(scheduled) > LATE_AFTER {
                        shared.recorder.count_late();
                    }
                    shared.iterate(class, &mut state, scheduled).await;
                    pool.lock().entry(class).or_default().push(state);
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                };
                set.spawn(iteration);
            }
            timings.push(StageTiming {
                index,
                started_s: (stage_start - self.run_start).as_secs_f64(),
                duration_s: stage_start.elapsed().as_secs_f64(),
                target: stage.rate,
                peak,
                reached_s: None,
                complete: !stopped,
            });
        }
        (timings, picked, set)
    }
}
