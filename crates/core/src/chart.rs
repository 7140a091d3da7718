//! Chart specifications: what each chart shows, as plain data. `medhall-charts` draws them (in
//! the page and in `medhall report`), so both show the same numbers. Builders are pure and
//! seeded: a spec depends only on the samples and the [`StatsConfig`].

use crate::identity::model_name;
use crate::sample::Split;
use crate::stats::{StatsConfig, bootstrap_difference_ci, mean, paired_comparison};
use crate::summary::{GroupSummary, Metric, ScoredSample, UNLABELLED, summarize};
use serde::{Deserialize, Serialize};

/// What clicking a bar should filter the sample table to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BarFilter {
    pub run: Option<String>,
    pub split: Option<Split>,
    pub field: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub value: f64,
    pub ci95: Option<[f64; 2]>,
    pub n: usize,
    /// Extra text for the tooltip (a p-value, say).
    pub note: Option<String>,
    pub filter: BarFilter,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarSeries {
    pub name: String,
    /// One per category; `None` where the series has no value there.
    pub bars: Vec<Option<Bar>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub y_range: Option<[f64; 2]>,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramSeries {
    pub name: String,
    pub counts: Vec<u64>,
    pub filter: BarFilter,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    /// `bins + 1` edges.
    pub edges: Vec<f64>,
    pub series: Vec<HistogramSeries>,
}

/// One sample in a scatter plot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
    /// Index into [`ScatterChart::series`].
    pub series: usize,
    /// The sample, as `split:question_id` (what clicking the point opens).
    pub sample: String,
    /// In the chosen quadrant (drawn emphasised).
    pub selected: bool,
}

/// A per-sample scatter plot (the disagreement view): one point per sample, series by split,
/// the quadrant's boundaries as lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatterChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: [f64; 2],
    pub y_range: [f64; 2],
    pub series: Vec<String>,
    pub points: Vec<ScatterPoint>,
    /// Vertical boundaries, one per series (the split's median lexical score).
    pub x_lines: Vec<(usize, f64)>,
    /// The horizontal boundary (the judge threshold).
    pub y_line: Option<f64>,
    /// Integer-valued y (judge scores): points are spread a little vertically so that equal
    /// scores stay visible; tooltips keep the exact values.
    pub jitter_y: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "chart", rename_all = "snake_case")]
pub enum ChartSpec {
    Bars(BarChart),
    Histogram(Histogram),
    Scatter(ScatterChart),
}

impl ChartSpec {
    pub fn title(&self) -> &str {
        match self {
            ChartSpec::Bars(chart) => &chart.title,
            ChartSpec::Histogram(chart) => &chart.title,
            ChartSpec::Scatter(chart) => &chart.title,
        }
    }

    /// Nothing to draw: no bar with a finite value, or no sample in any bin.
    pub fn is_empty(&self) -> bool {
        match self {
            ChartSpec::Bars(chart) => {
                chart.categories.is_empty()
                    || !chart
                        .series
                        .iter()
                        .flat_map(|s| s.bars.iter().flatten())
                        .any(|b| b.value.is_finite())
            }
            ChartSpec::Histogram(chart) => {
                chart.edges.len() < 2
                    || chart
                        .series
                        .iter()
                        .all(|s| s.counts.iter().all(|&c| c == 0))
            }
            ChartSpec::Scatter(chart) => chart.points.is_empty(),
        }
    }
}

/// The chart kinds, with the names URLs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChartKind {
    ByType,
    Judge,
    Distribution,
    Gap,
    Paired,
}

impl ChartKind {
    pub const ALL: [ChartKind; 5] = [
        ChartKind::ByType,
        ChartKind::Judge,
        ChartKind::Distribution,
        ChartKind::Gap,
        ChartKind::Paired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChartKind::ByType => "by-type",
            ChartKind::Judge => "judge",
            ChartKind::Distribution => "distribution",
            ChartKind::Gap => "gap",
            ChartKind::Paired => "paired",
        }
    }

    pub fn from_name(name: &str) -> Option<ChartKind> {
        ChartKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Which chart, of which metric, over which runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartQuery {
    /// A chart kind name ("by-type", "judge", "distribution", "gap", "paired").
    pub kind: String,
    pub metric: String,
    /// Runs to include, in order; empty means all.
    #[serde(default)]
    pub runs: Vec<u32>,
}

/// One run (or one model's runs together) as charts see it.
#[derive(Clone, Copy, Debug)]
pub struct RunScores<'a> {
    pub name: &'a str,
    pub samples: &'a [ScoredSample],
}

/// A model's samples: its runs' samples together (see [`models`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSamples {
    pub name: String,
    pub samples: Vec<ScoredSample>,
}

impl ModelSamples {
    pub fn scores(&self) -> RunScores<'_> {
        RunScores {
            name: &self.name,
            samples: &self.samples,
        }
    }
}

/// Runs gathered into models by [`model_name`] (a model's positive and negative files), in
/// first-seen order (see [`group_models`]).
pub fn models(runs: &[RunScores<'_>]) -> Vec<ModelSamples> {
    let grouped = group_models(
        runs,
        |run| model_name(run.name),
        |run| run.name.to_owned(),
        |run| splits_of(run.samples),
    );
    grouped
        .into_iter()
        .map(|(name, members)| ModelSamples {
            name,
            samples: members
                .iter()
                .flat_map(|&i| runs[i].samples.iter().cloned())
                .collect(),
        })
        .collect()
}

/// Items (runs) gathered into models: each model's name and its members' indices, in first-seen
/// order. An item joins an earlier model of the name `model_of` gives it only when they share no
/// split, so no sample is counted twice; otherwise (two positive files that name the same model)
/// it stays apart under `own_name`.
pub fn group_models<T>(
    items: &[T],
    model_of: impl Fn(&T) -> String,
    own_name: impl Fn(&T) -> String,
    splits: impl Fn(&T) -> Vec<Split>,
) -> Vec<(String, Vec<usize>)> {
    let mut models: Vec<(String, Vec<usize>, Vec<Split>)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_splits = splits(item);
        let model = model_of(item);
        let joins = models.iter_mut().find(|(name, _, taken)| {
            *name == model && !item_splits.iter().any(|s| taken.contains(s))
        });
        match joins {
            Some((_, members, taken)) => {
                members.push(index);
                taken.extend(item_splits);
            }
            None => {
                let name = if models.iter().any(|(name, ..)| *name == model) {
                    own_name(item)
                } else {
                    model
                };
                models.push((name, vec![index], item_splits));
            }
        }
    }
    models
        .into_iter()
        .map(|(name, members, _)| (name, members))
        .collect()
}

fn splits_of(samples: &[ScoredSample]) -> Vec<Split> {
    Split::ALL
        .into_iter()
        .filter(|s| samples.iter().any(|x| x.key.split == *s))
        .collect()
}

fn series_name(run: &str, split: Split) -> String {
    format!("{run} · {split}")
}

/// What a series' colour follows: its model (a model's positive and negative files are one
/// model, [`model_name`]) and, for a series of one split ([`series_name`]), that split. Charts
/// give each model one hue and the negative split a lighter shade of it.
pub fn series_model(name: &str) -> (String, Option<Split>) {
    match name.rsplit_once(" · ") {
        Some((run, split)) => match Split::parse(split) {
            Some(split) => (model_name(run), Some(split)),
            None => (model_name(name), None),
        },
        None => (model_name(name), None),
    }
}

fn metric_range(metric: Metric) -> [f64; 2] {
    if Metric::JUDGE.contains(&metric) {
        [0.0, 10.0]
    } else {
        [0.0, 1.0]
    }
}

fn bar_of(group: &GroupSummary, metric: Metric, filter: BarFilter) -> Option<Bar> {
    let m = group.metrics.iter().find(|m| m.metric == metric.name())?;
    Some(Bar {
        value: m.mean,
        ci95: m.ci95,
        n: m.n,
        note: None,
        filter,
    })
}

/// A run's summary groups (from [`summarize`] with `group_by` = the chart's field), for charts
/// drawn from summaries already computed.
#[derive(Clone, Copy, Debug)]
pub struct RunGroups<'a> {
    pub name: &'a str,
    pub groups: &'a [GroupSummary],
}

/// Means of `metric` per value of `field` (hallucination type), one series per run and split.
pub fn by_type(
    runs: &[RunScores<'_>],
    metric: Metric,
    field: &str,
    config: &StatsConfig,
) -> BarChart {
    with_groups(runs, Some(field), config, |runs| {
        by_type_from(runs, metric, field)
    })
}

/// Summarizes each run (grouped by `group_by`) and draws from the groups.
fn with_groups(
    runs: &[RunScores<'_>],
    group_by: Option<&str>,
    config: &StatsConfig,
    draw: impl FnOnce(&[RunGroups<'_>]) -> BarChart,
) -> BarChart {
    let groups: Vec<Vec<GroupSummary>> = runs
        .iter()
        .map(|run| summarize(run.samples, group_by, config))
        .collect();
    let runs: Vec<RunGroups<'_>> = runs
        .iter()
        .zip(&groups)
        .map(|(run, groups)| RunGroups {
            name: run.name,
            groups,
        })
        .collect();
    draw(&runs)
}

/// [`by_type`] from summaries already computed (grouped by `field`).
pub fn by_type_from(runs: &[RunGroups<'_>], metric: Metric, field: &str) -> BarChart {
    let mut categories: Vec<String> = Vec::new();
    let mut per_series: Vec<(String, String, Split, Vec<GroupSummary>)> = Vec::new();
    for run in runs {
        let groups = run.groups;
        let splits: Vec<Split> = Split::ALL
            .into_iter()
            .filter(|s| groups.iter().any(|g| g.split == *s))
            .collect();
        for split in splits {
            let typed: Vec<GroupSummary> = groups
                .iter()
                .filter(|g| g.split == split && g.value.is_some())
                .cloned()
                .collect();
            for group in &typed {
                if let Some(value) = &group.value
                    && !categories.contains(value)
                {
                    categories.push(value.clone());
                }
            }
            per_series.push((
                series_name(run.name, split),
                run.name.to_owned(),
                split,
                typed,
            ));
        }
    }
    // Labelled values alphabetically, "unlabelled" last.
    categories.sort_by(|a, b| (a == UNLABELLED, a).cmp(&(b == UNLABELLED, b)));
    let series = per_series
        .into_iter()
        .map(|(name, run, split, groups)| BarSeries {
            name,
            bars: categories
                .iter()
                .map(|category| {
                    let group = groups
                        .iter()
                        .find(|g| g.value.as_deref() == Some(category))?;
                    bar_of(
                        group,
                        metric,
                        BarFilter {
                            run: Some(run.clone()),
                            split: Some(split),
                            field: Some(field.to_owned()),
                            value: Some(category.clone()),
                        },
                    )
                })
                .collect(),
        })
        .collect();
    BarChart {
        title: format!(
            "{} by {} and split (95% bootstrap CI)",
            metric.name(),
            field.replace('_', " ")
        ),
        y_label: metric.name().to_owned(),
        y_range: Some(metric_range(metric)),
        categories,
        series,
    }
}

/// The four judge scores, one series per run and split.
pub fn judge_scores(runs: &[RunScores<'_>], config: &StatsConfig) -> BarChart {
    with_groups(runs, None, config, judge_scores_from)
}

/// [`judge_scores`] from summaries already computed (their split-level groups are used).
pub fn judge_scores_from(runs: &[RunGroups<'_>]) -> BarChart {
    let categories = Metric::JUDGE.iter().map(|m| m.name().to_owned()).collect();
    let mut series = Vec::new();
    for run in runs {
        for group in run.groups.iter().filter(|g| g.value.is_none()) {
            let filter = BarFilter {
                run: Some(run.name.to_owned()),
                split: Some(group.split),
                field: None,
                value: None,
            };
            let bars: Vec<Option<Bar>> = Metric::JUDGE
                .iter()
                .map(|m| bar_of(group, *m, filter.clone()))
                .collect();
            if bars.iter().any(Option::is_some) {
                series.push(BarSeries {
                    name: series_name(run.name, group.split),
                    bars,
                });
            }
        }
    }
    BarChart {
        title: "GPT-4o judge scores (1-10; risk: higher is safer; 95% bootstrap CI)".to_owned(),
        y_label: "mean score".to_owned(),
        y_range: Some([0.0, 10.0]),
        categories,
        series,
    }
}

/// Histogram edges for a metric: 0 to 1 for lexical metrics; integer-centred bins from 0.5 to
/// 10.5 for judge scores (which are integers).
fn edges(metric: Metric, bins: usize) -> Vec<f64> {
    if Metric::JUDGE.contains(&metric) {
        (0..=10).map(|i| f64::from(i) + 0.5).collect()
    } else {
        let bins = bins.max(1);
        (0..=bins).map(|i| i as f64 / bins as f64).collect()
    }
}

/// The distribution of `metric` per run and split.
pub fn distribution(runs: &[RunScores<'_>], metric: Metric, bins: usize) -> Histogram {
    let edges = edges(metric, bins);
    let last = edges.len() - 2;
    let mut series = Vec::new();
    for run in runs {
        for split in splits_of(run.samples) {
            let mut counts = vec![0u64; edges.len() - 1];
            let values = run
                .samples
                .iter()
                .filter(|s| s.key.split == split)
                .filter_map(|s| metric.value(s));
            let mut any = false;
            for value in values {
                if !value.is_finite() {
                    continue;
                }
                any = true;
                // Bin i holds [edge i, edge i+1); the top edge belongs to the last bin.
                let bin = edges[1..].iter().position(|&e| value < e).unwrap_or(last);
                counts[bin.min(last)] += 1;
            }
            if any {
                series.push(HistogramSeries {
                    name: series_name(run.name, split),
                    counts,
                    filter: BarFilter {
                        run: Some(run.name.to_owned()),
                        split: Some(split),
                        field: None,
                        value: None,
                    },
                });
            }
        }
    }
    Histogram {
        title: format!("Distribution of {} per sample", metric.name()),
        x_label: metric.name().to_owned(),
        edges,
        series,
    }
}

/// Positive-split mean minus negative-split mean of `metric`, overall ("all") and per value of
/// `field`, one series per run (or model); categories missing a split are left out.
pub fn split_gap(
    runs: &[RunScores<'_>],
    metric: Metric,
    field: &str,
    config: &StatsConfig,
) -> BarChart {
    let values_of = |run: &RunScores<'_>, split: Split, value: Option<&str>| -> Vec<f64> {
        run.samples
            .iter()
            .filter(|s| s.key.split == split)
            .filter(|s| value.is_none_or(|v| s.field(field).unwrap_or(UNLABELLED) == v))
            .filter_map(|s| metric.value(s))
            .collect()
    };
    let mut categories = vec!["all".to_owned()];
    for run in runs {
        let mut values: Vec<String> = run
            .samples
            .iter()
            .map(|s| s.field(field).unwrap_or(UNLABELLED).to_owned())
            .collect();
        values.sort_by(|a, b| (a == UNLABELLED, a).cmp(&(b == UNLABELLED, b)));
        values.dedup();
        for value in values {
            if !categories.contains(&value) {
                categories.push(value);
            }
        }
    }
    let series: Vec<BarSeries> = runs
        .iter()
        .map(|run| BarSeries {
            name: run.name.to_owned(),
            bars: categories
                .iter()
                .map(|category| {
                    let value = (category != "all").then_some(category.as_str());
                    let positive = values_of(run, Split::Positive, value);
                    let negative = values_of(run, Split::Negative, value);
                    let gap = mean(&positive)? - mean(&negative)?;
                    Some(Bar {
                        value: gap,
                        ci95: bootstrap_difference_ci(&positive, &negative, config)
                            .map(|(l, h)| [l, h]),
                        n: positive.len() + negative.len(),
                        note: Some(format!(
                            "positive n = {}, negative n = {}",
                            positive.len(),
                            negative.len()
                        )),
                        filter: BarFilter {
                            run: Some(run.name.to_owned()),
                            split: None,
                            field: value.map(|_| field.to_owned()),
                            value: value.map(str::to_owned),
                        },
                    })
                })
                .collect(),
        })
        .collect();
    // Keep only categories where some run has both splits.
    let keep: Vec<bool> = (0..categories.len())
        .map(|i| series.iter().any(|s| s.bars[i].is_some()))
        .collect();
    let categories = categories
        .into_iter()
        .zip(&keep)
        .filter_map(|(c, &k)| k.then_some(c))
        .collect();
    let series = series
        .into_iter()
        .map(|s| BarSeries {
            name: s.name,
            bars: s
                .bars
                .into_iter()
                .zip(&keep)
                .filter_map(|(b, &k)| k.then_some(b))
                .collect(),
        })
        .collect();
    BarChart {
        title: format!(
            "{}: positive (non-hallucination) minus negative (hallucination), 95% bootstrap CI",
            metric.name()
        ),
        y_label: format!("Δ {}", metric.name()),
        y_range: None,
        categories,
        series,
    }
}

/// Run A minus run B on the samples both have (same split and question id), per metric: the
/// paired mean difference with its bootstrap interval, and the permutation p-value in the note.
pub fn paired_differences(
    a: RunScores<'_>,
    b: RunScores<'_>,
    metrics: &[Metric],
    config: &StatsConfig,
) -> BarChart {
    let by_key: std::collections::HashMap<&crate::sample::SampleKey, &ScoredSample> =
        b.samples.iter().map(|s| (&s.key, s)).collect();
    let bars = metrics
        .iter()
        .map(|metric| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = a
                .samples
                .iter()
                .filter_map(|s| {
                    let other = by_key.get(&s.key)?;
                    Some((metric.value(s)?, metric.value(other)?))
                })
                .unzip();
            let comparison = paired_comparison(&xs, &ys, config)?;
            Some(Bar {
                value: comparison.mean_difference,
                ci95: comparison.ci.map(|(l, h)| [l, h]),
                n: comparison.n,
                note: Some(format!(
                    "p = {:.4}, n = {}",
                    comparison.p_value, comparison.n
                )),
                filter: BarFilter::default(),
            })
        })
        .collect();
    BarChart {
        title: format!(
            "{} minus {} on shared samples (paired; 95% bootstrap CI)",
            a.name, b.name
        ),
        y_label: "mean difference".to_owned(),
        y_range: None,
        categories: metrics.iter().map(|m| m.name().to_owned()).collect(),
        series: vec![BarSeries {
            name: format!("{} − {}", a.name, b.name),
            bars,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(split: Split, id: u32, meteor: f64, kind: Option<&str>) -> ScoredSample {
        let judge = [7.0, 8.0, 6.0, f64::from(id % 10)];
        crate::summary::test_support::scored(split, id, meteor, Some(judge), kind)
    }

    fn samples() -> Vec<ScoredSample> {
        vec![
            sample(Split::Positive, 0, 0.8, None),
            sample(Split::Positive, 1, 0.6, None),
            sample(Split::Negative, 1, 0.2, Some("object manipulation")),
            sample(Split::Negative, 2, 0.4, Some("object manipulation")),
            sample(Split::Negative, 3, 0.3, Some("nonexistent object")),
        ]
    }

    const FIELD: &str = "hallucination_type";

    #[test]
    fn by_type_has_a_bar_per_type_and_split_with_filters() {
        let data = samples();
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let chart = by_type(&runs, Metric::Meteor, FIELD, &StatsConfig::default());
        assert_eq!(
            chart.categories,
            ["nonexistent object", "object manipulation", "unlabelled"]
        );
        assert_eq!(chart.series.len(), 2);
        let negative = &chart.series[1];
        assert_eq!(negative.name, "m · negative");
        let bar = negative.bars[1].as_ref().expect("object manipulation bar");
        assert!((bar.value - 0.3).abs() < 1e-12 && bar.n == 2);
        assert_eq!(bar.filter.value.as_deref(), Some("object manipulation"));
        assert_eq!(bar.filter.split, Some(Split::Negative));
        assert!(negative.bars[2].is_none(), "no unlabelled negatives");
        let unlabelled = chart.series[0].bars[2]
            .as_ref()
            .expect("positives are unlabelled");
        assert!((unlabelled.value - 0.7).abs() < 1e-12);
    }

    #[test]
    fn judge_distribution_gap_and_paired() {
        let data = samples();
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let config = StatsConfig::default();
        let judge = judge_scores(&runs, &config);
        assert_eq!(judge.categories.len(), 4);
        assert_eq!(judge.series.len(), 2);
        let accuracy = judge.series[0].bars[0].as_ref().expect("bar");
        assert_eq!(accuracy.value, 7.0);

        let histogram = distribution(&runs, Metric::Meteor, 10);
        assert_eq!(histogram.edges.len(), 11);
        assert_eq!(histogram.series[0].counts.iter().sum::<u64>(), 2);
        assert_eq!(histogram.series[0].counts[8], 1, "0.8 falls in [0.8, 0.9)");
        let risk = distribution(&runs, Metric::RiskLevel, 10);
        assert_eq!(risk.edges.len(), 11);
        assert_eq!(risk.series[1].counts.iter().sum::<u64>(), 3);

        let gap = split_gap(&runs, Metric::Meteor, FIELD, &config);
        // Only "all" has both splits.
        assert_eq!(gap.categories, ["all"]);
        let all = gap.series[0].bars[0].as_ref().expect("gap");
        assert!((all.value - (0.7 - 0.3)).abs() < 1e-12);
        assert!(all.ci95.is_some());

        let shifted: Vec<ScoredSample> = data
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if let Some(l) = &mut s.lexical {
                    l.meteor -= 0.1;
                }
                s
            })
            .collect();
        let paired = paired_differences(
            RunScores {
                name: "a",
                samples: &data,
            },
            RunScores {
                name: "b",
                samples: &shifted,
            },
            &[Metric::Meteor, Metric::Bleu],
            &config,
        );
        let meteor = paired.series[0].bars[0].as_ref().expect("meteor");
        assert!((meteor.value - 0.1).abs() < 1e-12 && meteor.n == 5);
        assert!(
            meteor
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("p = "))
        );
        let bleu = paired.series[0].bars[1].as_ref().expect("bleu");
        assert_eq!(bleu.value, 0.0);
    }

    #[test]
    fn charts_from_cached_summaries_equal_computed_ones() {
        let data = samples();
        let config = StatsConfig::default();
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let groups = summarize(&data, Some(FIELD), &config);
        let cached = [RunGroups {
            name: "m",
            groups: &groups,
        }];
        assert_eq!(
            by_type_from(&cached, Metric::Meteor, FIELD),
            by_type(&runs, Metric::Meteor, FIELD, &config)
        );
        assert_eq!(judge_scores_from(&cached), judge_scores(&runs, &config));
    }

    #[test]
    fn kinds_have_stable_names() {
        for kind in ChartKind::ALL {
            assert_eq!(ChartKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ChartKind::from_name("pie"), None);
    }

    #[test]
    fn series_follow_their_model_and_split() {
        let positive = series_name("model-a.positive.jsonl", Split::Positive);
        let negative = series_name("model-a.negative.jsonl", Split::Negative);
        assert_eq!(
            series_model(&positive),
            ("model-a".to_owned(), Some(Split::Positive))
        );
        assert_eq!(
            series_model(&negative),
            ("model-a".to_owned(), Some(Split::Negative))
        );
        assert_eq!(
            series_model("model-b.negative"),
            ("model-b".to_owned(), None)
        );
        assert_eq!(series_model("a · b"), (model_name("a · b"), None));
    }

    fn with_field(mut sample: ScoredSample, name: &str, value: &str) -> ScoredSample {
        sample.fields.push((name.to_owned(), value.to_owned()));
        sample
    }

    #[test]
    fn gap_keeps_categories_with_both_splits_and_filters_by_value() {
        let data = vec![
            with_field(sample(Split::Positive, 0, 0.9, None), "modality", "ct"),
            with_field(sample(Split::Positive, 1, 0.7, None), "modality", "ct"),
            with_field(sample(Split::Positive, 2, 0.5, None), "modality", "xray"),
            with_field(sample(Split::Negative, 0, 0.2, None), "modality", "ct"),
            with_field(sample(Split::Negative, 1, 0.4, None), "modality", "ct"),
            // Only negatives are MRI: no gap there.
            with_field(sample(Split::Negative, 2, 0.1, None), "modality", "mri"),
        ];
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let config = StatsConfig::default();
        let gap = split_gap(&runs, Metric::Meteor, "modality", &config);
        // "xray" has positives only and "mri" negatives only: both skipped.
        assert_eq!(gap.categories, ["all", "ct"]);
        assert_eq!(gap.series.len(), 1);
        assert_eq!(gap.series[0].name, "m");
        let all = gap.series[0].bars[0].as_ref().expect("all");
        assert!(
            (all.value - (0.7 - 0.7 / 3.0)).abs() < 1e-12,
            "{}",
            all.value
        );
        assert_eq!(all.n, 6);
        assert_eq!(all.filter.field, None);
        let ct = gap.series[0].bars[1].as_ref().expect("ct");
        assert!((ct.value - (0.8 - 0.3)).abs() < 1e-12);
        assert_eq!(ct.n, 4);
        assert_eq!(ct.note.as_deref(), Some("positive n = 2, negative n = 2"));
        assert_eq!(
            ct.filter,
            BarFilter {
                run: Some("m".to_owned()),
                split: None,
                field: Some("modality".to_owned()),
                value: Some("ct".to_owned()),
            }
        );
        let [low, high] = ct.ci95.expect("two values a side");
        assert!(low <= ct.value && ct.value <= high);
        assert_eq!(
            split_gap(&runs, Metric::Meteor, "modality", &config),
            gap,
            "seeded"
        );
        // Nothing with both splits: no categories at all.
        let positives = &data[..3];
        let lonely = split_gap(
            &[RunScores {
                name: "p",
                samples: positives,
            }],
            Metric::Meteor,
            "modality",
            &config,
        );
        assert!(lonely.categories.is_empty());
        assert!(ChartSpec::Bars(lonely).is_empty());
    }

    #[test]
    fn paired_uses_only_shared_samples_with_both_values() {
        let a = samples();
        // B answered three of A's five questions (and one A did not), without judge scores.
        let b: Vec<ScoredSample> = vec![
            crate::summary::test_support::scored(Split::Positive, 0, 0.5, None, None),
            crate::summary::test_support::scored(Split::Negative, 1, 0.1, None, None),
            crate::summary::test_support::scored(Split::Negative, 2, 0.1, None, None),
            crate::summary::test_support::scored(Split::Negative, 9, 0.9, None, None),
        ];
        let chart = paired_differences(
            RunScores {
                name: "a",
                samples: &a,
            },
            RunScores {
                name: "b",
                samples: &b,
            },
            &[Metric::Meteor, Metric::ClinicalAccuracy],
            &StatsConfig::default(),
        );
        assert_eq!(chart.categories, ["meteor", "clinical_accuracy"]);
        assert_eq!(chart.series.len(), 1);
        assert_eq!(chart.series[0].name, "a − b");
        let meteor = chart.series[0].bars[0].as_ref().expect("meteor");
        // (0.8 - 0.5) + (0.2 - 0.1) + (0.4 - 0.1), over 3.
        assert!((meteor.value - 0.7 / 3.0).abs() < 1e-12, "{}", meteor.value);
        assert_eq!(meteor.n, 3);
        assert!(meteor.note.as_deref().is_some_and(|n| n.ends_with("n = 3")));
        assert!(chart.series[0].bars[1].is_none(), "B has no judge scores");
    }

    #[test]
    fn distribution_bins_judge_scores_on_integers_and_filters_by_run_and_split() {
        let data: Vec<ScoredSample> = [1.0, 5.0, 5.0, 10.0]
            .into_iter()
            .enumerate()
            .map(|(i, score)| {
                let id = u32::try_from(i).unwrap_or(0);
                crate::summary::test_support::scored(
                    Split::Negative,
                    id,
                    1.0,
                    Some([score; 4]),
                    None,
                )
            })
            .collect();
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let judge = distribution(&runs, Metric::ClinicalAccuracy, 20);
        assert_eq!(judge.edges.first(), Some(&0.5));
        assert_eq!(judge.edges.last(), Some(&10.5));
        assert_eq!(judge.series.len(), 1);
        assert_eq!(judge.series[0].counts, [1, 0, 0, 0, 2, 0, 0, 0, 0, 1]);
        assert_eq!(judge.series[0].filter.run.as_deref(), Some("m"));
        assert_eq!(judge.series[0].filter.split, Some(Split::Negative));
        // A lexical score of exactly 1 lands in the last bin, not past it.
        let lexical = distribution(&runs, Metric::Meteor, 4);
        assert_eq!(lexical.edges, [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(lexical.series[0].counts, [0, 0, 0, 4]);
        // No samples: no series, an empty spec.
        let none = distribution(&[], Metric::Meteor, 4);
        assert!(none.series.is_empty() && ChartSpec::Histogram(none).is_empty());
    }

    #[test]
    fn runs_gather_into_models_without_repeating_a_split() {
        let positive = vec![sample(Split::Positive, 0, 0.8, None)];
        let negative = vec![sample(Split::Negative, 1, 0.2, None)];
        let other = vec![sample(Split::Positive, 0, 0.5, None)];
        let runs = [
            RunScores {
                name: "llava.positive.jsonl",
                samples: &positive,
            },
            RunScores {
                name: "gpt.positive.eval.jsonl",
                samples: &other,
            },
            RunScores {
                name: "llava.negative.jsonl",
                samples: &negative,
            },
            // The same model's positive file again (another folder): kept apart.
            RunScores {
                name: "copy/llava.positive.jsonl",
                samples: &positive,
            },
        ];
        let grouped = models(&runs);
        let names: Vec<&str> = grouped.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["llava", "gpt-eval", "copy/llava.positive.jsonl"]);
        assert_eq!(grouped[0].samples.len(), 2);
        assert_eq!(grouped[0].scores().samples.len(), 2);
        assert_eq!(grouped[2].samples, positive);
    }

    #[test]
    fn empty_specs_say_so() {
        let empty = by_type(&[], Metric::Meteor, FIELD, &StatsConfig::default());
        assert!(empty.categories.is_empty());
        let spec = ChartSpec::Bars(empty);
        assert!(spec.is_empty());
        assert!(spec.title().starts_with("meteor by hallucination type"));
        let data = samples();
        let runs = [RunScores {
            name: "m",
            samples: &data,
        }];
        let judge = ChartSpec::Bars(judge_scores(&runs, &StatsConfig::default()));
        assert!(!judge.is_empty());
    }
}
