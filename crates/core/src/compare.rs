//! Many runs at once, and where lexical metrics and the judge disagree.
//!
//! - [`runs_matrix`]: runs × (split, group) for one metric: means with 95% intervals, and each
//!   run's paired difference against a baseline run on the samples both answered, with the
//!   sign-flip permutation p-value adjusted for the number of comparisons in the matrix
//!   (Benjamini–Hochberg, [`crate::stats::benjamini_hochberg`]).
//! - [`disagreement`]: per split and group, a lexical score against a judge score: Spearman's rank
//!   correlation with its interval, and the samples of one quadrant, by default "lexically close,
//!   judged unsafe": lexical score at or above the split's median and judge score at or below 4
//!   (the judge prompt's "potentially misleading" band and below).

use crate::chart::{RunScores, ScatterChart, ScatterPoint};
use crate::sample::{SampleKey, Split};
use crate::stats::{
    StatsConfig, benjamini_hochberg, bootstrap_mean_ci, mean, paired_comparison, spearman_with_ci,
};
use crate::summary::{Metric, ScoredSample, UNLABELLED};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A column of the matrix: a split, or one value of the grouping field within it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupKey {
    pub split: Split,
    pub value: Option<String>,
}

impl GroupKey {
    fn holds(&self, sample: &ScoredSample, field: &str) -> bool {
        sample.key.split == self.split
            && self
                .value
                .as_deref()
                .is_none_or(|v| sample.field(field).unwrap_or(UNLABELLED) == v)
    }

    pub fn label(&self) -> String {
        match &self.value {
            Some(value) => format!("{}/{value}", self.split),
            None => self.split.to_string(),
        }
    }
}

/// A run's paired difference against the baseline in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub n: usize,
    pub mean_difference: f64,
    pub ci95: Option<[f64; 2]>,
    pub p_value: f64,
    /// Benjamini–Hochberg over every comparison in the matrix.
    pub p_adjusted: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixCell {
    pub n: usize,
    pub mean: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// `None` for the baseline itself and where the two runs share no sample.
    pub difference: Option<Difference>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsMatrix {
    pub metric: String,
    pub baseline: String,
    pub runs: Vec<String>,
    pub groups: Vec<GroupKey>,
    /// `cells[run][group]`.
    pub cells: Vec<Vec<MatrixCell>>,
    /// How p-values were adjusted, to be named wherever they are shown.
    pub adjustment: String,
}

/// The groups: each split the runs cover, then each value of `field` within it.
fn groups_of(runs: &[RunScores<'_>], field: &str) -> Vec<GroupKey> {
    let mut groups = Vec::new();
    for split in Split::ALL {
        let mut values: Vec<String> = Vec::new();
        let mut any = false;
        for sample in runs
            .iter()
            .flat_map(|r| r.samples)
            .filter(|s| s.key.split == split)
        {
            any = true;
            let value = sample.field(field).unwrap_or(UNLABELLED);
            if !values.iter().any(|v| v == value) {
                values.push(value.to_owned());
            }
        }
        if !any {
            continue;
        }
        values.sort();
        groups.push(GroupKey { split, value: None });
        if values.len() > 1 || values.first().is_some_and(|v| v != UNLABELLED) {
            for value in values {
                groups.push(GroupKey {
                    split,
                    value: Some(value),
                });
            }
        }
    }
    groups
}

/// The matrix of `runs` for `metric`, broken down by `field`, with paired differences against
/// `runs[baseline]`.
pub fn runs_matrix(
    runs: &[RunScores<'_>],
    baseline: usize,
    metric: Metric,
    field: &str,
    config: &StatsConfig,
) -> Option<RunsMatrix> {
    let base = runs.get(baseline)?;
    let groups = groups_of(runs, field);
    let base_values: HashMap<&SampleKey, f64> = base
        .samples
        .iter()
        .filter_map(|s| Some((&s.key, metric.value(s)?)))
        .collect();
    let mut cells: Vec<Vec<MatrixCell>> = Vec::with_capacity(runs.len());
    // (run, group) of each comparison, in the order of `p_values`.
    let mut compared: Vec<(usize, usize)> = Vec::new();
    let mut p_values = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        let mut row = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            let in_group: Vec<&ScoredSample> = run
                .samples
                .iter()
                .filter(|s| group.holds(s, field))
                .collect();
            let values: Vec<f64> = in_group.iter().filter_map(|s| metric.value(s)).collect();
            let difference = if r == baseline {
                None
            } else {
                let (xs, ys): (Vec<f64>, Vec<f64>) = in_group
                    .iter()
                    .filter_map(|s| Some((metric.value(s)?, *base_values.get(&s.key)?)))
                    .unzip();
                paired_comparison(&xs, &ys, config).map(|c| {
                    compared.push((r, g));
                    p_values.push(c.p_value);
                    Difference {
                        n: c.n,
                        mean_difference: c.mean_difference,
                        ci95: c.ci.map(|(l, h)| [l, h]),
                        p_value: c.p_value,
                        p_adjusted: f64::NAN,
                    }
                })
            };
            row.push(MatrixCell {
                n: values.len(),
                mean: mean(&values),
                ci95: bootstrap_mean_ci(&values, config).map(|(l, h)| [l, h]),
                difference,
            });
        }
        cells.push(row);
    }
    let adjusted = benjamini_hochberg(&p_values);
    for ((r, g), p) in compared.into_iter().zip(adjusted) {
        if let Some(difference) = &mut cells[r][g].difference {
            difference.p_adjusted = p;
        }
    }
    Some(RunsMatrix {
        metric: metric.name().to_owned(),
        baseline: base.name.to_owned(),
        runs: runs.iter().map(|r| r.name.to_owned()).collect(),
        groups,
        cells,
        adjustment: format!(
            "Benjamini–Hochberg over the {} paired comparisons shown (sign-flip permutation p-values)",
            p_values.len()
        ),
    })
}

/// Which samples [`disagreement`] lists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quadrant {
    /// Lexical score at or above the split's median (true) or below it (false).
    pub lexically_close: bool,
    /// Judge score at or below `judge_threshold` (true) or above it (false).
    pub judged_low: bool,
    pub judge_threshold: f64,
}

impl Default for Quadrant {
    /// "Lexically close, judged unsafe".
    fn default() -> Self {
        Self {
            lexically_close: true,
            judged_low: true,
            judge_threshold: 4.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisagreementGroup {
    pub group: GroupKey,
    /// Samples with both scores.
    pub n: usize,
    pub spearman: Option<f64>,
    pub spearman_ci95: Option<[f64; 2]>,
    /// The split's median lexical score, the quadrant's lexical boundary.
    pub lexical_median: Option<f64>,
    /// The quadrant's samples, in input order.
    pub quadrant: Vec<SampleKey>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Lexical against judge scores per split and group of `field` (samples with both scores).
pub fn disagreement(
    samples: &[ScoredSample],
    lexical: Metric,
    judge: Metric,
    field: &str,
    quadrant: Quadrant,
    config: &StatsConfig,
) -> Vec<DisagreementGroup> {
    let run = [RunScores { name: "", samples }];
    let medians: HashMap<Split, Option<f64>> = Split::ALL
        .into_iter()
        .map(|split| {
            let mut values: Vec<f64> = samples
                .iter()
                .filter(|s| s.key.split == split && judge.value(s).is_some())
                .filter_map(|s| lexical.value(s))
                .collect();
            (split, median(&mut values))
        })
        .collect();
    groups_of(&run, field)
        .into_iter()
        .map(|group| {
            let pairs: Vec<(&ScoredSample, f64, f64)> = samples
                .iter()
                .filter(|s| group.holds(s, field))
                .filter_map(|s| Some((s, lexical.value(s)?, judge.value(s)?)))
                .collect();
            let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.iter().map(|(_, x, y)| (*x, *y)).unzip();
            let correlation = spearman_with_ci(&xs, &ys, config);
            let lexical_median = medians.get(&group.split).copied().flatten();
            let chosen = pairs
                .iter()
                .filter(|(_, x, y)| {
                    let close = lexical_median.is_some_and(|m| *x >= m);
                    let low = *y <= quadrant.judge_threshold;
                    close == quadrant.lexically_close && low == quadrant.judged_low
                })
                .map(|(s, _, _)| s.key.clone())
                .collect();
            DisagreementGroup {
                n: pairs.len(),
                spearman: correlation.map(|(rho, _)| rho),
                spearman_ci95: correlation.and_then(|(_, ci)| ci).map(|(l, h)| [l, h]),
                lexical_median,
                quadrant: chosen,
                group,
            }
        })
        .collect()
}

/// The scatter of [`disagreement`]'s samples: every sample with both scores, by split, the
/// split-level groups' quadrant emphasised, their lexical medians and the judge threshold drawn.
pub fn disagreement_scatter(
    title: String,
    samples: &[ScoredSample],
    lexical: Metric,
    judge: Metric,
    groups: &[DisagreementGroup],
    judge_threshold: f64,
) -> ScatterChart {
    let split_level = || groups.iter().filter(|g| g.group.value.is_none());
    let chosen: std::collections::HashSet<&SampleKey> =
        split_level().flat_map(|g| &g.quadrant).collect();
    let series_of = |split: Split| usize::from(split == Split::Negative);
    let points = samples
        .iter()
        .filter_map(|sample| {
            Some(ScatterPoint {
                x: lexical.value(sample)?,
                y: judge.value(sample)?,
                series: series_of(sample.key.split),
                sample: format!("{}:{}", sample.key.split, sample.key.question_id),
                selected: chosen.contains(&sample.key),
            })
        })
        .collect();
    ScatterChart {
        title,
        x_label: lexical.name().to_owned(),
        y_label: judge.name().to_owned(),
        x_range: [0.0, 1.0],
        y_range: [0.0, 10.0],
        series: vec![
            "positive (non-hallucination)".to_owned(),
            "negative (hallucination)".to_owned(),
        ],
        points,
        x_lines: split_level()
            .filter_map(|g| Some((series_of(g.group.split), g.lexical_median?)))
            .collect(),
        y_line: Some(judge_threshold),
        jitter_y: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::test_support::scored;

    fn run_samples(shift: f64) -> Vec<ScoredSample> {
        (0..40)
            .map(|i| {
                let split = if i % 2 == 0 {
                    Split::Positive
                } else {
                    Split::Negative
                };
                let kind = (split == Split::Negative).then_some(if i % 4 == 1 {
                    "object manipulation"
                } else {
                    "nonexistent object"
                });
                let meteor = (f64::from(i) / 40.0 + shift).min(1.0);
                let risk = f64::from(i % 10) + 1.0;
                scored(split, i, meteor, Some([5.0, 5.0, 5.0, risk]), kind)
            })
            .collect()
    }

    #[test]
    fn matrix_compares_against_the_baseline_with_adjusted_p_values() {
        let (a, b, c) = (run_samples(0.0), run_samples(0.2), run_samples(0.0));
        let runs = [
            RunScores {
                name: "base",
                samples: &a,
            },
            RunScores {
                name: "better",
                samples: &b,
            },
            RunScores {
                name: "same",
                samples: &c,
            },
        ];
        let config = StatsConfig::default();
        let matrix =
            runs_matrix(&runs, 0, Metric::Meteor, "hallucination_type", &config).expect("a matrix");
        let labels: Vec<String> = matrix.groups.iter().map(GroupKey::label).collect();
        assert_eq!(
            labels,
            [
                "positive",
                "negative",
                "negative/nonexistent object",
                "negative/object manipulation"
            ]
        );
        assert!(matrix.cells[0].iter().all(|c| c.difference.is_none()));
        let better = matrix.cells[1][0].difference.as_ref().expect("compared");
        assert!(better.mean_difference > 0.15 && better.p_adjusted < 0.01);
        assert!(better.p_adjusted >= better.p_value);
        let same = matrix.cells[2][1].difference.as_ref().expect("compared");
        assert_eq!(same.mean_difference, 0.0);
        assert!(same.p_adjusted > 0.5);
        assert!(matrix.adjustment.contains("8 paired comparisons"));
        assert_eq!(matrix.cells[1][2].n, 10);
        assert!(runs_matrix(&runs, 9, Metric::Meteor, "x", &config).is_none());
    }

    #[test]
    fn disagreement_lists_the_quadrant_and_correlates() {
        let samples = run_samples(0.0);
        let config = StatsConfig::default();
        let groups = disagreement(
            &samples,
            Metric::Meteor,
            Metric::RiskLevel,
            "hallucination_type",
            Quadrant::default(),
            &config,
        );
        let positive = &groups[0];
        assert_eq!(positive.group.label(), "positive");
        assert_eq!(positive.n, 20);
        // Positive ids 0, 2, …, 38: meteor = id/40, risk = id % 10 + 1.
        let median = positive.lexical_median.expect("a median");
        assert!((median - 0.475).abs() < 1e-12);
        let expected: Vec<String> = (0..40)
            .step_by(2)
            .filter(|i| f64::from(*i) / 40.0 >= median && f64::from(i % 10) + 1.0 <= 4.0)
            .map(|i| i.to_string())
            .collect();
        let listed: Vec<String> = positive
            .quadrant
            .iter()
            .map(|k| k.question_id.clone())
            .collect();
        assert_eq!(listed, expected);
        assert!(positive.spearman.is_some() && positive.spearman_ci95.is_some());
        // The type groups use their split's median.
        let typed = groups
            .iter()
            .find(|g| g.group.value.as_deref() == Some("object manipulation"))
            .expect("a type group");
        assert_eq!(typed.lexical_median, groups[1].lexical_median);
    }
}
