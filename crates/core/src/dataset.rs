//! Parsed records joined into reference sets and runs, with every problem reported as an
//! [`Issue`] that names the file, line and field. Nothing is dropped silently: a record that
//! cannot be used is reported and counted, and the rest of the file still loads.

use crate::fast_hash::FxHasher;
use crate::formats::{ColumnMap, RecordError, Role, SampleRecord};
use crate::judge::{JudgeScores, VerdictRule, parse_verdict};
use crate::sample::{SampleKey, Split};
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The line is not a valid record of its format.
    Malformed,
    /// A field the role needs is absent or of the wrong type.
    MissingField,
    /// Neither the record, the command line nor the file name says which split it belongs to.
    UnknownSplit,
    /// A second record with the same (split, question_id); the first one is kept.
    Duplicate,
    /// The judge's text does not hold four scores; the sample keeps its lexical scores.
    UnreadableVerdict,
    /// The judge's scores were read with a tolerated variant of eval.py's rule.
    VerdictVariant,
    /// A prediction with no reference answer to score it against.
    NoReference,
    /// A reference question of a split the run covers, with no prediction.
    NoPrediction,
    /// A prediction to judge with no calibration sample (LLaVA-Med's answer and verdict).
    NoCalibration,
    /// A later line of the same file judged a sample again whose earlier verdict was
    /// unreadable (`medhall judge --retry-unreadable`); the readable verdict is used.
    Reasked,
    /// A rating or judge score that is not an integer from 1 to 10, where agreement needs one
    /// (`medhall agreement`); the line is left out.
    InvalidRating,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub kind: IssueKind,
    pub source: String,
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl From<RecordError> for Issue {
    fn from(error: RecordError) -> Self {
        Issue {
            kind: IssueKind::Malformed,
            source: error.source,
            line: error.line,
            field: error.field,
            message: error.message,
        }
    }
}

pub(crate) fn issue(
    kind: IssueKind,
    source: &str,
    line: u64,
    field: Option<&str>,
    message: impl Into<String>,
) -> Issue {
    Issue {
        kind,
        source: source.to_owned(),
        line,
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

/// A second record for a key: reported, and the first one kept.
fn duplicate(
    source: &SourceContext,
    line: u64,
    key: &SampleKey,
    earlier_source: &str,
    earlier_line: u64,
) -> Issue {
    issue(
        IssueKind::Duplicate,
        &source.name,
        line,
        Some("question_id"),
        format!(
            "duplicate of {earlier_source}:{earlier_line} ({} {}); the first is kept",
            key.split, key.question_id
        ),
    )
}

/// Where a record came from, and the split its file implies.
#[derive(Clone, Debug)]
pub struct SourceContext {
    pub name: String,
    /// The split for records that do not carry one: the command line's `--split`, else the
    /// split the file name states.
    pub split: Option<Split>,
    /// The name once more, shared by every record of the file (a million rows need not hold a
    /// million copies of it).
    shared: Arc<str>,
}

impl SourceContext {
    pub fn new(name: impl Into<String>, split_override: Option<Split>) -> Self {
        let name = name.into();
        let split = split_override.or_else(|| Split::from_file_name(&name));
        let shared = Arc::from(name.as_str());
        Self {
            name,
            split,
            shared,
        }
    }
}

pub(crate) fn key_of(
    record: &SampleRecord,
    source: &SourceContext,
    issues: &mut Vec<Issue>,
) -> Option<SampleKey> {
    let Some(question_id) = record.question_id.clone() else {
        issues.push(issue(
            IssueKind::MissingField,
            &source.name,
            record.line,
            Some("question_id"),
            "missing",
        ));
        return None;
    };
    let Some(split) = record.split.or(source.split) else {
        issues.push(issue(
            IssueKind::UnknownSplit,
            &source.name,
            record.line,
            Some("split"),
            "no split: add a `split` field, name the file with positive/negative, or pass --split",
        ));
        return None;
    };
    Some(SampleKey { split, question_id })
}

/// Items keyed by (split, question_id), in file order; a second item for a key is reported as
/// a duplicate and the first one kept. The index holds positions only and compares against the
/// items' own keys: a million rows do not keep a second copy of every key.
struct Keyed<T> {
    items: Vec<T>,
    index: HashTable<usize>,
}

impl<T: fmt::Debug> fmt::Debug for Keyed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed").field("items", &self.items).finish()
    }
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashTable::new(),
        }
    }
}

fn key_hash(key: &SampleKey) -> u64 {
    BuildHasherDefault::<FxHasher>::default().hash_one(key)
}

/// Where an item was read from, for duplicate reports.
trait Located {
    fn key(&self) -> &SampleKey;
    fn origin(&self) -> (&str, u64);
}

impl<T: Located> Keyed<T> {
    fn position(&self, key: &SampleKey) -> Option<usize> {
        self.index
            .find(key_hash(key), |&i| self.items[i].key() == key)
            .copied()
    }

    fn contains(
        &self,
        key: &SampleKey,
        source: &SourceContext,
        line: u64,
        issues: &mut Vec<Issue>,
    ) -> bool {
        let Some(first) = self.position(key) else {
            return false;
        };
        let (earlier_source, earlier_line) = self.items[first].origin();
        issues.push(duplicate(source, line, key, earlier_source, earlier_line));
        true
    }

    /// Moves `other`'s items in, in order; keys already here are reported as duplicates.
    fn absorb(&mut self, other: Keyed<T>, issues: &mut Vec<Issue>) {
        if self.items.is_empty() {
            *self = other;
            return;
        }
        for item in other.items {
            if let Some(first) = self.position(item.key()) {
                let (earlier_source, earlier_line) = self.items[first].origin();
                let (source, line) = item.origin();
                let source = SourceContext::new(source, None);
                issues.push(duplicate(
                    &source,
                    line,
                    item.key(),
                    earlier_source,
                    earlier_line,
                ));
            } else {
                self.insert(item);
            }
        }
    }

    /// Adds an item whose key is not here yet (callers check with `contains`).
    fn insert(&mut self, item: T) {
        let Keyed { items, index } = self;
        index.insert_unique(key_hash(item.key()), items.len(), |&i| {
            key_hash(items[i].key())
        });
        items.push(item);
    }

    fn get(&self, key: &SampleKey) -> Option<&T> {
        self.position(key).map(|i| &self.items[i])
    }
}

/// A reference answer and what the shard says about its question.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub key: SampleKey,
    pub text: String,
    pub question: Option<String>,
    pub image: Option<String>,
    pub fields: Vec<(String, String)>,
    pub source: Arc<str>,
    pub line: u64,
}

/// Reference shards, keyed by (split, question_id).
#[derive(Default, Debug)]
pub struct ReferenceSet {
    entries: Keyed<Reference>,
}

impl Located for Reference {
    fn key(&self) -> &SampleKey {
        &self.key
    }

    fn origin(&self) -> (&str, u64) {
        (&self.source, self.line)
    }
}

impl Located for Prediction {
    fn key(&self) -> &SampleKey {
        &self.key
    }

    fn origin(&self) -> (&str, u64) {
        (&self.source, self.line)
    }
}

impl ReferenceSet {
    pub fn add_record(
        &mut self,
        source: &SourceContext,
        record: SampleRecord,
        issues: &mut Vec<Issue>,
    ) {
        let Some(key) = key_of(&record, source, issues) else {
            return;
        };
        let Some(text) = record.reference else {
            issues.push(issue(
                IssueKind::MissingField,
                &source.name,
                record.line,
                Some("gpt4_answer"),
                "missing reference answer",
            ));
            return;
        };
        if self.entries.contains(&key, source, record.line, issues) {
            return;
        }
        self.entries.insert(Reference {
            key,
            text,
            question: record.question,
            image: record.image,
            fields: record.fields,
            source: source.shared.clone(),
            line: record.line,
        });
    }

    pub fn get(&self, key: &SampleKey) -> Option<&Reference> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Reference> {
        self.entries.items.iter()
    }

    /// Adds another set's references (a shard loaded on its own), reporting keys already here
    /// as duplicates at the newcomer's line and keeping the first.
    pub fn absorb(&mut self, other: ReferenceSet, issues: &mut Vec<Issue>) {
        self.entries.absorb(other.entries, issues);
    }
}

/// One model answer, with what its file carried alongside it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub key: SampleKey,
    /// Whether the file gave the id as a JSON integer (per-sample outputs write it back so).
    pub question_id_is_integer: bool,
    pub answer: String,
    /// A reference carried in the results file itself (the judge-eval files' `gpt4_answer`).
    pub inline_reference: Option<String>,
    pub judge: Option<JudgeScores>,
    pub question: Option<String>,
    pub image: Option<String>,
    /// The judge's full text (rationale included), kept to be shown as text.
    pub judge_text: Option<String>,
    pub fields: Vec<(String, String)>,
    pub source: Arc<str>,
    pub line: u64,
}

/// One model run: its predictions keyed by (split, question_id), possibly from several files.
#[derive(Default, Debug)]
pub struct Run {
    predictions: Keyed<Prediction>,
}

fn judge_of(
    record: &SampleRecord,
    source: &SourceContext,
    issues: &mut Vec<Issue>,
) -> Option<JudgeScores> {
    if let Some(text) = &record.judge_text {
        return match parse_verdict(text) {
            Ok((scores, VerdictRule::Official)) => Some(scores),
            Ok((scores, VerdictRule::Variant)) => {
                issues.push(issue(
                    IssueKind::VerdictVariant,
                    &source.name,
                    record.line,
                    Some("result"),
                    "judge scores read with a tolerated variant of eval.py's rule",
                ));
                Some(scores)
            }
            Err(error) => {
                issues.push(issue(
                    IssueKind::UnreadableVerdict,
                    &source.name,
                    record.line,
                    Some("result"),
                    error.to_string(),
                ));
                None
            }
        };
    }
    match record.judge_columns {
        [Some(a), Some(b), Some(c), Some(d)] => Some(JudgeScores::from_array([a, b, c, d])),
        [None, None, None, None] => None,
        columns => {
            let names = [
                "clinical_accuracy",
                "clinical_relevance",
                "detail_level",
                "risk_level",
            ];
            let missing: Vec<&str> = names
                .iter()
                .zip(columns)
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            issues.push(issue(
                IssueKind::UnreadableVerdict,
                &source.name,
                record.line,
                missing.first().copied(),
                format!("judge columns incomplete: missing {}", missing.join(", ")),
            ));
            None
        }
    }
}

impl Run {
    pub fn add_record(
        &mut self,
        source: &SourceContext,
        record: SampleRecord,
        issues: &mut Vec<Issue>,
    ) {
        let Some(key) = key_of(&record, source, issues) else {
            return;
        };
        let judge = judge_of(&record, source, issues);
        let Some(answer) = record.answer else {
            issues.push(issue(
                IssueKind::MissingField,
                &source.name,
                record.line,
                Some("answer"),
                "missing the model's answer",
            ));
            return;
        };
        // A sample judged again after an unreadable verdict: the new verdict replaces it.
        let reasked = self.predictions.position(&key).filter(|&first| {
            let earlier = &self.predictions.items[first];
            earlier.judge.is_none() && earlier.judge_text.is_some() && judge.is_some()
        });
        if let Some(first) = reasked {
            let earlier = &self.predictions.items[first];
            issues.push(issue(
                IssueKind::Reasked,
                &source.name,
                record.line,
                Some("result"),
                format!(
                    "judged again after the unreadable verdict at {}:{}; this verdict is used",
                    earlier.source, earlier.line
                ),
            ));
        } else if self.predictions.contains(&key, source, record.line, issues) {
            return;
        }
        let prediction = Prediction {
            key,
            question_id_is_integer: record.question_id_is_integer,
            answer,
            inline_reference: record.reference,
            judge,
            question: record.question,
            image: record.image,
            judge_text: record.judge_text,
            fields: record.fields,
            source: source.shared.clone(),
            line: record.line,
        };
        match reasked {
            Some(first) => self.predictions.items[first] = prediction,
            None => self.predictions.insert(prediction),
        }
    }

    /// Adds another run's predictions (a file read on its own), reporting keys already here as
    /// duplicates at the newcomer's line and keeping the first, as reading both in one go would.
    pub fn absorb(&mut self, other: Run, issues: &mut Vec<Issue>) {
        self.predictions.absorb(other.predictions, issues);
    }

    pub fn predictions(&self) -> &[Prediction] {
        &self.predictions.items
    }

    /// Gives a prediction the judge's verdict (a reply the page received for it), as a
    /// judge-eval file's `result` would have, with the fields that name the judge which gave
    /// it. Those fields, and every field named in `replaced`, replace what the prediction
    /// carried. Returns its position, or `None` for a key the run does not hold.
    pub fn set_judge(
        &mut self,
        key: &SampleKey,
        judge: Option<JudgeScores>,
        text: String,
        judge_fields: Vec<(&'static str, String)>,
        replaced: &[&str],
    ) -> Option<usize> {
        let position = self.predictions.position(key)?;
        let prediction = &mut self.predictions.items[position];
        prediction.judge = judge;
        prediction.judge_text = Some(text);
        prediction.fields.retain(|(name, _)| {
            !replaced.contains(&name.as_str()) && !judge_fields.iter().any(|(n, _)| n == name)
        });
        prediction
            .fields
            .extend(judge_fields.into_iter().map(|(n, v)| (n.to_owned(), v)));
        Some(position)
    }

    pub fn get(&self, key: &SampleKey) -> Option<&Prediction> {
        self.predictions.get(key)
    }

    pub fn len(&self) -> usize {
        self.predictions.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.predictions.items.is_empty()
    }
}

/// A question → hallucination-type mapping (CSV `split,question_id,type`), keyed like samples.
pub type TypeMap = HashMap<SampleKey, String>;

/// Field name under which a hallucination type is grouped, whether it comes from a shard field
/// (`hallucination_type`, `type` or `category`) or from a mapping file.
pub const TYPE_FIELD: &str = "hallucination_type";

/// Field of a type map naming who labelled a row (absent for human or benchmark labels).
pub const LABELLED_BY_FIELD: &str = "labelled_by";

/// How a type a model gave is shown wherever types appear: never as the benchmark's own.
pub fn labelled_type(label: &str, model: &str) -> String {
    format!("{label} (labelled by {model})")
}

/// What one sample contributes to the means: its reference (if any) and everything to group by.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedSample<'a> {
    pub prediction: &'a Prediction,
    pub reference: Option<&'a str>,
    pub fields: Vec<(String, String)>,
}

/// Joins a run with its references and type labels. Reports predictions without a reference and
/// references (of the splits the run covers) without a prediction.
/// The reference answer and the fields of one prediction: the shard's reference wins over the
/// file's own `gpt4_answer`; the shard's fields come first, then the file's; a type map's label
/// wins over a `hallucination_type` field, which wins over its aliases `type` and `category`.
pub fn join_one<'a>(
    prediction: &'a Prediction,
    references: &'a ReferenceSet,
    types: &TypeMap,
) -> (Option<&'a str>, Vec<(String, String)>) {
    let shard = references.get(&prediction.key);
    let reference = shard
        .map(|r| r.text.as_str())
        .or(prediction.inline_reference.as_deref());
    let mut fields = shard.map(|r| r.fields.clone()).unwrap_or_default();
    for (name, value) in &prediction.fields {
        if !fields.iter().any(|(n, _)| n == name) {
            fields.push((name.clone(), value.clone()));
        }
    }
    if let Some(label) = types.get(&prediction.key) {
        fields.retain(|(n, _)| n != TYPE_FIELD);
        fields.push((TYPE_FIELD.to_owned(), label.clone()));
    } else if !fields.iter().any(|(n, _)| n == TYPE_FIELD) {
        let alias = fields
            .iter()
            .find(|(n, _)| n == "type" || n == "category")
            .map(|(_, v)| v.clone());
        if let Some(label) = alias {
            fields.push((TYPE_FIELD.to_owned(), label));
        }
    }
    (reference, fields)
}

/// A reference's hallucination type, with [`join_one`]'s precedence: the type map's label, then
/// the shard's `hallucination_type` field, then its aliases `type` and `category`.
pub fn reference_type<'a>(reference: &'a Reference, types: &'a TypeMap) -> Option<&'a str> {
    let field = |names: &[&str]| {
        reference
            .fields
            .iter()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.as_str())
    };
    types
        .get(&reference.key)
        .map(String::as_str)
        .or_else(|| field(&[TYPE_FIELD]))
        .or_else(|| field(&["type", "category"]))
}

/// The issue for a prediction that has no reference answer.
pub fn no_reference_issue(prediction: &Prediction) -> Issue {
    issue(
        IssueKind::NoReference,
        &prediction.source,
        prediction.line,
        Some("question_id"),
        format!(
            "no reference answer for {} question {}",
            prediction.key.split, prediction.key.question_id
        ),
    )
}

pub fn join<'a>(
    run: &'a Run,
    references: &'a ReferenceSet,
    types: &TypeMap,
    issues: &mut Vec<Issue>,
) -> Vec<JoinedSample<'a>> {
    let mut joined = Vec::with_capacity(run.len());
    for prediction in run.predictions() {
        let (reference, fields) = join_one(prediction, references, types);
        if reference.is_none() {
            issues.push(no_reference_issue(prediction));
        }
        joined.push(JoinedSample {
            prediction,
            reference,
            fields,
        });
    }
    missing_predictions(run, references, issues);
    joined
}

/// References of a split the run covers that have no prediction, reported at the reference.
pub fn missing_predictions(run: &Run, references: &ReferenceSet, issues: &mut Vec<Issue>) {
    let covered: Vec<Split> = Split::ALL
        .into_iter()
        .filter(|s| run.predictions().iter().any(|p| p.key.split == *s))
        .collect();
    for reference in references.iter() {
        if covered.contains(&reference.key.split) && run.get(&reference.key).is_none() {
            issues.push(issue(
                IssueKind::NoPrediction,
                &reference.source,
                reference.line,
                Some("question_id"),
                format!(
                    "no prediction for {} question {}",
                    reference.key.split, reference.key.question_id
                ),
            ));
        }
    }
}

/// Adds one row of a type map (`split,question_id,type`; `hallucination_type` also names the
/// label column) to `types`, or reports which field it lacks.
pub fn add_type_record(
    types: &mut TypeMap,
    source: &str,
    record: &SampleRecord,
    issues: &mut Vec<Issue>,
) {
    let label = record
        .fields
        .iter()
        .find(|(n, _)| n == "type" || n == TYPE_FIELD)
        .map(|(_, v)| v.clone());
    match (record.split, record.question_id.clone(), label) {
        (Some(split), Some(question_id), Some(label)) => {
            // A label a model gave (`medhall judge --label-types`) says so wherever it is shown.
            let label = match record.field(LABELLED_BY_FIELD) {
                Some(who) => labelled_type(&label, who),
                None => label,
            };
            types.insert(SampleKey { split, question_id }, label);
        }
        (split, id, _) => {
            let field = if split.is_none() {
                "split"
            } else if id.is_none() {
                "question_id"
            } else {
                "type"
            };
            issues.push(issue(
                IssueKind::MissingField,
                source,
                record.line,
                Some(field),
                "a type map row needs split, question_id and type",
            ));
        }
    }
}

/// The column map for type-map files: `split` is read as the split.
pub fn type_map_columns() -> ColumnMap {
    let mut columns = ColumnMap::default();
    columns.set(Role::Split, "split");
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: u64, id: &str, reference: Option<&str>, answer: Option<&str>) -> SampleRecord {
        SampleRecord {
            line,
            question_id: Some(id.to_owned()),
            question_id_is_integer: false,
            split: None,
            image: None,
            question: None,
            answer: answer.map(str::to_owned),
            reference: reference.map(str::to_owned),
            judge_text: None,
            judge_columns: [None; 4],
            fields: Vec::new(),
        }
    }

    #[test]
    fn duplicates_are_reported_and_the_first_kept() {
        let source = SourceContext::new("val.negative.references.jsonl", None);
        let mut references = ReferenceSet::default();
        let mut issues = Vec::new();
        references.add_record(&source, record(1, "7", Some("first"), None), &mut issues);
        references.add_record(&source, record(2, "7", Some("second"), None), &mut issues);
        references.add_record(&source, record(3, "8", None, None), &mut issues);
        assert_eq!(references.len(), 1);
        let key = SampleKey {
            split: Split::Negative,
            question_id: "7".to_owned(),
        };
        assert_eq!(references.get(&key).map(|r| r.text.as_str()), Some("first"));
        let kinds: Vec<(IssueKind, u64)> = issues.iter().map(|i| (i.kind, i.line)).collect();
        assert_eq!(
            kinds,
            [(IssueKind::Duplicate, 2), (IssueKind::MissingField, 3)]
        );
        assert!(
            issues[0]
                .to_string()
                .contains("duplicate of val.negative.references.jsonl:1")
        );
    }

    #[test]
    fn runs_read_apart_merge_like_one_read() {
        let first = SourceContext::new("a.negative.jsonl", None);
        let second = SourceContext::new("b.negative.jsonl", None);
        let mut issues = Vec::new();
        let mut run = Run::default();
        run.add_record(&first, record(1, "7", None, Some("kept")), &mut issues);
        let mut other = Run::default();
        other.add_record(&second, record(4, "7", None, Some("dropped")), &mut issues);
        other.add_record(&second, record(5, "8", None, Some("new")), &mut issues);
        run.absorb(other, &mut issues);
        let answers: Vec<&str> = run
            .predictions()
            .iter()
            .map(|p| p.answer.as_str())
            .collect();
        assert_eq!(answers, ["kept", "new"]);
        assert_eq!(issues.len(), 1);
        assert_eq!((issues[0].kind, issues[0].line), (IssueKind::Duplicate, 4));
        assert!(issues[0].to_string().starts_with("b.negative.jsonl:4: "));
        assert!(
            issues[0]
                .to_string()
                .contains("duplicate of a.negative.jsonl:1")
        );
        let key = SampleKey {
            split: Split::Negative,
            question_id: "8".to_owned(),
        };
        assert!(run.get(&key).is_some(), "the index covers absorbed items");
    }

    #[test]
    fn join_reports_both_directions_of_missing_data() {
        let refs_source = SourceContext::new("refs.positive.jsonl", None);
        let run_source = SourceContext::new("run.positive.jsonl", None);
        let mut references = ReferenceSet::default();
        let mut run = Run::default();
        let mut issues = Vec::new();
        references.add_record(&refs_source, record(1, "1", Some("a"), None), &mut issues);
        references.add_record(&refs_source, record(2, "2", Some("b"), None), &mut issues);
        run.add_record(&run_source, record(1, "1", None, Some("a")), &mut issues);
        run.add_record(&run_source, record(2, "3", None, Some("c")), &mut issues);
        let joined = join(&run, &references, &TypeMap::new(), &mut issues);
        assert_eq!(joined.len(), 2);
        assert_eq!(joined[0].reference, Some("a"));
        assert_eq!(joined[1].reference, None);
        let kinds: Vec<(IssueKind, &str, u64)> = issues
            .iter()
            .map(|i| (i.kind, i.source.as_str(), i.line))
            .collect();
        assert_eq!(
            kinds,
            [
                (IssueKind::NoReference, "run.positive.jsonl", 2),
                (IssueKind::NoPrediction, "refs.positive.jsonl", 2)
            ]
        );
    }
}
