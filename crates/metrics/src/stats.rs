//! Reproducible statistics: seeded bootstrap confidence intervals and a paired permutation test.
//!
//! The generator is SplitMix64, written here so a seed gives the same numbers on every platform
//! and every version of every dependency.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant for n < 2^32).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Settings that change the intervals and p-values; they are part of the metric signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsConfig {
    pub bootstrap_resamples: u32,
    pub permutations: u32,
    pub seed: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            bootstrap_resamples: 1000,
            permutations: 10_000,
            seed: 12345,
        }
    }
}

/// The plain mean, summed left to right as Python's `sum(xs) / len(xs)`.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Linear-interpolated quantile of sorted values (numpy's default "linear" method).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

/// The 95% percentile interval of bootstrap draws (sorted here), as the intervals above take
/// it: numpy's linear quantiles at 2.5% and 97.5%. `None` for fewer than two draws.
pub fn percentile_interval(draws: &mut [f64]) -> Option<(f64, f64)> {
    if draws.len() < 2 {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    Some((quantile(draws, 0.025), quantile(draws, 0.975)))
}

/// 95% percentile-bootstrap interval of the mean. `None` for fewer than two values.
pub fn bootstrap_mean_ci(values: &[f64], config: &StatsConfig) -> Option<(f64, f64)> {
    bootstrap_mean_cis(&[values], config).pop().flatten()
}

/// The bootstrap means of `K` equal-length columns, one index draw per resample and row for all
/// columns. Rows are laid out contiguously so each draw reads one cache line, not `K`.
fn resample_means<const K: usize>(
    columns: &[&[f64]],
    n: usize,
    resamples: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let rows: Vec<[f64; K]> = (0..n)
        .map(|i| std::array::from_fn(|j| columns[j][i]))
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut means = vec![Vec::with_capacity(resamples); K];
    for _ in 0..resamples {
        let mut totals = [0.0; K];
        for _ in 0..n {
            let row = &rows[rng.below(n)];
            for j in 0..K {
                totals[j] += row[j];
            }
        }
        for (m, total) in means.iter_mut().zip(totals) {
            m.push(total / n as f64);
        }
    }
    means
}

/// Bootstrap intervals of several columns over the same samples (equal lengths), drawing each
/// resample's indices once for all columns, so that the nine metrics cost one set of draws.
pub fn bootstrap_mean_cis(columns: &[&[f64]], config: &StatsConfig) -> Vec<Option<(f64, f64)>> {
    let n = columns.first().map_or(0, |c| c.len());
    if n < 2 || config.bootstrap_resamples == 0 || columns.iter().any(|c| c.len() != n) {
        return vec![None; columns.len()];
    }
    let resamples = config.bootstrap_resamples as usize;
    let means = match columns.len() {
        1 => resample_means::<1>(columns, n, resamples, config.seed),
        4 => resample_means::<4>(columns, n, resamples, config.seed),
        5 => resample_means::<5>(columns, n, resamples, config.seed),
        9 => resample_means::<9>(columns, n, resamples, config.seed),
        _ => columns
            .iter()
            .map(|column| {
                resample_means::<1>(&[column], n, resamples, config.seed)
                    .pop()
                    .unwrap_or_default()
            })
            .collect(),
    };
    means
        .into_iter()
        .map(|mut m| {
            m.sort_by(f64::total_cmp);
            Some((quantile(&m, 0.025), quantile(&m, 0.975)))
        })
        .collect()
}

/// Two runs compared on the samples they share: mean of (a - b), its 95% bootstrap interval,
/// and a two-sided paired permutation (sign-flip) p-value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    pub n: usize,
    pub mean_difference: f64,
    pub ci: Option<(f64, f64)>,
    pub p_value: f64,
}

pub fn paired_comparison(a: &[f64], b: &[f64], config: &StatsConfig) -> Option<PairedComparison> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = differences.len();
    let observed = mean(&differences)?;
    let ci = bootstrap_mean_ci(&differences, config);
    // (1 + hits) / (1 + permutations): never exactly zero, as a finite test cannot prove that.
    let mut rng = SplitMix64::new(config.seed ^ 0x5bd1_e995);
    let threshold = observed.abs() - 1e-12 * observed.abs().max(1.0);
    let mut hits = 0u64;
    for _ in 0..config.permutations {
        let total: f64 = differences
            .iter()
            .map(|&d| if rng.next_u64() >> 63 == 1 { -d } else { d })
            .sum();
        if (total / n as f64).abs() >= threshold {
            hits += 1;
        }
    }
    let p_value = (1 + hits) as f64 / (1 + u64::from(config.permutations)) as f64;
    Some(PairedComparison {
        n,
        mean_difference: observed,
        ci,
        p_value,
    })
}

/// 95% percentile-bootstrap interval of mean(a) - mean(b) for two independent samples (the
/// positive and negative splits hold different questions): each side is resampled on its own.
pub fn bootstrap_difference_ci(a: &[f64], b: &[f64], config: &StatsConfig) -> Option<(f64, f64)> {
    if a.len() < 2 || b.len() < 2 || config.bootstrap_resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(config.seed ^ 0x9e37_79b9);
    let mut resample_mean = |values: &[f64]| {
        let total: f64 = (0..values.len())
            .map(|_| values[rng.below(values.len())])
            .sum();
        total / values.len() as f64
    };
    let mut differences: Vec<f64> = (0..config.bootstrap_resamples)
        .map(|_| resample_mean(a) - resample_mean(b))
        .collect();
    differences.sort_by(f64::total_cmp);
    Some((quantile(&differences, 0.025), quantile(&differences, 0.975)))
}

/// Benjamini–Hochberg adjusted p-values (the false discovery rate step-up procedure), in the
/// input's order: for p-values sorted ascending, `min over j >= i of p_(j) * m / j`, capped at 1.
/// A hypothesis is rejected at FDR level q when its adjusted p-value is <= q. NaN stays NaN and
/// does not count in m.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len() as f64;
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let value = p_values[i] * m / (rank + 1) as f64;
        running = running.min(value);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

/// Ranks 1..=n with ties given their average rank (what Spearman's coefficient uses).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the mean of ranks start+1..=end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let denominator = (sxx * syy).sqrt();
    (denominator > 0.0).then(|| sxy / denominator)
}

/// Spearman's rank correlation: Pearson's correlation of the average ranks (ties handled as
/// scipy.stats.spearmanr does). `None` for fewer than two pairs, unequal lengths, NaN, or a
/// constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Spearman's coefficient with a 95% percentile-bootstrap interval over pairs (seeded like the
/// other intervals).
pub fn spearman_with_ci(
    x: &[f64],
    y: &[f64],
    config: &StatsConfig,
) -> Option<(f64, Option<(f64, f64)>)> {
    let rho = spearman(x, y)?;
    if config.bootstrap_resamples == 0 || x.len() < 3 {
        return Some((rho, None));
    }
    let mut rng = SplitMix64::new(config.seed ^ 0x0123_4567_89ab_cdef);
    let n = x.len();
    let (mut bx, mut by) = (vec![0.0; n], vec![0.0; n]);
    let mut draws = Vec::with_capacity(config.bootstrap_resamples as usize);
    for _ in 0..config.bootstrap_resamples {
        for k in 0..n {
            let i = rng.below(n);
            bx[k] = x[i];
            by[k] = y[i];
        }
        if let Some(r) = spearman(&bx, &by) {
            draws.push(r);
        }
    }
    if draws.len() < 2 {
        return Some((rho, None));
    }
    draws.sort_by(f64::total_cmp);
    Some((
        rho,
        Some((quantile(&draws, 0.025), quantile(&draws, 0.975))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let values: Vec<f64> = (0..200).map(|i| f64::from(i % 10)).collect();
        let config = StatsConfig::default();
        let (low, high) = bootstrap_mean_ci(&values, &config).expect("enough values");
        assert_eq!(bootstrap_mean_ci(&values, &config), Some((low, high)));
        let m = mean(&values).expect("values");
        assert!(low < m && m < high, "{low} < {m} < {high}");
        // Standard error is 2.87/sqrt(200) ≈ 0.2, so the interval is about ±0.4.
        assert!(
            (high - low) > 0.6 && (high - low) < 1.6,
            "width {}",
            high - low
        );
        let other = StatsConfig { seed: 7, ..config };
        assert_ne!(bootstrap_mean_ci(&values, &other), Some((low, high)));
    }

    #[test]
    fn constant_values_have_a_degenerate_interval() {
        assert_eq!(
            bootstrap_mean_ci(&[3.0; 10], &StatsConfig::default()),
            Some((3.0, 3.0))
        );
        assert_eq!(bootstrap_mean_ci(&[3.0], &StatsConfig::default()), None);
    }

    #[test]
    fn permutation_test_separates_real_and_null_differences() {
        let config = StatsConfig::default();
        let a: Vec<f64> = (0..100).map(|i| f64::from(i % 7) + 1.0).collect();
        let b: Vec<f64> = (0..100).map(|i| f64::from(i % 7)).collect();
        let shifted = paired_comparison(&a, &b, &config).expect("comparable");
        assert_eq!(shifted.mean_difference, 1.0);
        assert!(shifted.p_value < 0.001, "{}", shifted.p_value);
        // Differences symmetric around zero: no evidence.
        let c: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let zeros = vec![0.0; 100];
        let null = paired_comparison(&c, &zeros, &config).expect("comparable");
        assert!(null.p_value > 0.5, "{}", null.p_value);
        assert_eq!(paired_comparison(&a, &b[..10], &config), None);
    }

    #[test]
    fn columns_share_draws_and_match_single_column() {
        let a: Vec<f64> = (0..50).map(|i| f64::from(i % 5)).collect();
        let b: Vec<f64> = a.iter().map(|x| 2.0 * x).collect();
        let config = StatsConfig::default();
        let both = bootstrap_mean_cis(&[&a, &b], &config);
        let (low, high) = both[0].expect("interval");
        assert_eq!(bootstrap_mean_ci(&a, &config), Some((low, high)));
        // Same draws: the doubled column's interval is exactly doubled.
        assert_eq!(both[1], Some((2.0 * low, 2.0 * high)));
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[1.0, 2.0], 0.0), 1.0);
        assert_eq!(quantile(&[1.0, 2.0], 1.0), 2.0);
    }

    #[test]
    fn difference_interval_brackets_the_difference() {
        let config = StatsConfig::default();
        let a: Vec<f64> = (0..200).map(|i| 0.6 + f64::from(i % 7) * 0.01).collect();
        let b: Vec<f64> = (0..150).map(|i| 0.3 + f64::from(i % 5) * 0.01).collect();
        let observed = mean(&a).unwrap_or(0.0) - mean(&b).unwrap_or(0.0);
        let (low, high) = bootstrap_difference_ci(&a, &b, &config).expect("interval");
        assert!(low < observed && observed < high && high - low < 0.05);
        assert_eq!(bootstrap_difference_ci(&a, &b, &config), Some((low, high)));
        assert_eq!(bootstrap_difference_ci(&a[..1], &b, &config), None);
    }

    /// Against scipy.stats.spearmanr (scripts/gen_spearman_fixture.py): ties on both sides,
    /// reversed orders, small n, and 2,000 pairs like a benchmark split. Tolerance 1e-12.
    #[test]
    fn spearman_equals_scipy() {
        let fixture = include_str!("../tests/fixtures/spearman_scipy.jsonl");
        let mut cases = 0;
        for line in fixture.lines() {
            let case: serde_json::Value = serde_json::from_str(line).expect("a fixture line");
            let numbers = |name: &str| -> Vec<f64> {
                case[name]
                    .as_array()
                    .expect("an array")
                    .iter()
                    .map(|v| v.as_f64().expect("a number"))
                    .collect()
            };
            let expected = case["rho"].as_f64().expect("rho");
            let rho = spearman(&numbers("x"), &numbers("y")).expect("defined");
            assert!(
                (rho - expected).abs() < 1e-12,
                "n = {}: ours {rho}, scipy {expected}",
                numbers("x").len()
            );
            cases += 1;
        }
        assert_eq!(cases, 8);
    }

    #[test]
    fn benjamini_hochberg_reproduces_the_papers_example() {
        // Benjamini & Hochberg (1995), section 4: fifteen p-values; at q = 0.05 the first four
        // hypotheses are rejected. Adjusted values as R's p.adjust(p, "BH") gives them.
        let p = [
            0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
            0.5719, 0.6528, 0.7590, 1.0000,
        ];
        let expected = [
            0.0015,
            0.003,
            0.0095,
            0.035625,
            0.0603,
            0.063857142857,
            0.063857142857,
            0.0645,
            0.0765,
            0.486,
            0.581181818182,
            0.714875,
            0.753230769231,
            0.813214285714,
            1.0,
        ];
        let adjusted = benjamini_hochberg(&p);
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-9, "{a} vs {e}");
        }
        assert_eq!(adjusted.iter().filter(|&&a| a <= 0.05).count(), 4);
        // Order is the input's; NaN is left out of m.
        let shuffled = benjamini_hochberg(&[0.04, f64::NAN, 0.01, 0.03]);
        assert!(shuffled[1].is_nan());
        assert!((shuffled[0] - 0.04).abs() < 1e-12);
        assert!((shuffled[2] - 0.03).abs() < 1e-12);
        assert!((shuffled[3] - 0.04).abs() < 1e-12);
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn spearman_matches_worked_examples() {
        // Wikipedia's worked example (IQ against hours of TV a week): rho = -29/165.
        let iq = [
            106.0, 100.0, 86.0, 101.0, 99.0, 103.0, 97.0, 113.0, 112.0, 110.0,
        ];
        let tv = [7.0, 27.0, 2.0, 50.0, 28.0, 29.0, 20.0, 12.0, 6.0, 17.0];
        let rho = spearman(&iq, &tv).expect("defined");
        assert!((rho - (-29.0 / 165.0)).abs() < 1e-12, "{rho}");
        // Ties take average ranks: x ranks 1, 2.5, 2.5, 4 against 1, 3, 2, 4 gives 3/sqrt(10).
        let tied = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).expect("defined");
        assert!((tied - 3.0 / 10f64.sqrt()).abs() < 1e-12, "{tied}");
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        let config = StatsConfig::default();
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| v + f64::from((*v as i32 * 37) % 11) * 3.0)
            .collect();
        let (rho, ci) = spearman_with_ci(&x, &y, &config).expect("defined");
        let (low, high) = ci.expect("an interval");
        assert!(
            low <= rho && rho <= high && high <= 1.0,
            "{low} {rho} {high}"
        );
        assert_eq!(spearman_with_ci(&x, &y, &config), Some((rho, ci)), "seeded");
    }
}
