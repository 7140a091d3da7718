//! Means, counts and 95% intervals per split and per any categorical field.

use crate::judge::JudgeScores;
use crate::metrics::lexical::LexicalScores;
use crate::sample::{SampleKey, Split};
use crate::stats::{StatsConfig, bootstrap_mean_cis, mean};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A scored sample: lexical scores when it had a reference, judge scores when the file had them.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredSample {
    pub key: SampleKey,
    /// Whether the input gave the id as a JSON integer.
    pub question_id_is_integer: bool,
    pub lexical: Option<LexicalScores>,
    pub judge: Option<JudgeScores>,
    /// BERTScore F1 (B.Score), when it was computed for this sample.
    pub bertscore: Option<f64>,
    pub fields: Vec<(String, String)>,
}

impl ScoredSample {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One line of the per-sample output (`medhall score --per-sample`, and the app's download):
/// the same JSON from both, so files can be compared with `diff`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerSampleLine {
    pub split: Split,
    /// As the input gave it: a JSON integer stays an integer (the official files use integers;
    /// pandas joins nothing between int and str ids), anything else is a string.
    pub question_id: serde_json::Value,
    pub rouge1: Option<f64>,
    pub rouge2: Option<f64>,
    #[serde(rename = "rougeL")]
    pub rouge_l: Option<f64>,
    pub meteor: Option<f64>,
    pub bleu: Option<f64>,
    pub judge: Option<JudgeScores>,
    /// BERTScore F1 (`medhall score --bertscore`); absent from the line when not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bertscore: Option<f64>,
}

impl From<&ScoredSample> for PerSampleLine {
    fn from(sample: &ScoredSample) -> Self {
        let lexical = sample.lexical;
        PerSampleLine {
            split: sample.key.split,
            question_id: question_id_json(&sample.key.question_id, sample.question_id_is_integer),
            rouge1: lexical.map(|s| s.rouge1),
            rouge2: lexical.map(|s| s.rouge2),
            rouge_l: lexical.map(|s| s.rouge_l),
            meteor: lexical.map(|s| s.meteor),
            bleu: lexical.map(|s| s.bleu),
            judge: sample.judge,
            bertscore: sample.bertscore,
        }
    }
}

/// A question id's JSON: an integer when the input had one, else a string.
pub fn question_id_json(id: &str, integer: bool) -> serde_json::Value {
    let number = || {
        id.parse::<i64>()
            .map(serde_json::Value::from)
            .or_else(|_| id.parse::<u64>().map(serde_json::Value::from))
            .ok()
    };
    match integer.then(number).flatten() {
        Some(value) => value,
        None => serde_json::Value::from(id),
    }
}

/// Every number we average, named as in the CLI's output and the app's test hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Rouge1,
    Rouge2,
    RougeL,
    Meteor,
    Bleu,
    ClinicalAccuracy,
    ClinicalRelevance,
    DetailLevel,
    RiskLevel,
    /// BERTScore F1 (the leaderboard's B.Score): computed on demand, absent otherwise.
    BertScore,
}

impl Metric {
    pub const LEXICAL: [Metric; 5] = [
        Metric::Rouge1,
        Metric::Rouge2,
        Metric::RougeL,
        Metric::Meteor,
        Metric::Bleu,
    ];
    pub const JUDGE: [Metric; 4] = [
        Metric::ClinicalAccuracy,
        Metric::ClinicalRelevance,
        Metric::DetailLevel,
        Metric::RiskLevel,
    ];
    /// The lexical and judge metrics: present together whenever a sample has both families.
    pub const LEXICAL_AND_JUDGE: [Metric; 9] = [
        Metric::Rouge1,
        Metric::Rouge2,
        Metric::RougeL,
        Metric::Meteor,
        Metric::Bleu,
        Metric::ClinicalAccuracy,
        Metric::ClinicalRelevance,
        Metric::DetailLevel,
        Metric::RiskLevel,
    ];
    pub const ALL: [Metric; 10] = [
        Metric::Rouge1,
        Metric::Rouge2,
        Metric::RougeL,
        Metric::Meteor,
        Metric::Bleu,
        Metric::ClinicalAccuracy,
        Metric::ClinicalRelevance,
        Metric::DetailLevel,
        Metric::RiskLevel,
        Metric::BertScore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Rouge1 => "rouge1",
            Metric::Rouge2 => "rouge2",
            Metric::RougeL => "rougeL",
            Metric::Meteor => "meteor",
            Metric::Bleu => "bleu",
            Metric::ClinicalAccuracy => "clinical_accuracy",
            Metric::ClinicalRelevance => "clinical_relevance",
            Metric::DetailLevel => "detail_level",
            Metric::RiskLevel => "risk_level",
            Metric::BertScore => "bertscore",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn value(self, sample: &ScoredSample) -> Option<f64> {
        let lexical = sample.lexical;
        let judge = sample.judge;
        match self {
            Metric::Rouge1 => lexical.map(|s| s.rouge1),
            Metric::Rouge2 => lexical.map(|s| s.rouge2),
            Metric::RougeL => lexical.map(|s| s.rouge_l),
            Metric::Meteor => lexical.map(|s| s.meteor),
            Metric::Bleu => lexical.map(|s| s.bleu),
            Metric::ClinicalAccuracy => judge.map(|s| s.clinical_accuracy),
            Metric::ClinicalRelevance => judge.map(|s| s.clinical_relevance),
            Metric::DetailLevel => judge.map(|s| s.detail_level),
            Metric::RiskLevel => judge.map(|s| s.risk_level),
            Metric::BertScore => sample.bertscore,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub metric: String,
    pub n: usize,
    pub mean: f64,
    /// 95% percentile-bootstrap interval; absent for fewer than two values.
    pub ci95: Option<[f64; 2]>,
}

/// One row of the summary: a split, optionally narrowed to one value of a field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub split: Split,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub samples: usize,
    pub metrics: Vec<MetricSummary>,
}

/// Samples with no value for the grouping field are grouped under this label; nothing is guessed.
pub const UNLABELLED: &str = "unlabelled";

fn summarize_group(samples: &[&ScoredSample], config: &StatsConfig) -> Vec<MetricSummary> {
    // When every sample has both families, one pass of draws serves all nine metrics; the
    // intervals are the same as per family, since each family's draws start from the same seed.
    // B.Score is its own family (computed on demand, for some runs only).
    let complete = samples
        .iter()
        .all(|s| s.lexical.is_some() && s.judge.is_some());
    let families: &[&[Metric]] = if complete {
        &[&Metric::LEXICAL_AND_JUDGE, &[Metric::BertScore]]
    } else {
        &[&Metric::LEXICAL, &Metric::JUDGE, &[Metric::BertScore]]
    };
    let mut out = Vec::new();
    for family in families {
        // Within a family every metric is present for the same samples.
        let columns: Vec<Vec<f64>> = family
            .iter()
            .map(|m| samples.iter().filter_map(|s| m.value(s)).collect())
            .collect();
        if columns[0].is_empty() {
            continue;
        }
        let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let intervals = bootstrap_mean_cis(&slices, config);
        for ((metric, column), ci) in family.iter().zip(&columns).zip(intervals) {
            if let Some(mean) = mean(column) {
                out.push(MetricSummary {
                    metric: metric.name().to_owned(),
                    n: column.len(),
                    mean,
                    ci95: ci.map(|(l, h)| [l, h]),
                });
            }
        }
    }
    out
}

/// Means per split, and per value of `group_by` within each split when given.
pub fn summarize(
    samples: &[ScoredSample],
    group_by: Option<&str>,
    config: &StatsConfig,
) -> Vec<GroupSummary> {
    Split::ALL
        .into_iter()
        .flat_map(|split| summarize_split(samples, split, group_by, config))
        .collect()
}

/// [`summarize`] for one split (splits are independent, so callers may run them in parallel).
pub fn summarize_split(
    samples: &[ScoredSample],
    split: Split,
    group_by: Option<&str>,
    config: &StatsConfig,
) -> Vec<GroupSummary> {
    let mut groups = Vec::new();
    let in_split: Vec<&ScoredSample> = samples.iter().filter(|s| s.key.split == split).collect();
    if in_split.is_empty() {
        return groups;
    }
    groups.push(GroupSummary {
        split,
        field: None,
        value: None,
        samples: in_split.len(),
        metrics: summarize_group(&in_split, config),
    });
    let Some(field) = group_by else {
        return groups;
    };
    let mut by_value: BTreeMap<&str, Vec<&ScoredSample>> = BTreeMap::new();
    for sample in &in_split {
        by_value
            .entry(sample.field(field).unwrap_or(UNLABELLED))
            .or_default()
            .push(sample);
    }
    for (value, members) in by_value {
        // One value for the whole split (typically all "unlabelled"): the same samples in the
        // same order, so the same draws and numbers as the split's row; no second bootstrap.
        let metrics = if members.len() == in_split.len() {
            groups[0].metrics.clone()
        } else {
            summarize_group(&members, config)
        };
        groups.push(GroupSummary {
            split,
            field: Some(field.to_owned()),
            value: Some(value.to_owned()),
            samples: members.len(),
            metrics,
        });
    }
    groups
}

/// Scores one joined sample: the five lexical metrics when it has a reference, its judge scores
/// when its file had them, and the fields it can be grouped by.
pub fn score_sample(
    joined: &crate::dataset::JoinedSample<'_>,
    scorer: &mut crate::metrics::lexical::LexicalScorer<'_>,
) -> ScoredSample {
    ScoredSample {
        key: joined.prediction.key.clone(),
        question_id_is_integer: joined.prediction.question_id_is_integer,
        lexical: joined
            .reference
            .map(|reference| scorer.score(reference, &joined.prediction.answer)),
        judge: joined.prediction.judge,
        bertscore: None,
        fields: joined.fields.clone(),
    }
}

/// Samples with every lexical metric equal to one value, for tests here and in `chart`.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::sample::SampleKey;

    pub fn scored(
        split: Split,
        id: u32,
        lexical: f64,
        judge: Option<[f64; 4]>,
        kind: Option<&str>,
    ) -> ScoredSample {
        ScoredSample {
            key: SampleKey {
                split,
                question_id: id.to_string(),
            },
            question_id_is_integer: true,
            lexical: Some(LexicalScores {
                rouge1: lexical,
                rouge2: lexical,
                rouge_l: lexical,
                meteor: lexical,
                bleu: lexical,
            }),
            judge: judge.map(JudgeScores::from_array),
            bertscore: None,
            fields: kind
                .map(|k| vec![("hallucination_type".to_owned(), k.to_owned())])
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn question_ids_keep_their_json_type() {
        use super::question_id_json;
        use serde_json::json;
        assert_eq!(question_id_json("12", true), json!(12));
        assert_eq!(question_id_json("-3", true), json!(-3));
        assert_eq!(
            question_id_json("18446744073709551615", true),
            json!(u64::MAX)
        );
        assert_eq!(question_id_json("12", false), json!("12"));
        assert_eq!(question_id_json("q-1", false), json!("q-1"));
    }
    use super::*;

    #[test]
    fn a_single_value_group_repeats_the_split_row_exactly() {
        let samples: Vec<ScoredSample> = (0..40)
            .map(|i| test_support::scored(Split::Negative, i, f64::from(i % 7) / 7.0, None, None))
            .collect();
        let config = StatsConfig::default();
        let groups = summarize(&samples, Some("hallucination_type"), &config);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].value.as_deref(), Some(UNLABELLED));
        assert_eq!(groups[1].metrics, groups[0].metrics);
        // And it is what a separate bootstrap of the same samples gives.
        let refs: Vec<&ScoredSample> = samples.iter().collect();
        assert_eq!(summarize_group(&refs, &config), groups[1].metrics);
    }

    fn sample(
        split: Split,
        id: u32,
        meteor: f64,
        judge: Option<f64>,
        kind: Option<&str>,
    ) -> ScoredSample {
        test_support::scored(split, id, meteor, judge.map(|j| [j; 4]), kind)
    }

    #[test]
    fn means_per_split_and_group() {
        let samples = vec![
            sample(Split::Positive, 0, 0.5, Some(6.0), Some("object")),
            sample(Split::Positive, 1, 1.0, None, Some("object")),
            sample(Split::Positive, 2, 0.0, Some(8.0), None),
            sample(Split::Negative, 1, 0.25, Some(2.0), Some("knowledge")),
        ];
        let groups = summarize(
            &samples,
            Some("hallucination_type"),
            &StatsConfig::default(),
        );
        let find = |split: Split, value: Option<&str>, metric: &str| {
            groups
                .iter()
                .find(|g| g.split == split && g.value.as_deref() == value)
                .and_then(|g| g.metrics.iter().find(|m| m.metric == metric))
                .map(|m| (m.n, m.mean))
        };
        assert_eq!(find(Split::Positive, None, "meteor"), Some((3, 0.5)));
        assert_eq!(
            find(Split::Positive, None, "clinical_accuracy"),
            Some((2, 7.0))
        );
        assert_eq!(
            find(Split::Positive, Some("object"), "meteor"),
            Some((2, 0.75))
        );
        assert_eq!(
            find(Split::Positive, Some(UNLABELLED), "risk_level"),
            Some((1, 8.0))
        );
        assert_eq!(
            find(Split::Negative, Some("knowledge"), "bleu"),
            Some((1, 0.25))
        );
        assert_eq!(find(Split::Negative, Some("object"), "bleu"), None);
        let ci = groups[0]
            .metrics
            .iter()
            .find(|m| m.metric == "meteor")
            .and_then(|m| m.ci95);
        let [low, high] = ci.expect("three values give an interval");
        assert!(low <= 0.5 && 0.5 <= high);
    }

    #[test]
    fn metric_names_round_trip() {
        for metric in Metric::ALL {
            assert_eq!(Metric::from_name(metric.name()), Some(metric));
        }
    }
}
