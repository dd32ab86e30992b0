//! An ad-hoc scenario: load on one URL, the way `oha` or `hey` are used (`loadsuite run --url`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Scenario, Task, TaskKind, Think, UserClass};
use crate::plan::{ClosedStage, OpenStage, Plan};

/// What `loadsuite run --url` says.
#[derive(Debug, Clone)]
pub struct AdHoc {
    /// The URL to load.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers as `Name: value`.
    pub headers: Vec<String>,
    /// Request body.
    pub body: Option<String>,
    /// Users (closed model); 10 by default.
    pub users: Option<u32>,
    /// Users started per second; all at once by default.
    pub spawn_rate: Option<f64>,
    /// Arrival rate per second (open model) instead of users.
    pub rate: Option<f64>,
    /// Think time: `MIN` or `MIN..MAX` seconds.
    pub wait: Option<String>,
    /// How long.
    pub run_time: Duration,
}

fn seconds(text: &str) -> Result<f64, String> {
    crate::duration::parse(text).map(|d| d.as_secs_f64()).map_err(|e| format!("--wait: {e}"))
}

impl Scenario {
    /// The scenario of an ad-hoc run; an `Err` names the flag that is wrong.
    pub fn ad_hoc(a: &AdHoc) -> Result<Scenario, String> {
        let parsed = reqwest::Url::parse(&a.url).map_err(|e| format!("--url {}: {e}", a.url))?;
        let base = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("localhost"))
            + &parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let mut path = parsed.path().to_owned();
        if let Some(q) = parsed.query() {
            path = format!("{path}?{q}");
        }
        let method = http::Method::from_bytes(a.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("-X {}: not an HTTP method", a.method))?;
        let headers = a
            .headers
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| format!("-H {h}: write `Name: value`"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let think = match a.wait.as_deref() {
            None => Think::None,
            Some(w) => match w.split_once("..") {
                Some((low, high)) => {
                    let (min, max) = (seconds(low)?, seconds(high)?);
                    if min > max {
                        return Err(format!("--wait {w}: the minimum must not exceed the maximum (write MIN..MAX)"));
                    }
                    Think::Between { min, max }
                }
                None => Think::Constant { seconds: seconds(w)? },
            },
        };
        let task = Task {
            name: parsed.path().to_owned(),
            weight: 1,
            kind: TaskKind::Http { method, path, body: a.body.clone(), headers },
            expect_status: None,
        };
        let plan = match a.rate {
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                Plan::Open { stages: vec![OpenStage { rate, duration: a.run_time }], max_in_flight: 10_000 }
            }
            Some(_) => return Err("--rate must be positive".into()),
            None => {
                let users = a.users.unwrap_or(10);
                let spawn_rate = a.spawn_rate.unwrap_or(f64::from(users));
                Plan::Closed { stages: vec![ClosedStage { users, spawn_rate, duration: a.run_time }] }
            }
        };
        Ok(Scenario {
            name: "adhoc".into(),
            description: format!("{} {}", a.method, a.url),
            targets: BTreeMap::from([("url".to_owned(), base)]),
            api_keys: BTreeMap::new(),
            http2: Vec::new(),
            thresholds: None,
            users: vec![UserClass { name: "adhoc".into(), weight: 1, target: "url".into(), think, tasks: vec![task] }],
            plan,
        })
    }
}
