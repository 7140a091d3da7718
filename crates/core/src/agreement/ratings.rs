//! Ratings of several raters on the same items, joined by (split, question_id): human rating
//! files (JSONL lines with `rater`, `split`, `question_id` and the four criteria 1–10) and judged
//! files (the judge-eval rows [`Run`] reads), each judge one rater. Both go through the same
//! record parser as every other file, so splits, ids and bad lines are read as everywhere else.

use super::plan::PLAN_FIELD;
use crate::dataset::{Issue, IssueKind, Prediction, Run, SourceContext, TYPE_FIELD, issue, key_of};
use crate::formats::{ColumnMap, SampleRecord, parse_bytes};
use crate::judging::provenance::judge_label;
use crate::sample::SampleKey;
use medhall_metrics::agreement::SCORE_LEVELS;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The four judge criteria, in the judge prompt's order (and `JudgeScores::to_array`'s).
pub const CRITERIA: [&str; 4] = [
    "clinical_accuracy",
    "clinical_relevance",
    "detail_level",
    "risk_level",
];

/// The field of a rating line naming who rated.
pub const RATER_FIELD: &str = "rater";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaterKind {
    Human,
    Judge,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rater {
    /// Unique among the raters: a human's `rater` field, a judge's label (with ` #2`, ` #3`
    /// when two judged inputs have the same judge, as a file compared with itself has).
    pub name: String,
    pub kind: RaterKind,
    /// For a judge, `judge_label` of its rows (several joined by ` + ` when they mix judges).
    pub label: Option<String>,
    pub sources: Vec<String>,
}

/// One item's ratings: one slot per rater, four criteria each.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) key: SampleKey,
    pub(crate) hallucination_type: Option<String>,
    pub(crate) scores: Vec<[Option<u8>; 4]>,
}

/// What reading one file gave: lines read, lines whose ratings were used, lines left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCount {
    pub source: String,
    pub lines: u64,
    pub used: u64,
    pub rejected: u64,
}

/// Every rater's ratings, by item.
#[derive(Debug, Default)]
pub struct RatingTable {
    pub(crate) raters: Vec<Rater>,
    pub(crate) items: Vec<Item>,
    index: HashMap<SampleKey, usize>,
    /// Where each (rater, item) rating was read, for duplicate reports.
    origins: HashMap<(usize, usize), (String, u64)>,
    /// The rating plans the human lines name (`plan` field), in first-seen order.
    pub(crate) plans: Vec<String>,
    pub warnings: Vec<String>,
}

/// A score as agreement needs it: an integer from 1 to 10.
fn level(value: f64) -> Option<u8> {
    let whole = value.fract() == 0.0 && (1.0..=10.0).contains(&value);
    // In range and whole, so the cast is exact.
    whole
        .then_some(value as u8)
        .filter(|v| SCORE_LEVELS.contains(v))
}

fn invalid(source: &str, line: u64, field: &str, value: f64) -> Issue {
    issue(
        IssueKind::InvalidRating,
        source,
        line,
        Some(field),
        format!("{value} is not an integer from 1 to 10; the line is left out"),
    )
}

impl RatingTable {
    pub fn raters(&self) -> &[Rater] {
        &self.raters
    }

    /// Items rated by anyone.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The rating plans named by the human ratings (`plan` field), in first-seen order.
    pub fn plans(&self) -> &[String] {
        &self.plans
    }

    fn rater(&mut self, name: &str, kind: RaterKind, source: &str) -> usize {
        let found = self
            .raters
            .iter()
            .position(|r| r.kind == kind && r.name == name);
        let position = found.unwrap_or_else(|| {
            self.raters.push(Rater {
                name: name.to_owned(),
                kind,
                label: None,
                sources: Vec::new(),
            });
            for item in &mut self.items {
                item.scores.push([None; 4]);
            }
            self.raters.len() - 1
        });
        let sources = &mut self.raters[position].sources;
        if !sources.iter().any(|s| s == source) {
            sources.push(source.to_owned());
        }
        position
    }

    fn item(&mut self, key: &SampleKey) -> usize {
        if let Some(&position) = self.index.get(key) {
            return position;
        }
        self.items.push(Item {
            key: key.clone(),
            hallucination_type: None,
            scores: vec![[None; 4]; self.raters.len()],
        });
        self.index.insert(key.clone(), self.items.len() - 1);
        self.items.len() - 1
    }

    /// Stores a rater's four scores of an item, or reports a second rating of it (the first is kept).
    fn store(
        &mut self,
        rater: usize,
        key: &SampleKey,
        scores: [Option<u8>; 4],
        at: (&str, u64),
        issues: &mut Vec<Issue>,
    ) -> bool {
        let item = self.item(key);
        if let Some((source, line)) = self.origins.get(&(rater, item)) {
            issues.push(issue(
                IssueKind::Duplicate,
                at.0,
                at.1,
                Some("question_id"),
                format!(
                    "{} rated {} {} already at {source}:{line}; the first is kept",
                    self.raters[rater].name, key.split, key.question_id
                ),
            ));
            return false;
        }
        self.origins.insert((rater, item), (at.0.to_owned(), at.1));
        self.items[item].scores[rater] = scores;
        true
    }

    /// Reads a human rating file (JSONL, JSON or CSV with `rater`, `split` or a split in the
    /// file name, `question_id` and any of the four criteria). A line with no rater, no key, no
    /// criterion, a score that is not an integer 1–10, or one that repeats a rating is reported
    /// by file, line and field and left out; the rest loads. A criterion left out of a line is
    /// a missing rating.
    pub fn add_ratings(&mut self, name: &str, bytes: &[u8], issues: &mut Vec<Issue>) -> FileCount {
        let (records, errors, _) = parse_bytes(name, bytes, &ColumnMap::default());
        let source = SourceContext::new(name, None);
        let mut count = FileCount {
            source: name.to_owned(),
            lines: (records.len() + errors.len()) as u64,
            used: 0,
            rejected: errors.len() as u64,
        };
        issues.extend(errors.into_iter().map(Issue::from));
        for record in records {
            if self.add_rating(&source, &record, issues) {
                count.used += 1;
            } else {
                count.rejected += 1;
            }
        }
        count
    }

    fn add_rating(
        &mut self,
        source: &SourceContext,
        record: &SampleRecord,
        issues: &mut Vec<Issue>,
    ) -> bool {
        let name = source.name.as_str();
        let Some(rater) = record
            .field(RATER_FIELD)
            .map(str::trim)
            .filter(|r| !r.is_empty())
        else {
            issues.push(issue(
                IssueKind::MissingField,
                name,
                record.line,
                Some(RATER_FIELD),
                "missing: who rated this line",
            ));
            return false;
        };
        let Some(key) = key_of(record, source, issues) else {
            return false;
        };
        let mut scores = [None; 4];
        for (c, value) in record.judge_columns.iter().enumerate() {
            if let Some(value) = *value {
                let Some(score) = level(value) else {
                    issues.push(invalid(name, record.line, CRITERIA[c], value));
                    return false;
                };
                scores[c] = Some(score);
            }
        }
        if scores.iter().all(Option::is_none) {
            issues.push(issue(
                IssueKind::MissingField,
                name,
                record.line,
                Some(CRITERIA[0]),
                format!("no rating: none of {} is given", CRITERIA.join(", ")),
            ));
            return false;
        }
        let rater = self.rater(rater, RaterKind::Human, name);
        let stored = self.store(rater, &key, scores, (name, record.line), issues);
        if stored
            && let Some(plan) = record.field(PLAN_FIELD).map(str::trim)
            && !plan.is_empty()
            && !self.plans.iter().any(|p| p == plan)
        {
            self.plans.push(plan.to_owned());
        }
        stored
    }

    /// Adds one judge: the readable verdicts of `run` (one or more judged files, see
    /// [`read_judged`]). Its name is its rows' `judge_label`; a verdict score that is not an
    /// integer 1–10 is reported at its line (field `result`) and that row left out. The items'
    /// hallucination type comes from the judged rows (`hallucination_type`, else `type` or
    /// `category`), the first judge that gives one.
    pub fn add_judge(&mut self, run: &Run, issues: &mut Vec<Issue>) {
        self.add_judge_predictions(run.predictions(), issues);
    }

    /// [`RatingTable::add_judge`] on predictions held elsewhere (the page's runs of one model,
    /// its positive and negative files): the same rows in the same order give the same rater.
    pub fn add_judge_predictions<'a>(
        &mut self,
        predictions: impl IntoIterator<Item = &'a Prediction> + Clone,
        issues: &mut Vec<Issue>,
    ) {
        let mut labels: Vec<String> = Vec::new();
        for prediction in predictions
            .clone()
            .into_iter()
            .filter(|p| p.judge.is_some())
        {
            let label = judge_label(&prediction.fields);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let Some(first) = labels.first() else {
            self.warnings
                .push("a judged input holds no readable verdict; it is left out".to_owned());
            return;
        };
        let label = labels.join(" + ");
        if labels.len() > 1 {
            self.warnings.push(format!(
                "one judged input mixes judges ({label}); its verdicts are one rater"
            ));
        }
        let mut name = label.clone();
        let mut copy = 1;
        while self.raters.iter().any(|r| r.name == name) {
            copy += 1;
            name = format!("{first} #{copy}");
        }
        let position = self.raters.len();
        for prediction in predictions {
            self.add_verdict(&name, prediction, issues);
        }
        if let Some(rater) = self.raters.get_mut(position) {
            rater.label = Some(label);
        }
    }

    fn add_verdict(&mut self, name: &str, prediction: &Prediction, issues: &mut Vec<Issue>) {
        let Some(judge) = prediction.judge else {
            return;
        };
        let mut scores = [None; 4];
        for (c, value) in judge.to_array().into_iter().enumerate() {
            let Some(score) = level(value) else {
                let mut bad = invalid(&prediction.source, prediction.line, "result", value);
                bad.message = format!("{}: {}", CRITERIA[c], bad.message);
                issues.push(bad);
                return;
            };
            scores[c] = Some(score);
        }
        let rater = self.rater(name, RaterKind::Judge, &prediction.source);
        let at = (&*prediction.source, prediction.line);
        if self.store(rater, &prediction.key, scores, at, issues) {
            let item = self.item(&prediction.key);
            let kind = type_of(&prediction.fields);
            let slot = &mut self.items[item].hallucination_type;
            if slot.is_none() {
                *slot = kind;
            }
        }
    }
}

/// A row's hallucination type, with `join_one`'s precedence of field names.
fn type_of(fields: &[(String, String)]) -> Option<String> {
    let find = |names: &[&str]| {
        fields
            .iter()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.clone())
    };
    find(&[TYPE_FIELD]).or_else(|| find(&["type", "category"]))
}

/// Reads one judged file (judge-eval JSONL, or any results file with a verdict) into `run`,
/// exactly as `medhall score` reads it: the split from a `split` field or the file name, rows
/// keyed by (split, question_id), bad lines reported. Several files of one judge (its two
/// splits) go into the same run.
pub fn read_judged(name: &str, bytes: &[u8], run: &mut Run, issues: &mut Vec<Issue>) -> u64 {
    let (records, errors, summary) = parse_bytes(name, bytes, &ColumnMap::default());
    issues.extend(errors.into_iter().map(Issue::from));
    let source = SourceContext::new(name, None);
    for record in records {
        run.add_record(&source, record, issues);
    }
    summary.records
}
