//! Agreement between raters who score items on the judge's 1–10 scale (issue 30): quadratic
//! weighted Cohen's κ, Krippendorff's α (interval and ordinal, missing ratings allowed), the
//! Bland–Altman bias and limits, and percentile-bootstrap intervals over items. Spearman's ρ is
//! [`crate::stats::spearman`]. Each reproduces one Python call (docs/exactness.md, fixture
//! `tests/fixtures/agreement.json` from `scripts/gen_agreement_fixture.py`, within 1e-9):
//!
//! - κ: scikit-learn's `cohen_kappa_score(a, b, weights="quadratic", labels=range(1, 11))`;
//! - α: the `krippendorff` package's `alpha(reliability_data, level_of_measurement=...)`, for
//!   ordinal with `value_domain=range(1, 11)`;
//! - bias: numpy's `mean(b - a)` and `mean ± 1.96 * std(b - a, ddof=1)`.
//!
//! Where the reference returns NaN or raises, ours returns `None`. Pure functions: no I/O.

use crate::stats::{SplitMix64, StatsConfig, mean, percentile_interval};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The judge's score levels: every criterion is an integer from 1 to 10.
pub const SCORE_LEVELS: RangeInclusive<u8> = 1..=10;

/// The signature part of κ: `kappa:quadratic,labels:1-10`.
pub fn kappa_variant(labels: &RangeInclusive<u8>) -> String {
    format!("kappa:quadratic,labels:{}-{}", labels.start(), labels.end())
}

/// Quadratic-weighted Cohen's κ of two raters over the same items, as scikit-learn computes it
/// with `weights="quadratic"` and `labels` given:
///
/// - the confusion matrix C (k × k, k = the number of labels) counts the pairs `(a[i], b[i])`;
///   a pair with either value outside `labels` is left out, as `confusion_matrix(labels=...)`
///   leaves it out;
/// - with row sums r (rater `a`), column sums c (rater `b`) and N = ΣC, the chance matrix is
///   E = c ⊗ r / N; the weights are W[i][j] = (i − j)² on label *positions* (for consecutive
///   labels, their differences);
/// - κ = 1 − Σ W∘C / Σ W∘E.
///
/// `None` where scikit-learn raises or returns NaN: unequal lengths, no value of `a` among
/// `labels` ("At least one label in `labels` must be present in `y1`"), N = 0, or Σ W∘E = 0
/// (both raters used one and the same single label: sklearn 1.9 warns and returns
/// `replace_undefined_by`, NaN by default). Note that perfect agreement on a single level is
/// therefore undefined, not 1.
pub fn cohen_kappa_quadratic(a: &[u8], b: &[u8], labels: RangeInclusive<u8>) -> Option<f64> {
    if a.len() != b.len() || labels.is_empty() || !a.iter().any(|x| labels.contains(x)) {
        return None;
    }
    let start = *labels.start();
    let k = usize::from(labels.end() - start) + 1;
    let mut confusion = vec![0.0f64; k * k];
    for (x, y) in a.iter().zip(b) {
        if labels.contains(x) && labels.contains(y) {
            confusion[usize::from(x - start) * k + usize::from(y - start)] += 1.0;
        }
    }
    let total: f64 = confusion.iter().sum();
    if total == 0.0 {
        return None;
    }
    let rows: Vec<f64> = (0..k)
        .map(|i| confusion[i * k..][..k].iter().sum())
        .collect();
    let columns: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| confusion[i * k + j]).sum())
        .collect();
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let weight = (i as f64 - j as f64).powi(2);
            observed += weight * confusion[i * k + j];
            expected += weight * columns[i] * rows[j] / total;
        }
    }
    (expected != 0.0).then(|| 1.0 - observed / expected)
}

/// Krippendorff's level of measurement: which distance two values are apart by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// δ(c, k) = (c − k)². The value domain is the values present (the package's default;
    /// giving it `value_domain` does not change an interval α).
    Interval,
    /// δ(c, k) = (Σ_{g=c..k} n_g − (n_c + n_k)/2)², n_g the pairable values of level g. The
    /// domain is the given levels (the package's `value_domain`); a level nobody used has
    /// n_g = 0 and so adds nothing, which is why the result equals the package's without
    /// `value_domain` too (the fixture checks both). A value outside it makes α undefined.
    Ordinal { domain: RangeInclusive<u8> },
}

impl Level {
    /// The signature part: `alpha:interval` or `alpha:ordinal,domain:1-10`.
    pub fn variant(&self) -> String {
        match self {
            Level::Interval => "alpha:interval".to_owned(),
            Level::Ordinal { domain } => {
                format!("alpha:ordinal,domain:{}-{}", domain.start(), domain.end())
            }
        }
    }
}

/// Units prepared for Krippendorff's α, so that a bootstrap resample sums each chosen unit's
/// coincidences instead of recounting its values.
///
/// For a unit with m_u ≥ 2 ratings and n_uc ratings of value c, its coincidences are
/// o_u[c][k] = (n_uc · n_uk − [c = k] · n_uc) / (m_u − 1); units with fewer than two ratings add
/// nothing. Over the chosen units o = Σ o_u, n_c = Σ_k o[c][k], n = Σ n_c, the chance
/// coincidences are e[c][k] = (n_c · n_k − [c = k] · n_c) / (n − 1), and
/// α = 1 − Σ o∘δ / Σ e∘δ.
#[derive(Clone, Debug)]
pub struct AlphaUnits {
    domain: Vec<f64>,
    ordinal: bool,
    /// Each unit's nonzero coincidences `(c, k, o_u[c][k])`, flattened; unit u owns
    /// `entries[offsets[u]..offsets[u + 1]]`.
    entries: Vec<(usize, usize, f64)>,
    offsets: Vec<usize>,
}

impl AlphaUnits {
    /// `units[u]` holds unit u's ratings, `None` for a rater who did not rate it (the
    /// package's `np.nan`). `None` where the package raises: a NaN rating, an ordinal value
    /// outside the domain ("out-of-domain values"), or a domain of at most one value (for
    /// interval, every rating the same or none at all).
    pub fn new(units: &[Vec<Option<f64>>], level: &Level) -> Option<Self> {
        let values = || units.iter().flatten().flatten().copied();
        if values().any(f64::is_nan) {
            return None;
        }
        let (domain, ordinal) = match level {
            Level::Interval => {
                let mut domain: Vec<f64> = values().collect();
                domain.sort_by(f64::total_cmp);
                domain.dedup();
                (domain, false)
            }
            Level::Ordinal { domain } => (domain.clone().map(f64::from).collect(), true),
        };
        if domain.len() <= 1 {
            return None;
        }
        let mut entries = Vec::new();
        let mut offsets = vec![0];
        let mut counts = vec![0.0f64; domain.len()];
        for unit in units {
            counts.fill(0.0);
            for value in unit.iter().flatten() {
                let position = domain.iter().position(|d| d == value)?;
                counts[position] += 1.0;
            }
            let pairable: f64 = counts.iter().sum();
            if pairable >= 2.0 {
                for (c, &n_c) in counts.iter().enumerate().filter(|(_, n)| **n > 0.0) {
                    for (k, &n_k) in counts.iter().enumerate().filter(|(_, n)| **n > 0.0) {
                        let same = if c == k { n_c } else { 0.0 };
                        let o = (n_c * n_k - same) / (pairable - 1.0);
                        if o != 0.0 {
                            entries.push((c, k, o));
                        }
                    }
                }
            }
            offsets.push(entries.len());
        }
        Some(Self {
            domain,
            ordinal,
            entries,
            offsets,
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// α over all units.
    pub fn alpha(&self) -> Option<f64> {
        self.alpha_of(0..self.len())
    }

    /// α over the units at `indices` (repeats count again, as a bootstrap resample needs).
    /// `None` when no chosen unit has two ratings (the package raises) or when the chance
    /// disagreement is zero (one value only: the package returns NaN).
    pub fn alpha_of(&self, indices: impl IntoIterator<Item = usize>) -> Option<f64> {
        let v = self.domain.len();
        let mut o = vec![0.0f64; v * v];
        let mut any_pairable = false;
        for u in indices {
            let unit = self.entries.get(self.offsets[u]..self.offsets[u + 1])?;
            any_pairable |= !unit.is_empty();
            for &(c, k, value) in unit {
                o[c * v + k] += value;
            }
        }
        if !any_pairable {
            return None;
        }
        let n_v: Vec<f64> = (0..v).map(|c| o[c * v..][..v].iter().sum()).collect();
        let n: f64 = n_v.iter().sum();
        let (mut observed, mut expected) = (0.0, 0.0);
        for c in 0..v {
            for k in 0..v {
                let delta = self.distance(c, k, &n_v);
                let same = if c == k { n_v[c] } else { 0.0 };
                observed += o[c * v + k] * delta;
                expected += (n_v[c] * n_v[k] - same) / (n - 1.0) * delta;
            }
        }
        let alpha = 1.0 - observed / expected;
        alpha.is_finite().then_some(alpha)
    }

    fn distance(&self, c: usize, k: usize, n_v: &[f64]) -> f64 {
        if self.ordinal {
            let (low, high) = (c.min(k), c.max(k));
            let between: f64 = n_v[low..=high].iter().sum();
            (between - (n_v[low] + n_v[high]) / 2.0).powi(2)
        } else {
            (self.domain[c] - self.domain[k]).powi(2)
        }
    }
}

/// Krippendorff's α of `units` (see [`AlphaUnits`]).
pub fn krippendorff_alpha(units: &[Vec<Option<f64>>], level: &Level) -> Option<f64> {
    AlphaUnits::new(units, level)?.alpha()
}

/// The signature part of the bias (differences second rater minus first: judge minus human).
pub const BIAS_VARIANT: &str = "bias:judge-minus-human,limits:mean±1.96sd,ddof:1";

/// Bland–Altman agreement of two raters over the same items: the differences d = b − a (judge
/// minus human when `b` is the judge), their mean, their standard deviation with ddof = 1 and
/// the 95% limits of agreement mean ± 1.96 · sd (numpy's `d.mean()`, `d.std(ddof=1)`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlandAltman {
    pub n: usize,
    pub mean_difference: f64,
    /// `None` for a single item (numpy gives NaN for ddof = 1 and n = 1).
    pub sd: Option<f64>,
    pub limits: Option<(f64, f64)>,
}

/// `None` for unequal lengths, no items or a NaN value.
pub fn bland_altman(a: &[f64], b: &[f64]) -> Option<BlandAltman> {
    if a.len() != b.len() || a.iter().chain(b).any(|v| v.is_nan()) {
        return None;
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let mean_difference = mean(&differences)?;
    let n = differences.len();
    let sd = (n >= 2).then(|| {
        let squares: f64 = differences
            .iter()
            .map(|d| (d - mean_difference).powi(2))
            .sum();
        (squares / (n - 1) as f64).sqrt()
    });
    let limits = sd.map(|sd| (mean_difference - 1.96 * sd, mean_difference + 1.96 * sd));
    Some(BlandAltman {
        n,
        mean_difference,
        sd,
        limits,
    })
}

/// Keeps the items' draws apart from the other intervals' drawn with the same seed.
const ITEM_BOOTSTRAP_SALT: u64 = 0x6a09_e667_f3bc_c908;

/// The signature part of the intervals: `ci:bootstrap-items,percentile,level=95,resamples=N,seed=S`.
pub fn bootstrap_variant(config: &StatsConfig) -> String {
    format!(
        "ci:bootstrap-items,percentile,level=95,resamples={},seed={}",
        config.bootstrap_resamples, config.seed
    )
}

/// 95% percentile-bootstrap intervals of `count` statistics over `n` items: each of
/// `config.bootstrap_resamples` resamples draws n item indices with replacement (SplitMix64
/// seeded with `config.seed`, salted), `statistics` writes each statistic's value on them (it
/// receives the slots cleared to `None`), and each interval is
/// [`crate::stats::percentile_interval`] of that statistic's defined draws. A resample on which
/// a statistic is undefined (`None` or not finite, e.g. κ when every drawn item has one value)
/// is left out of that statistic's interval, as `spearman_with_ci` does; fewer than two defined
/// draws, fewer than two items or no resamples give `None`. All statistics share the draws, and
/// the same `n` and seed give the same draws.
pub fn bootstrap_over_items(
    n: usize,
    count: usize,
    config: &StatsConfig,
    mut statistics: impl FnMut(&[usize], &mut [Option<f64>]),
) -> Vec<Option<(f64, f64)>> {
    if n < 2 || config.bootstrap_resamples == 0 {
        return vec![None; count];
    }
    let resamples = config.bootstrap_resamples as usize;
    let mut rng = SplitMix64::new(config.seed ^ ITEM_BOOTSTRAP_SALT);
    let mut indices = vec![0usize; n];
    let mut values = vec![None; count];
    let mut draws = vec![Vec::with_capacity(resamples); count];
    for _ in 0..resamples {
        for slot in &mut indices {
            *slot = rng.below(n);
        }
        values.fill(None);
        statistics(&indices, &mut values);
        for (column, value) in draws.iter_mut().zip(&values) {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                column.push(value);
            }
        }
    }
    draws
        .iter_mut()
        .map(|column| percentile_interval(column))
        .collect()
}

#[cfg(test)]
mod tests;
