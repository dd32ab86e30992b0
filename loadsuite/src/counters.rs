//! Target-side counters: what the services themselves counted during a run. Read from each
//! target at the start and the end of the run, from the mocks' `/__admin/counters` (JSON) or any
//! Prometheus `/metrics` (text), and kept as the change over the run, so a verdict can hold a
//! target to expectations such as "sandbox violations: 0" and report injected faults apart from
//! genuine errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{RunWarning, WarningKind};
use crate::tasks::Http;

/// The change of one target's counters over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetCounters {
    /// Where they came from: `admin` (`/__admin/counters`) or `prometheus` (`/metrics`).
    pub source: String,
    /// Counter name -> change over the run. From `admin`: `total_requests`, `injected_faults`,
    /// `genuine_errors`, `client_aborts`, `streamed_tokens` and `late_stream_tokens` (when the
    /// target counts them), `events.EVENT` (and `events.EVENT.VALUE`), `faults.RULE`; from
    /// `prometheus`: each metric summed over its labels.
    pub delta: BTreeMap<String, f64>,
}

/// Longest wait for one target's counters.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

fn flatten_admin(body: &Value) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for key in ["total_requests", "injected_faults", "genuine_errors", "client_aborts"] {
        out.insert(key.to_owned(), body.get(key)?.as_f64()?);
    }
    // Streamed tokens and those the target sent late through its own lag (a gateway mock's).
    for key in ["streamed_tokens", "late_stream_tokens"] {
        if let Some(n) = body.get(key).and_then(Value::as_f64) {
            out.insert(key.to_owned(), n);
        }
    }
    for (event, values) in body["events"].as_object().into_iter().flatten() {
        let mut sum = 0.0;
        for (value, n) in values.as_object().into_iter().flatten() {
            let n = n.as_f64().unwrap_or(0.0);
            sum += n;
            out.insert(format!("events.{event}.{value}"), n);
        }
        out.insert(format!("events.{event}"), sum);
    }
    for (rule, n) in body["faults"].as_object().into_iter().flatten() {
        out.insert(format!("faults.{rule}"), n.as_f64().unwrap_or(0.0));
    }
    Some(out)
}

/// Prometheus text: every sample summed per metric name over its labels.
fn flatten_prometheus(text: &str) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (name, Some(value)) = (&line[..name_end], value)
            && value.is_finite()
        {
            *out.entry(name.to_owned()).or_insert(0.0) += value;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Largest counters answer read; a bigger one is not a counters endpoint.
const MAX_BODY: usize = 1 << 20;

/// The body of a successful answer to `GET base+path`, at most [`MAX_BODY`] bytes.
async fn fetch(client: &Http, base: &str, path: &str) -> Option<Vec<u8>> {
    let mut response =
        client.request(reqwest::Method::GET, format!("{base}{path}")).timeout(READ_TIMEOUT).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return None;
        }
    }
    Some(body)
}

/// One target's counters now, with their source; `None` when it exposes none (`/metrics` is only
/// asked when `metrics`).
async fn read(client: &Http, base: &str, metrics: bool) -> Option<(String, BTreeMap<String, f64>)> {
    let base = base.trim_end_matches('/');
    if let Some(body) = fetch(client, base, "/__admin/counters").await
        && let Ok(body) = serde_json::from_slice::<Value>(&body)
        && let Some(counters) = flatten_admin(&body)
    {
        return Some(("admin".into(), counters));
    }
    if !metrics {
        return None;
    }
    let body = fetch(client, base, "/metrics").await?;
    flatten_prometheus(&String::from_utf8_lossy(&body)).map(|c| ("prometheus".into(), c))
}

/// Every target's counters now (targets that expose none are left out): the mocks'
/// `/__admin/counters`, and with `metrics` a Prometheus `/metrics` where that is missing. Asked
/// through `client`, so each target is asked over its own protocol and with its own key.
pub(crate) async fn read_all(
    client: &Http,
    targets: &BTreeMap<String, String>,
    metrics: bool,
) -> BTreeMap<String, (String, BTreeMap<String, f64>)> {
    let reads = targets.iter().map(|(name, url)| async move { (name.clone(), read(client, url, metrics).await) });
    futures::future::join_all(reads).await.into_iter().filter_map(|(name, read)| Some((name, read?))).collect()
}

/// The change from `start` to `end` per target (a target read only once is left out; a counter
/// that appeared during the run starts from 0).
pub(crate) fn change(
    start: &BTreeMap<String, (String, BTreeMap<String, f64>)>,
    end: BTreeMap<String, (String, BTreeMap<String, f64>)>,
) -> BTreeMap<String, TargetCounters> {
    end.into_iter()
        .filter_map(|(target, (source, after))| {
            let (_, before) = start.get(&target).filter(|(s, _)| *s == source)?;
            let delta =
                after.into_iter().map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0.0))).collect();
            Some((target, TargetCounters { source, delta }))
        })
        .collect()
}

/// Share of a target's streamed tokens sent late (its own `late_stream_tokens`: more than 5 ms
/// after they were due) from which the run's stream timing is not trusted: once more than 1% of
/// tokens leave over 5 ms late, the first tokens among them move TTFT p99 by more than 5 ms.
/// Measured with `make bench-streams` (2026-12-07): at 10,000 HTTP/2 streams the gateway mock sent
/// 2.3-6.0% of its tokens late and TTFT p99 was 24-56 ms over the configured value; at 5,000,
/// 0.04-0.11%.
const LATE_SHARE_DISTRUSTED: f64 = 0.01;

/// Fewest late tokens that count: a short run's few streams share one hiccup of the machine.
const MIN_LATE_TOKENS: f64 = 50.0;

/// Warnings for the streamed stages (`streamed`) of a run in which a target reported sending
/// more than [`LATE_SHARE_DISTRUSTED`] of its streamed tokens late: the target's own lag (a mock at
/// its CPU limit) is then in every TTFT and gap, not only the pacing it was configured with. The
/// counters cover the whole run, so every streamed stage is distrusted: inconclusive rather than
/// wrong.
pub(crate) fn stream_lag(counters: &BTreeMap<String, TargetCounters>, streamed: &[usize]) -> Vec<RunWarning> {
    let mut warnings = Vec::new();
    for (target, counted) in counters {
        let (Some(&tokens), Some(&late)) =
            (counted.delta.get("streamed_tokens"), counted.delta.get("late_stream_tokens"))
        else {
            continue;
        };
        if tokens <= 0.0 || late < MIN_LATE_TOKENS || late / tokens <= LATE_SHARE_DISTRUSTED {
            continue;
        }
        for &stage in streamed {
            warnings.push(RunWarning {
                kind: WarningKind::StreamTimingDistorted,
                stage: Some(stage),
                message: format!(
                    "stage {}: the target `{target}` sent {late:.0} of its {tokens:.0} streamed tokens ({:.1}%) more than 5 ms after they were due (its own `late_stream_tokens`, over the whole run): its TTFT and inter-token figures include the target's own delay and are not trustworthy; give the mock a core of its own (`--worker-threads`) or fewer streams",
                    stage + 1,
                    100.0 * late / tokens
                ),
            });
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_sending_over_one_percent_of_its_tokens_late_distrusts_every_streamed_stage() {
        let lagging = |tokens: f64, late: f64| {
            let delta =
                BTreeMap::from([("streamed_tokens".to_owned(), tokens), ("late_stream_tokens".to_owned(), late)]);
            BTreeMap::from([("gateway".to_owned(), TargetCounters { source: "admin".into(), delta })])
        };
        let warnings = stream_lag(&lagging(200_000.0, 6_000.0), &[1, 2]);
        assert_eq!(warnings.iter().map(|w| w.stage).collect::<Vec<_>>(), [Some(1), Some(2)]);
        assert!(warnings[0].kind == WarningKind::StreamTimingDistorted, "{warnings:?}");
        assert!(
            warnings[0].message.contains("`gateway` sent 6000 of its 200000 streamed tokens (3.0%)"),
            "{warnings:?}"
        );
        // 0.1% late, a short run's one hiccup, a target without the counter, a run without streams.
        assert!(stream_lag(&lagging(200_000.0, 200.0), &[0]).is_empty());
        assert!(stream_lag(&lagging(1_000.0, 40.0), &[0]).is_empty());
        assert!(stream_lag(&BTreeMap::from([("rag".to_owned(), TargetCounters::default())]), &[0]).is_empty());
        assert!(stream_lag(&lagging(200_000.0, 6_000.0), &[]).is_empty());
    }

    #[test]
    fn admin_counters_flatten_with_event_sums() {
        let body = serde_json::json!({"total_requests": 10, "injected_faults": 2, "genuine_errors": 1, "client_aborts": 0,
            "events": {"sandbox_violation": {"read_file": 3, "write_file": 1}}, "faults": {"slow": 2},
            "streamed_tokens": 400, "late_stream_tokens": 3});
        let flat = flatten_admin(&body).unwrap();
        assert_eq!((flat["streamed_tokens"], flat["late_stream_tokens"]), (400.0, 3.0));
        assert_eq!(flat["events.sandbox_violation"], 4.0);
        assert_eq!(flat["events.sandbox_violation.read_file"], 3.0);
        assert_eq!(flat["faults.slow"], 2.0);
        assert_eq!(flat["injected_faults"], 2.0);
    }

    #[test]
    fn prometheus_samples_sum_over_labels() {
        let text = "# HELP x y\nhttp_requests_total{code=\"200\"} 5\nhttp_requests_total{code=\"500\"} 2\nup 1\n";
        let flat = flatten_prometheus(text).unwrap();
        assert_eq!((flat["http_requests_total"], flat["up"]), (7.0, 1.0));
    }

    #[test]
    fn the_change_is_end_minus_start_and_new_counters_start_at_zero() {
        let start = BTreeMap::from([("mcp".to_owned(), ("admin".to_owned(), BTreeMap::from([("a".to_owned(), 5.0)])))]);
        let end = BTreeMap::from([(
            "mcp".to_owned(),
            ("admin".to_owned(), BTreeMap::from([("a".to_owned(), 8.0), ("b".to_owned(), 2.0)])),
        )]);
        let change = change(&start, end);
        assert_eq!(change["mcp"].delta, BTreeMap::from([("a".to_owned(), 3.0), ("b".to_owned(), 2.0)]));
    }
}
