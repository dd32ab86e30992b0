//! The statistical tests behind verdicts: Mann-Whitney U on two latency histograms (is one
//! distribution shifted?) and a two-proportion z-test on failure counts (did the error rate rise?).
//! Both use the normal approximation, valid for the sample sizes verdicts require (>= 30 a side).

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

/// Mann-Whitney U test of `current` against `baseline`: (z, one-sided p that current is larger).
/// Ties (same histogram bucket) get mid-ranks and the variance correction.
pub fn mann_whitney(baseline: &Histogram<u64>, current: &Histogram<u64>) -> (f64, f64) {
    let (n1, n2) = (baseline.len() as f64, current.len() as f64);
    if n1 == 0.0 || n2 == 0.0 {
        return (0.0, 1.0);
    }
    let mut values: Vec<(u64, u64, u64)> = Vec::new();
    let mut a = baseline.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).peekable();
    let mut b = current.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).peekable();
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => break,
            (Some((va, ca)), Some((vb, cb))) if va == vb => {
                values.push((va, ca, cb));
                a.next();
                b.next();
            }
            (Some((va, ca)), Some((vb, _))) if va < vb => {
                values.push((va, ca, 0));
                a.next();
            }
            (Some((va, ca)), None) => {
                values.push((va, ca, 0));
                a.next();
            }
            (_, Some((vb, cb))) => {
                values.push((vb, 0, cb));
                b.next();
            }
        }
    }
    let mut rank_start = 0.0;
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0;
    for (_, ca, cb) in values {
        let t = (ca + cb) as f64;
        let mid = rank_start + (t + 1.0) / 2.0;
        rank_sum_current += mid * cb as f64;
        tie_term += t * t * t - t;
        rank_start += t;
    }
    let u = rank_sum_current - n2 * (n2 + 1.0) / 2.0;
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if variance <= 0.0 {
        return (0.0, 1.0);
    }
    let z = (u - n1 * n2 / 2.0) / variance.sqrt();
    (z, upper_tail(z))
}

/// Two-proportion z-test: one-sided p that the current failure rate exceeds the baseline's.
pub fn error_rate_increase(base_failures: u64, base_n: u64, cur_failures: u64, cur_n: u64) -> f64 {
    if base_n == 0 || cur_n == 0 {
        return 1.0;
    }
    let (p1, p2) = (base_failures as f64 / base_n as f64, cur_failures as f64 / cur_n as f64);
    let pooled = (base_failures + cur_failures) as f64 / (base_n + cur_n) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / base_n as f64 + 1.0 / cur_n as f64)).sqrt();
    if se == 0.0 {
        return if p2 > p1 { 0.0 } else { 1.0 };
    }
    upper_tail((p2 - p1) / se)
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
    fn normal_tail_is_right() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((upper_tail(1.96) - 0.025).abs() < 1e-4);
        assert!((upper_tail(-1.645) - 0.95).abs() < 1e-4);
    }

    #[test]
    fn shifted_distributions_are_significant_and_equal_ones_are_not() {
        let base = hist((0..500).map(|i| 1000 + (i * 7919) % 1000));
        let same = hist((0..500).map(|i| 1000 + (i * 104_729) % 1000));
        let slower = hist((0..500).map(|i| 2000 + (i * 7919) % 1000));
        assert!(mann_whitney(&base, &same).1 > 0.05);
        assert!(mann_whitney(&base, &slower).1 < 1e-6);
        assert!(mann_whitney(&slower, &base).1 > 0.99, "one-sided: faster is not a slowdown");
    }

    #[test]
    fn error_rate_test() {
        assert!(error_rate_increase(3, 900, 9, 900) > 0.01, "0.33% -> 1.0% on 900 requests is not conclusive");
        assert!(error_rate_increase(10, 1000, 50, 1000) < 1e-6, "1% -> 5% on 1000 is");
        assert!(error_rate_increase(0, 100, 0, 100) >= 0.5);
    }
}
