//! A busier machine is not a slower service. The generator measures how late its own timers fire
//! in every stage (`StageLag`); when a stage's lateness rose over what the baseline's runs saw,
//! every request of the stage may have waited that much longer for a CPU, several times over (the
//! send, the server's read and answer, the receive). A latency regression the added wait can
//! explain (or a TTFT rise) is inconclusive, with the figures: it says "rerun on a quieter machine", never "the
//! service got slower". Regressions larger than that, and every error-rate check, stand.

use super::model::{Check, CheckKind, Verdict};
use crate::engine::{RunWarning, WarningKind};
use crate::formats::baseline::{BaselineWarning, BaselineWarningKind, EndpointMeasure};
use crate::monitor::StageLag;

/// How many waits for a CPU one request's latency can include: a p95 rise up to this many times
/// the rise of the timers' p99 lateness can come from the machine alone.
pub const WAITS_PER_REQUEST: f64 = 4.0;

/// Smallest rise of the timers' p99 lateness that counts as a busier machine (the timer wheel's
/// own resolution is 1 ms).
pub const MIN_LAG_RISE_MS: f64 = 1.0;

/// How much later the stage's timers fired in the run than in the baseline (p99, ms), when that is
/// a busier machine at all.
pub fn lag_rise(stage: usize, baseline: &[StageLag], run: &[StageLag]) -> Option<(f64, StageLag, StageLag)> {
    let base = baseline.iter().find(|l| l.stage == stage)?;
    let now = run.iter().find(|l| l.stage == stage)?;
    let rise = now.p99_ms - base.p99_ms;
    (rise >= MIN_LAG_RISE_MS).then_some((rise, *base, *now))
}

/// Stream timing the run itself did not trust (a `WarningKind::StreamTimingDistorted` stage:
/// the generator's own delay is in it) proves nothing either way, and neither does a baseline
/// recorded from such a run: the stage's TTFT checks are inconclusive with the reason, whatever
/// they found.
pub fn distrust_streams(checks: &mut [Check], stage: usize, run: &[RunWarning], baseline: &[BaselineWarning]) {
    let in_run = run.iter().find(|w| w.kind == WarningKind::StreamTimingDistorted && w.stage == Some(stage));
    let in_baseline =
        baseline.iter().find(|w| w.kind == BaselineWarningKind::StreamTimingDistorted && w.stage == Some(stage));
    let reason = match (in_run, in_baseline) {
        (Some(w), _) => w.message.clone(),
        (None, Some(w)) => format!("the baseline's stream timing in this stage was distorted ({})", w.message),
        (None, None) => return,
    };
    for check in checks.iter_mut().filter(|c| c.kind == CheckKind::TtftP95) {
        check.verdict = Verdict::Inconclusive;
        check.detail = format!("{}; not trusted: {reason}", check.detail);
    }
}

/// Turns a latency regression the busier machine can explain into inconclusive, saying why.
pub fn discount(
    checks: &mut [Check],
    stage: usize,
    base: &EndpointMeasure,
    current: &EndpointMeasure,
    lags: (&[StageLag], &[StageLag]),
) {
    let Some((rise, then, now)) = lag_rise(stage, lags.0, lags.1) else { return };
    let ttft_p95 = |m: &EndpointMeasure| {
        m.ttft_decoded().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(0.95) as f64 / 1000.0)
    };
    let explained = WAITS_PER_REQUEST * rise;
    for check in checks.iter_mut().filter(|c| c.verdict.fails()) {
        let (was, is) = match check.kind {
            CheckKind::LatencyP95 => (base.percentile("p95", 0.95), current.percentile("p95", 0.95)),
            CheckKind::TtftP95 => (ttft_p95(base), ttft_p95(current)),
            _ => continue,
        };
        let (Some(was), Some(is)) = (was, is) else { continue };
        let p95_rise = is - was;
        if p95_rise <= explained {
            check.verdict = Verdict::Inconclusive;
            check.detail = format!(
                "{}; but the machine was busier than when the baseline was recorded (the generator's timers fired late by p99 {:.1} ms, against {:.1} ms), which can add up to {explained:.0} ms to a request's p95: a rise of {p95_rise:.0} ms cannot be told apart from it. Rerun on a quieter machine",
                check.detail, now.p99_ms, then.p99_ms
            );
        }
    }
}
