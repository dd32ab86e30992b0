//! The one internal load plan every shape becomes: closed stages (users and spawn rate) or open
//! arrival-rate stages (iterations per second, bounded in flight).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A closed-model stage: hold `users`, reaching them at `spawn_rate` users per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedStage {
    /// Users during the stage.
    pub users: u32,
    /// Users started or stopped per second.
    pub spawn_rate: f64,
    /// Length.
    #[serde(with = "seconds")]
    pub duration: Duration,
}

/// An open-model stage: start `rate` iterations per second whatever the responses do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenStage {
    /// Iterations per second.
    pub rate: f64,
    /// Length.
    #[serde(with = "seconds")]
    pub duration: Duration,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum Plan {
    /// Users loop over tasks with think time.
    Closed {
        /// Stages in order.
        stages: Vec<ClosedStage>,
    },
    /// Iterations arrive at a rate (coordinated omission corrected: latency counts from the schedule).
    Open {
        /// Stages in order.
        stages: Vec<OpenStage>,
        /// Iterations in flight at most; more are dropped and counted.
        max_in_flight: usize,
    },
}

mod seconds {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let seconds = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

impl Plan {
    /// Total planned duration.
    pub fn total(&self) -> Duration {
        let add = |sum: Duration, d: Duration| sum.saturating_add(d);
        match self {
            Plan::Closed { stages } => stages.iter().map(|s| s.duration).fold(Duration::ZERO, add),
            Plan::Open { stages, .. } => stages.iter().map(|s| s.duration).fold(Duration::ZERO, add),
        }
    }

    /// Number of stages.
    pub fn stage_count(&self) -> usize {
        match self {
            Plan::Closed { stages } => stages.len(),
            Plan::Open { stages, .. } => stages.len(),
        }
    }

    /// Stretches or shrinks the whole plan in time by `factor`: every stage's duration is
    /// multiplied by it and every spawn rate divided by it, so each ramp keeps its share of its
    /// stage and a shortened plan still reaches every stage's users. Arrival rates stay: they are
    /// the load itself.
    pub fn scale(&mut self, factor: f64) {
        let scale =
            |d: &mut Duration| *d = Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX);
        match self {
            Plan::Closed { stages } => stages.iter_mut().for_each(|s| {
                scale(&mut s.duration);
                s.spawn_rate /= factor;
            }),
            Plan::Open { stages, .. } => stages.iter_mut().for_each(|s| scale(&mut s.duration)),
        }
    }

    /// The most users any stage holds (closed) or 0 (open).
    pub fn peak_users(&self) -> u32 {
        match self {
            Plan::Closed { stages } => stages.iter().map(|s| s.users).max().unwrap_or(0),
            Plan::Open { .. } => 0,
        }
    }

    /// What makes the plan unrunnable after overrides (a spawn rate of 0 or NaN, a duration past
    /// [`crate::duration::MAX`] once scaled, ...), each as `field: problem`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let max = crate::duration::MAX;
        if self.total() > max {
            out.push(format!(
                "the plan lasts {:.3e} s, over the 30 days a run may last; scale it down (--run-time, --duration-scale)",
                self.total().as_secs_f64()
            ));
        }
        match self {
            Plan::Closed { stages } => {
                for (i, s) in stages.iter().enumerate() {
                    if !(s.spawn_rate.is_finite() && s.spawn_rate > 0.0) {
                        out.push(format!(
                            "stage {}: spawn rate {} must be a positive number of users per second",
                            i + 1,
                            s.spawn_rate
                        ));
                    }
                }
            }
            Plan::Open { stages, max_in_flight } => {
                for (i, s) in stages.iter().enumerate() {
                    if !(s.rate.is_finite() && s.rate > 0.0) {
                        out.push(format!(
                            "stage {}: arrival rate {} must be a positive number per second",
                            i + 1,
                            s.rate
                        ));
                    }
                }
                if *max_in_flight == 0 {
                    out.push("max_in_flight must be at least 1".into());
                }
            }
        }
        out
    }

    /// Closed stages whose users cannot be reached within their length at their spawn rate,
    /// each with the reason (index, message).
    pub fn unreachable_stages(&self) -> Vec<(usize, String)> {
        let Plan::Closed { stages } = self else { return Vec::new() };
        let mut from = 0u32;
        let mut out = Vec::new();
        for (index, stage) in stages.iter().enumerate() {
            let change = f64::from(stage.users.abs_diff(from));
            // The first user of a ramp starts at once, then one every 1/rate seconds.
            let needed = (change - 1.0).max(0.0) / stage.spawn_rate;
            if needed > stage.duration.as_secs_f64() {
                out.push((
                    index,
                    format!(
                        "stage {} cannot reach {} users: going from {from} at {}/s takes {needed:.1} s and the stage lasts {:.1} s; raise --spawn-rate or lengthen the stage",
                        index + 1,
                        stage.users,
                        stage.spawn_rate,
                        stage.duration.as_secs_f64()
                    ),
                ));
            }
            from = stage.users;
        }
        out
    }

    /// Scales the stages so the whole plan lasts `total`.
    pub fn fit(&mut self, total: Duration) {
        let now = self.total().as_secs_f64();
        if now > 0.0 {
            self.scale(total.as_secs_f64() / now);
        }
    }

    /// Overrides users (and spawn rate) of every closed stage.
    pub fn override_users(&mut self, users: Option<u32>, spawn_rate: Option<f64>) {
        if let Plan::Closed { stages } = self {
            for stage in stages {
                if let Some(u) = users {
                    stage.users = u;
                }
                if let Some(r) = spawn_rate {
                    stage.spawn_rate = r;
                }
            }
        }
    }
}
