//! The statistics behind verdicts, written for the way load-test samples behave: requests inside
//! one run are not independent (the machine drifts), so no test here treats thousands of requests
//! as thousands of independent observations of "the service". Latency is judged on the p95 with
//! a distribution-free confidence interval plus the run-to-run spread; failure counts with an
//! exact conditional binomial test (mid-p: the usual correction for a discrete test's
//! conservativeness); targets with Wilson intervals.

use hdrhistogram::Histogram;

/// Standard normal upper tail P(Z > z) (Abramowitz & Stegun 7.1.26 erfc, error < 1.5e-7).
pub fn upper_tail(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 { erfc / 2.0 } else { 1.0 - erfc / 2.0 }
}

/// The z with P(Z > z) = `p` (0 < p < 1), by bisection on [`upper_tail`].
pub fn z_for(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if upper_tail(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// A distribution-free confidence interval (ms) for quantile `q` of a µs histogram: the values at
/// the ranks `n q ± z sqrt(n q (1-q))` (the binomial interval of order statistics). `None` when the
/// histogram is empty.
pub fn quantile_interval(h: &Histogram<u64>, q: f64, z: f64) -> Option<(f64, f64)> {
    let n = h.len() as f64;
    if n == 0.0 {
        return None;
    }
    let half = z * (n * q * (1.0 - q)).sqrt();
    let rank = |r: f64| (r / n).clamp(0.0, 1.0);
    let lower = h.value_at_quantile(rank((n * q - half).floor())) as f64 / 1000.0;
    let upper = h.value_at_quantile(rank((n * q + half).ceil())) as f64 / 1000.0;
    Some((lower.max(0.001), upper.max(0.001)))
}

/// The standard error of the logarithm of quantile `q`, from the 95% order-statistic interval:
/// large for few samples, small for many.
pub fn log_quantile_se(h: &Histogram<u64>, q: f64) -> f64 {
    match quantile_interval(h, q, 1.96) {
        Some((lo, hi)) => (hi.ln() - lo.ln()) / (2.0 * 1.96),
        None => f64::INFINITY,
    }
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI.ln() - (std::f64::consts::PI * x).sin().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(X >= k) for X ~ Binomial(n, p), exact (summed in log space).
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    if n > 1_000_000 {
        // Far beyond any exactness that matters: the normal approximation, continuity-corrected.
        let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        return upper_tail((k as f64 - 0.5 - mean) / sd);
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let terms: Vec<f64> = (k..=n).map(|i| ln_choose(n, i) + i as f64 * lp + (n - i) as f64 * lq).collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()).exp().min(1.0)
}

/// P(X = k) for X ~ Binomial(n, p).
fn binomial_pmf(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    match p {
        p if p <= 0.0 => f64::from(u8::from(k == 0)),
        p if p >= 1.0 => f64::from(u8::from(k == n)),
        p => (ln_choose(n, k) + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp(),
    }
}

/// One-sided p-value that the current failure rate exceeds the baseline's: conditional on the
/// failures seen on both sides, how likely the current side holds more than its count (plus half
/// the chance of exactly its count: the mid-p) if both rates were equal. Unlike the z-test it stays
/// honest for rare failures and for merged baselines.
pub fn error_rate_increase(base_failures: u64, base_n: u64, cur_failures: u64, cur_n: u64) -> f64 {
    if base_n == 0 || cur_n == 0 || cur_failures == 0 {
        return 1.0;
    }
    let total = base_failures + cur_failures;
    let share = cur_n as f64 / (base_n + cur_n) as f64;
    let at_least = binomial_upper_tail(cur_failures, total, share);
    if total > 1_000_000 {
        return at_least;
    }
    (at_least - 0.5 * binomial_pmf(cur_failures, total, share)).max(0.0)
}

/// The Wilson score interval of a proportion `k / n` at normal quantile `z`.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = crate::stats::histogram();
        values.into_iter().for_each(|v| h.record(v).unwrap());
        h
    }

    #[test]
    fn normal_tail_and_its_inverse() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((upper_tail(1.96) - 0.025).abs() < 1e-4);
        assert!((upper_tail(-1.645) - 0.95).abs() < 1e-4);
        assert!((z_for(0.025) - 1.96).abs() < 1e-3);
        assert!((z_for(0.001) - 3.09).abs() < 1e-2);
    }

    #[test]
    fn binomial_tail_is_exact() {
        // P(X >= 1) for Binomial(1, 0.5) = 0.5; P(X >= 10 | 10, 0.5) = 1/1024.
        assert!((binomial_upper_tail(1, 1, 0.5) - 0.5).abs() < 1e-12);
        assert!((binomial_upper_tail(10, 10, 0.5) - 1.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_upper_tail(0, 10, 0.3) - 1.0).abs() < 1e-12);
        // P(X >= 2 | 20, 0.1) = 1 - 0.9^20 - 20 * 0.1 * 0.9^19
        let want = 1.0 - 0.9f64.powi(20) - 2.0 * 0.9f64.powi(19);
        assert!((binomial_upper_tail(2, 20, 0.1) - want).abs() < 1e-12);
    }

    #[test]
    fn error_rate_test_is_conservative_for_rare_failures_and_sees_real_rises() {
        assert!(error_rate_increase(3, 900, 9, 900) > 0.01, "0.33% -> 1.0% on 900 requests is not conclusive");
        assert!(error_rate_increase(10, 1000, 50, 1000) < 1e-6, "1% -> 5% on 1000 is");
        assert!(error_rate_increase(0, 100, 0, 100) >= 0.5);
        assert!(error_rate_increase(0, 100, 1, 100) > 0.2, "one new failure proves nothing");
        // Mid-p: P(X > k) + P(X = k) / 2 for X ~ Binomial(4, 0.5), k = 3: 1/16 + 4/32.
        assert!((error_rate_increase(1, 100, 3, 100) - (1.0 / 16.0 + 4.0 / 32.0)).abs() < 1e-12);
    }

    #[test]
    fn quantile_intervals_narrow_with_samples() {
        let small = hist((1..=40).map(|i| i * 1000));
        let large = hist((1..=4000).map(|i| (i % 40 + 1) * 1000));
        assert!(log_quantile_se(&small, 0.95) > 2.0 * log_quantile_se(&large, 0.95));
        let (lo, hi) = quantile_interval(&large, 0.5, 1.96).unwrap();
        assert!(lo <= 21.0 && hi >= 20.0, "{lo} {hi}");
    }

    #[test]
    fn wilson_bounds() {
        let (lo, hi) = wilson(0, 100, 1.96);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.03 && hi < 0.04, "{hi}");
        let (lo, hi) = wilson(50, 100, 1.96);
        assert!(lo < 0.5 && hi > 0.5);
    }
}
