//! What the command line changes in a scenario: its length, its users, its targets. Applied in
//! one order (time first, which scales spawn rates with durations, then explicit users and spawn
//! rate as given) and checked as the scenario file itself is: a plan that cannot run, a spawn rate
//! of 0, or a target name that is a typo is refused, never silently used.

use std::time::Duration;

use super::Scenario;

/// The command line's overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Users in every stage.
    pub users: Option<u32>,
    /// Users started per second in every stage.
    pub spawn_rate: Option<f64>,
    /// Total length: stages are scaled to fit.
    pub run_time: Option<Duration>,
    /// Factor on every stage's length.
    pub duration_scale: Option<f64>,
    /// `NAME=URL` target overrides.
    pub targets: Vec<String>,
}

/// The stack's own target names, which the Makefile and compose pass to every scenario: a
/// scenario without one of them ignores it. Any other unknown name is a typo.
const STACK_TARGETS: [&str; 3] = ["gateway", "rag", "mcp"];

impl Scenario {
    /// Applies `o`; an `Err` names the flag that is wrong. `shape` is false for ad-hoc runs, whose
    /// plan the flags already made.
    pub fn apply(&mut self, o: &Overrides, shape: bool) -> Result<(), String> {
        if let Some(rate) = o.spawn_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!("--spawn-rate {rate}: must be a positive number of users per second"));
        }
        if shape {
            if let Some(factor) = o.duration_scale {
                if !(factor.is_finite() && factor > 0.0) {
                    return Err("--duration-scale must be a positive number".into());
                }
                self.plan.scale(factor);
            }
            if let Some(total) = o.run_time {
                self.plan.fit(total);
            }
            self.plan.override_users(o.users, o.spawn_rate);
        }
        let problems = self.plan.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        for target in &o.targets {
            let (name, url) = target.split_once('=').ok_or_else(|| format!("--target {target}: write NAME=URL"))?;
            if !self.targets.contains_key(name) && !STACK_TARGETS.contains(&name) {
                let known: Vec<&str> = self.targets.keys().map(String::as_str).collect();
                return Err(format!(
                    "--target {target}: scenario `{}` has no target `{name}` (its targets: {}); a typo here would load the default URL",
                    self.name,
                    known.join(", ")
                ));
            }
            reqwest::Url::parse(url).map_err(|e| format!("--target {target}: `{url}` is not a URL ({e})"))?;
            if self.http2.iter().any(|n| n == name) && !url.starts_with("http://") {
                return Err(format!(
                    "--target {target}: scenario `{}` speaks HTTP/2 without TLS (h2c) to `{name}`; give an http:// URL",
                    self.name
                ));
            }
            self.targets.insert(name.to_owned(), url.to_owned());
        }
        Ok(())
    }
}
