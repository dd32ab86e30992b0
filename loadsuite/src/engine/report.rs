//! What the engine reports besides the samples: when each stage ran, the users each class got,
//! and every gap between the plan and the run as a [`RunWarning`] (kept in run.json, shown on
//! stderr, read by the verdict).

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// When each stage actually ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTiming {
    /// Stage index.
    pub index: usize,
    /// Seconds from the run start.
    pub started_s: f64,
    /// Seconds it lasted.
    pub duration_s: f64,
    /// Users (closed) or the rate (open) it aimed at.
    pub target: f64,
    /// Most users (closed) or iterations in flight (open) reached.
    pub peak: u64,
    /// Closed: seconds from the stage start until its user count was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_s: Option<f64>,
    /// Whether the stage ran its whole planned length (false when the run was stopped in it).
    pub complete: bool,
}

/// How many users (closed) or iterations (open) one user class got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassUsage {
    /// Class name.
    pub name: String,
    /// Its weight in the scenario.
    pub weight: u32,
    /// Closed: the most users it had at once. Open: the iterations it was picked for.
    pub peak: u64,
}

/// What kind of gap between the plan and the run a warning reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A user class got no users (too few users for the weights), so its tasks never ran.
    ClassWithoutUsers,
    /// A stage ended before its user count was reached.
    StageTargetNotReached,
    /// The plan itself cannot reach a stage's users in the stage's length at its spawn rate.
    StageUnreachable,
    /// The run was stopped before the plan's end.
    Interrupted,
    /// A stage's stream timing (TTFT, inter-token gaps) includes the generator's own delay (see
    /// [`crate::monitor::stream_distortion`]) or a target's own lag it reported
    /// ([`crate::counters::stream_lag`]).
    StreamTimingDistorted,
}

/// A gap between what the plan asked for and what ran, shown on stderr and kept in run.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunWarning {
    /// What kind of gap.
    pub kind: WarningKind,
    /// The stage it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// What happened and what to do about it.
    pub message: String,
}

/// What the engine reports besides the samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineReport {
    /// Stage timings.
    pub stages: Vec<StageTiming>,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// Seconds the run lasted.
    pub duration_s: f64,
    /// Users (or iterations) each class got.
    #[serde(default)]
    pub classes: Vec<ClassUsage>,
    /// Where the run fell short of the plan.
    #[serde(default)]
    pub warnings: Vec<RunWarning>,
}

/// The gaps between the plan and what ran.
pub(super) fn warnings(
    plan: &Plan,
    stages: &[StageTiming],
    classes: &[ClassUsage],
    interrupted: bool,
) -> Vec<RunWarning> {
    let mut out = Vec::new();
    let open = matches!(plan, Plan::Open { .. });
    let weights: Vec<String> = classes.iter().map(|c| c.weight.to_string()).collect();
    for class in classes.iter().filter(|c| c.peak == 0) {
        let message = if open {
            format!(
                "user class `{}` was never picked: its tasks did not run (weights {})",
                class.name,
                weights.join(":")
            )
        } else {
            format!(
                "user class `{}` got 0 users, so its tasks did not run: the plan's {} users are shared out by weight ({}); give at least {} users or raise its weight",
                class.name,
                plan.peak_users(),
                weights.join(":"),
                classes.len()
            )
        };
        out.push(RunWarning { kind: WarningKind::ClassWithoutUsers, stage: None, message });
    }
    if let Plan::Closed { stages: planned } = plan {
        for (timing, stage) in stages.iter().zip(planned) {
            if timing.reached_s.is_none() && timing.complete {
                out.push(RunWarning {
                    kind: WarningKind::StageTargetNotReached,
                    stage: Some(timing.index),
                    message: format!(
                        "stage {} aimed at {} users and reached {} in {:.1} s (spawn rate {}/s): its figures are not those of {} users",
                        timing.index + 1,
                        stage.users,
                        timing.peak,
                        timing.duration_s,
                        stage.spawn_rate,
                        stage.users
                    ),
                });
            }
        }
    }
    if interrupted {
        let ran = stages.iter().filter(|s| s.complete).count();
        out.push(RunWarning {
            kind: WarningKind::Interrupted,
            stage: stages.iter().find(|s| !s.complete).map(|s| s.index),
            message: format!(
                "the run was stopped after {ran} of {} stages: its results are partial",
                plan.stage_count()
            ),
        });
    }
    out
}
