//! Medical VQA files (docs/vqa.md): the test sets LLaVA-Med's data preparation writes (a JSON
//! array of `id`, `image`, `conversations`, `answer_type`), the answer files its
//! `model_vqa_med.py` writes (JSONL with `question_id` and `text`), or CSV/JSON/JSONL with named
//! columns; joined by question id, scored with [`crate::vqa`], summarised per dataset, and two
//! or more models compared on the questions they share with the project's paired test.
//!
//! Bytes in, no filesystem: every unusable row is an [`Issue`] naming file, line and field, and
//! the rest is scored.

use crate::chart::{Bar, BarChart, BarFilter, BarSeries};
use crate::compare::Difference;
use crate::dataset::{Issue, IssueKind};
use crate::formats::{ColumnMap, FileFormat, Role, parse_bytes};
use crate::stats::{StatsConfig, benjamini_hochberg, bootstrap_mean_cis, mean, paired_comparison};
use medhall_metrics::vqa::{AnswerType, ClosedRule, VqaScore, VqaValues, score};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Field names that differ from the defaults (`None`: the default).
#[derive(Clone, Debug, Default)]
pub struct VqaColumns {
    /// Default: `question_id`, `id` or `qid`.
    pub id: Option<String>,
    /// The reference answer in a named-column file. Default: `answer`.
    pub reference: Option<String>,
    /// Default: `answer_type`.
    pub answer_type: Option<String>,
    /// Default: `dataset` (else the dataset the caller names for the file).
    pub dataset: Option<String>,
    /// The model's answer. Default: `text`, as LLaVA-Med's answer files have it.
    pub prediction: Option<String>,
}

impl VqaColumns {
    fn answer_type_name(&self) -> &str {
        self.answer_type.as_deref().unwrap_or("answer_type")
    }

    fn dataset_name(&self) -> &str {
        self.dataset.as_deref().unwrap_or("dataset")
    }
}

/// One test question.
#[derive(Clone, Debug, PartialEq)]
pub struct VqaQuestion {
    pub dataset: String,
    pub question_id: String,
    pub question_id_is_integer: bool,
    pub image: Option<String>,
    pub question: Option<String>,
    pub answer: String,
    pub answer_type: AnswerType,
    pub source: String,
    pub line: u64,
}

/// One model answer.
#[derive(Clone, Debug, PartialEq)]
pub struct VqaPrediction {
    pub question_id: String,
    /// The dataset the row names (`columns.dataset`), else the one its file's path names
    /// ([`dataset_of_answer_file`]); `None`: joined by question id alone.
    pub dataset: Option<String>,
    pub text: String,
    pub source: String,
    pub line: u64,
}

/// The dataset an answer file belongs to, when its path says: a folder (or the file's stem)
/// named exactly like one of `datasets`, the deepest such; else the one dataset name the path
/// contains, as `run_eval_batch.py` matches its answer files (`ds in f`). `None` when no name
/// or several match that way.
pub fn dataset_of_answer_file(path: &str, datasets: &[&str]) -> Option<String> {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let stem = |part: &str| {
        part.rsplit_once('.')
            .map_or(part, |(stem, _)| stem)
            .to_owned()
    };
    for (at, part) in parts.iter().enumerate().rev() {
        let last = at + 1 == parts.len();
        if let Some(name) = datasets
            .iter()
            .find(|name| **name == *part || (last && stem(part) == **name))
        {
            return Some((*name).to_owned());
        }
    }
    let mut contained = datasets.iter().filter(|name| path.contains(**name));
    match (contained.next(), contained.next()) {
        (Some(name), None) => Some((*name).to_owned()),
        _ => None,
    }
}

/// The dataset a test file stands for when its rows do not say: the name of the folder it is
/// in, as `run_eval.py` takes it (`{dataset}/test.json`), else the file name without extension.
pub fn dataset_from_path(path: &str) -> String {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [.., folder, _file] if *folder != "." && *folder != ".." => (*folder).to_owned(),
        [.., file] => file
            .rsplit_once('.')
            .map_or(*file, |(stem, _)| stem)
            .to_owned(),
        [] => path.to_owned(),
    }
}

fn issue(kind: IssueKind, source: &str, line: u64, field: &str, message: String) -> Issue {
    Issue {
        kind,
        source: source.to_owned(),
        line,
        field: Some(field.to_owned()),
        message,
    }
}

/// Reads a test file: LLaVA-Med's JSON array with `conversations`, or any format the project
/// reads with named columns. `default_dataset` names the dataset of rows without one.
pub fn read_questions(
    source: &str,
    bytes: &[u8],
    default_dataset: &str,
    columns: &VqaColumns,
    issues: &mut Vec<Issue>,
) -> Vec<VqaQuestion> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if is_llava_med_test_file(bytes) {
        return read_llava_med_questions(source, bytes, default_dataset, columns, issues);
    }
    let mut map = ColumnMap::default();
    map.set(
        Role::Reference,
        columns.reference.as_deref().unwrap_or("answer"),
    );
    if let Some(id) = &columns.id {
        map.set(Role::QuestionId, id.clone());
    }
    let (records, errors, parsed) = parse_bytes(source, bytes, &map);
    issues.extend(errors.into_iter().map(Issue::from));
    let reference_name = columns.reference.as_deref().unwrap_or("answer");
    let empty_cells = csv_column_present(source, bytes, parsed.format, reference_name);
    let mut questions = Vec::with_capacity(records.len());
    for record in records {
        let line = record.line;
        let Some(question_id) = record.question_id.clone() else {
            issues.push(missing(
                source,
                line,
                columns.id.as_deref().unwrap_or("question_id"),
            ));
            continue;
        };
        let Some(answer) = record.reference.clone().or(empty_cells.then(String::new)) else {
            issues.push(missing(source, line, reference_name));
            continue;
        };
        let type_name = columns.answer_type_name();
        let Some(answer_type) =
            answer_type_of(record.field(type_name), source, line, type_name, issues)
        else {
            continue;
        };
        let dataset = record
            .field(columns.dataset_name())
            .unwrap_or(default_dataset)
            .to_owned();
        questions.push(VqaQuestion {
            dataset,
            question_id,
            question_id_is_integer: record.question_id_is_integer,
            image: record.image,
            question: record.question,
            answer,
            answer_type,
            source: source.to_owned(),
            line,
        });
    }
    questions
}

/// Whether a CSV file's header names `column`. The project's CSV reader leaves empty cells out
/// of a row; where the column exists, an absent value is an empty answer (a model that said
/// nothing, which LLaVA-Med scores), not a missing field.
fn csv_column_present(
    source: &str,
    bytes: &[u8],
    format: Option<FileFormat>,
    column: &str,
) -> bool {
    if format != Some(FileFormat::Csv) {
        return false;
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = FileFormat::csv_delimiter_for_name(source);
    header
        .split(|&b| b == delimiter)
        .map(|name| {
            String::from_utf8_lossy(name)
                .trim()
                .trim_matches('"')
                .to_owned()
        })
        .any(|name| name == column)
}

fn missing(source: &str, line: u64, field: &str) -> Issue {
    issue(
        IssueKind::MissingField,
        source,
        line,
        field,
        "missing".to_owned(),
    )
}

fn answer_type_of(
    value: Option<&str>,
    source: &str,
    line: u64,
    field: &str,
    issues: &mut Vec<Issue>,
) -> Option<AnswerType> {
    let Some(value) = value else {
        issues.push(missing(source, line, field));
        return None;
    };
    let parsed = AnswerType::parse(value);
    if parsed.is_none() {
        issues.push(issue(
            IssueKind::MissingField,
            source,
            line,
            field,
            format!(
                "{value:?} is neither OPEN nor CLOSED; not scored (LLaVA-Med's scripts count it as neither)"
            ),
        ));
    }
    parsed
}

/// A JSON array whose elements carry the conversation: LLaVA-Med's test format.
fn is_llava_med_test_file(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|at| bytes[at] == b'[')
        && (contains(bytes, b"\"conversations\"") || contains(bytes, b"\"conversatons\""))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_llava_med_questions(
    source: &str,
    bytes: &[u8],
    default_dataset: &str,
    columns: &VqaColumns,
    issues: &mut Vec<Issue>,
) -> Vec<VqaQuestion> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = line_at(bytes, error.valid_up_to());
            issues.push(Issue {
                kind: IssueKind::Malformed,
                source: source.to_owned(),
                line,
                field: None,
                message: "not UTF-8".to_owned(),
            });
            return Vec::new();
        }
    };
    let elements: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(elements) => elements,
        Err(error) => {
            issues.push(Issue {
                kind: IssueKind::Malformed,
                source: source.to_owned(),
                line: error.line() as u64,
                field: None,
                message: format!("not a JSON array of objects: {error}"),
            });
            return Vec::new();
        }
    };
    let mut questions = Vec::with_capacity(elements.len());
    for element in elements {
        let offset = element.get().as_ptr() as usize - text.as_ptr() as usize;
        let line = line_at(bytes, offset);
        if let Some(question) =
            llava_med_question(element, source, line, default_dataset, columns, issues)
        {
            questions.push(question);
        }
    }
    questions
}

fn line_at(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64
}

fn llava_med_question(
    element: &RawValue,
    source: &str,
    line: u64,
    default_dataset: &str,
    columns: &VqaColumns,
    issues: &mut Vec<Issue>,
) -> Option<VqaQuestion> {
    let bad = |field: &str, message: &str| {
        issue(
            IssueKind::MissingField,
            source,
            line,
            field,
            message.to_owned(),
        )
    };
    let item: serde_json::Map<String, Value> = match serde_json::from_str(element.get()) {
        Ok(item) => item,
        Err(_) => {
            issues.push(Issue {
                kind: IssueKind::Malformed,
                source: source.to_owned(),
                line,
                field: None,
                message: "expected a JSON object".to_owned(),
            });
            return None;
        }
    };
    let id_name = columns.id.as_deref().unwrap_or("id");
    let (question_id, question_id_is_integer) = match item.get(id_name) {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => (n.to_string(), true),
        Some(Value::String(id)) => (id.clone(), false),
        Some(_) => {
            issues.push(bad(id_name, "expected an integer or a string"));
            return None;
        }
        None => {
            issues.push(bad(id_name, "missing"));
            return None;
        }
    };
    // model_vqa_med.py falls back to the misspelt key, as do the scoring scripts.
    let (turns_name, turns) = match (item.get("conversations"), item.get("conversatons")) {
        (Some(turns), _) => ("conversations", turns),
        (None, Some(turns)) => ("conversatons", turns),
        (None, None) => {
            issues.push(bad("conversations", "missing"));
            return None;
        }
    };
    let turn_value = |at: usize| turns.get(at).and_then(|turn| turn.get("value"));
    let answer = match turn_value(1) {
        Some(Value::String(answer)) => answer.clone(),
        _ => {
            let field = format!("{turns_name}[1].value");
            issues.push(bad(&field, "missing or not a string (the answer)"));
            return None;
        }
    };
    let type_name = columns.answer_type_name();
    let answer_type = match item.get(type_name) {
        Some(Value::String(value)) => answer_type_of(Some(value), source, line, type_name, issues)?,
        Some(_) => {
            issues.push(bad(type_name, "expected the string OPEN or CLOSED"));
            return None;
        }
        None => {
            issues.push(bad(type_name, "missing"));
            return None;
        }
    };
    let text_of = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    Some(VqaQuestion {
        dataset: text_of(item.get(columns.dataset_name()))
            .unwrap_or_else(|| default_dataset.to_owned()),
        question_id,
        question_id_is_integer,
        image: text_of(item.get("image")),
        question: text_of(turn_value(0)),
        answer,
        answer_type,
        source: source.to_owned(),
        line,
    })
}

/// Reads an answer file: LLaVA-Med's JSONL (`question_id`, `text`) or any format the project
/// reads, with the prediction in `columns.prediction`.
pub fn read_predictions(
    source: &str,
    bytes: &[u8],
    columns: &VqaColumns,
    issues: &mut Vec<Issue>,
) -> Vec<VqaPrediction> {
    let mut map = ColumnMap::default();
    let text_name = columns.prediction.as_deref().unwrap_or("text");
    map.set(Role::Answer, text_name);
    if let Some(id) = &columns.id {
        map.set(Role::QuestionId, id.clone());
    }
    let (records, errors, parsed) = parse_bytes(source, bytes, &map);
    issues.extend(errors.into_iter().map(Issue::from));
    let empty_cells = csv_column_present(source, bytes, parsed.format, text_name);
    let mut predictions = Vec::with_capacity(records.len());
    for record in records {
        let dataset = record.field(columns.dataset_name()).map(str::to_owned);
        let Some(question_id) = record.question_id else {
            let name = columns.id.as_deref().unwrap_or("question_id");
            issues.push(missing(source, record.line, name));
            continue;
        };
        let Some(text) = record.answer.or(empty_cells.then(String::new)) else {
            issues.push(missing(source, record.line, text_name));
            continue;
        };
        predictions.push(VqaPrediction {
            question_id,
            dataset,
            text,
            source: source.to_owned(),
            line: record.line,
        });
    }
    predictions
}

/// One question with its prediction and values.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredQuestion {
    pub question: VqaQuestion,
    pub score: VqaScore,
}

/// Joins predictions to questions and scores them, in the test files' order (the scripts' `zip`
/// order, so means are summed as theirs are). A prediction that names its dataset is joined by
/// (dataset, question id); one that does not, by question id, unless that id is a question of
/// several datasets (several test files), which is reported as ambiguous. A second question or
/// prediction of the same question is reported and the first kept; so are predictions without a
/// question and questions without a prediction.
pub fn score_questions(
    questions: Vec<VqaQuestion>,
    predictions: &[VqaPrediction],
    issues: &mut Vec<Issue>,
) -> Vec<ScoredQuestion> {
    // Which datasets hold each question id, to tell whether an id alone is enough.
    let mut datasets_of_id: HashMap<String, Vec<String>> = HashMap::with_capacity(questions.len());
    for question in &questions {
        let holders = datasets_of_id
            .entry(question.question_id.clone())
            .or_default();
        if !holders.contains(&question.dataset) {
            holders.push(question.dataset.clone());
        }
    }
    // Issues about predictions without a question come after the questions' own, in file order.
    let mut unmatched = Vec::new();
    let mut by_key: HashMap<(String, String), &VqaPrediction> =
        HashMap::with_capacity(predictions.len());
    let mut kept: Vec<(usize, (String, String))> = Vec::with_capacity(predictions.len());
    for (at, prediction) in predictions.iter().enumerate() {
        let id = &prediction.question_id;
        let dataset = match (
            &prediction.dataset,
            datasets_of_id.get(id).map(Vec::as_slice),
        ) {
            (Some(dataset), _) => dataset.clone(),
            (None, Some([only])) => only.clone(),
            (None, Some(several)) => {
                unmatched.push((at, issue(
                    IssueKind::NoReference,
                    &prediction.source,
                    prediction.line,
                    "question_id",
                    format!(
                        "question {id} is in several datasets ({}): name the dataset in a `dataset` field or in the answer file's path",
                        several.join(", ")
                    ),
                )));
                continue;
            }
            (None, None) => {
                unmatched.push((at, no_question(prediction)));
                continue;
            }
        };
        let key = (dataset, id.clone());
        if let Some(first) = by_key.get(&key) {
            issues.push(duplicate(
                &prediction.source,
                prediction.line,
                id,
                &first.source,
                first.line,
            ));
        } else {
            by_key.insert(key.clone(), prediction);
            kept.push((at, key));
        }
    }
    let mut seen: HashMap<(String, String), (String, u64)> =
        HashMap::with_capacity(questions.len());
    let mut scored = Vec::with_capacity(questions.len());
    for question in questions {
        let key = (question.dataset.clone(), question.question_id.clone());
        if let Some((source, line)) = seen.get(&key) {
            issues.push(duplicate(
                &question.source,
                question.line,
                &question.question_id,
                source,
                *line,
            ));
            continue;
        }
        let prediction = by_key.get(&key).copied();
        seen.insert(key, (question.source.clone(), question.line));
        let Some(prediction) = prediction else {
            issues.push(issue(
                IssueKind::NoPrediction,
                &question.source,
                question.line,
                "question_id",
                format!("no prediction for question {}", question.question_id),
            ));
            continue;
        };
        let score = score(&question.answer, &prediction.text, question.answer_type);
        scored.push(ScoredQuestion { question, score });
    }
    for (at, key) in &kept {
        if !seen.contains_key(key)
            && let Some(prediction) = by_key.get(key)
        {
            unmatched.push((*at, no_question(prediction)));
        }
    }
    unmatched.sort_by_key(|(at, _)| *at);
    issues.extend(unmatched.into_iter().map(|(_, issue)| issue));
    scored
}

fn no_question(prediction: &VqaPrediction) -> Issue {
    let message = match &prediction.dataset {
        Some(dataset) => format!(
            "no test question {} in dataset {dataset}",
            prediction.question_id
        ),
        None => format!("no test question {}", prediction.question_id),
    };
    issue(
        IssueKind::NoReference,
        &prediction.source,
        prediction.line,
        "question_id",
        message,
    )
}

fn duplicate(source: &str, line: u64, id: &str, first_source: &str, first_line: u64) -> Issue {
    issue(
        IssueKind::Duplicate,
        source,
        line,
        "question_id",
        format!("duplicate of {first_source}:{first_line} (question {id}); the first is kept"),
    )
}

/// A mean with its 95% bootstrap interval (`None` under two values or with no resamples).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: Option<[f64; 2]>,
}

/// The paper's table row for one dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub dataset: String,
    pub open: usize,
    pub closed: usize,
    /// `None` for an empty group (their script divides by zero for recall).
    pub open_recall: Option<Estimate>,
    pub open_accuracy: Option<Estimate>,
    pub closed_accuracy: Option<Estimate>,
}

/// Per dataset, in order of first appearance: open recall and open accuracy over the open
/// questions, closed accuracy under `rule` over the closed ones.
pub fn summarise(
    scored: &[ScoredQuestion],
    rule: ClosedRule,
    stats: &StatsConfig,
) -> Vec<DatasetSummary> {
    let mut order: Vec<&str> = Vec::new();
    for item in scored {
        if !order.contains(&item.question.dataset.as_str()) {
            order.push(&item.question.dataset);
        }
    }
    order
        .into_iter()
        .map(|dataset| {
            let mut recall = Vec::new();
            let mut open_hit = Vec::new();
            let mut closed_hit = Vec::new();
            for item in scored.iter().filter(|s| s.question.dataset == dataset) {
                match item.score.values {
                    VqaValues::Open { recall: r, hit } => {
                        recall.push(r);
                        open_hit.push(f64::from(u8::from(hit)));
                    }
                    VqaValues::Closed { .. } => {
                        let hit = item.score.values.closed_hit(rule).unwrap_or(false);
                        closed_hit.push(f64::from(u8::from(hit)));
                    }
                }
            }
            let open_cis = bootstrap_mean_cis(&[recall.as_slice(), open_hit.as_slice()], stats);
            let closed_ci = bootstrap_mean_cis(&[closed_hit.as_slice()], stats);
            let estimate = |values: &[f64], ci: Option<(f64, f64)>| {
                mean(values).map(|mean| Estimate {
                    mean,
                    ci95: ci.map(|(low, high)| [low, high]),
                })
            };
            DatasetSummary {
                dataset: dataset.to_owned(),
                open: recall.len(),
                closed: closed_hit.len(),
                open_recall: estimate(&recall, open_cis[0]),
                open_accuracy: estimate(&open_hit, open_cis[1]),
                closed_accuracy: estimate(&closed_hit, closed_ci[0]),
            }
        })
        .collect()
}

/// The three numbers of the table, per question: open recall, open hit, closed hit under `rule`
/// (each `None` where the question is of the other kind).
fn table_values(score: &VqaScore, rule: ClosedRule) -> [Option<f64>; 3] {
    match score.values {
        VqaValues::Open { recall, hit } => [Some(recall), Some(f64::from(u8::from(hit))), None],
        VqaValues::Closed { .. } => {
            let hit = score.values.closed_hit(rule).unwrap_or(false);
            [None, None, Some(f64::from(u8::from(hit)))]
        }
    }
}

/// One model against the baseline on one dataset: model − baseline, per question, on the
/// questions both answered (`None` where they share none of that kind).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetComparison {
    pub dataset: String,
    pub open_recall: Option<Difference>,
    pub open_accuracy: Option<Difference>,
    pub closed_accuracy: Option<Difference>,
}

/// Every model after the first compared with the first (the baseline), per dataset in the
/// baseline's order: the mean paired difference, its bootstrap interval and the sign-flip
/// p-value ([`crate::stats::paired_comparison`], as the page's runs matrix), with
/// Benjamini–Hochberg adjusted p-values over every comparison returned. Questions are matched
/// by dataset and question id, so a question one model did not answer is left out of the pair.
pub fn compare_models(
    models: &[&[ScoredQuestion]],
    rule: ClosedRule,
    stats: &StatsConfig,
) -> Vec<Vec<DatasetComparison>> {
    let Some((baseline, others)) = models.split_first() else {
        return Vec::new();
    };
    let mut order: Vec<&str> = Vec::new();
    for item in baseline.iter() {
        if !order.contains(&item.question.dataset.as_str()) {
            order.push(&item.question.dataset);
        }
    }
    let key = |item: &ScoredQuestion| {
        (
            item.question.dataset.clone(),
            item.question.question_id.clone(),
        )
    };
    let base: HashMap<(String, String), [Option<f64>; 3]> = baseline
        .iter()
        .map(|item| (key(item), table_values(&item.score, rule)))
        .collect();
    let mut compared: Vec<Vec<DatasetComparison>> = Vec::with_capacity(others.len());
    for model in others {
        let mut per_dataset = Vec::with_capacity(order.len());
        for dataset in &order {
            let mut pairs: [(Vec<f64>, Vec<f64>); 3] = Default::default();
            for item in model
                .iter()
                .filter(|item| item.question.dataset == *dataset)
            {
                let Some(theirs) = base.get(&key(item)) else {
                    continue;
                };
                let ours = table_values(&item.score, rule);
                for (column, pair) in pairs.iter_mut().enumerate() {
                    if let (Some(x), Some(y)) = (ours[column], theirs[column]) {
                        pair.0.push(x);
                        pair.1.push(y);
                    }
                }
            }
            let [recall, open_hit, closed_hit] = pairs.map(|(xs, ys)| {
                paired_comparison(&xs, &ys, stats).map(|c| Difference {
                    n: c.n,
                    mean_difference: c.mean_difference,
                    ci95: c.ci.map(|(low, high)| [low, high]),
                    p_value: c.p_value,
                    p_adjusted: f64::NAN,
                })
            });
            per_dataset.push(DatasetComparison {
                dataset: (*dataset).to_owned(),
                open_recall: recall,
                open_accuracy: open_hit,
                closed_accuracy: closed_hit,
            });
        }
        compared.push(per_dataset);
    }
    let p_values: Vec<f64> = compared
        .iter()
        .flatten()
        .flat_map(|d| [&d.open_recall, &d.open_accuracy, &d.closed_accuracy])
        .flatten()
        .map(|d| d.p_value)
        .collect();
    let mut adjusted = benjamini_hochberg(&p_values).into_iter();
    for difference in compared
        .iter_mut()
        .flatten()
        .flat_map(|d| {
            [
                &mut d.open_recall,
                &mut d.open_accuracy,
                &mut d.closed_accuracy,
            ]
        })
        .flatten()
    {
        difference.p_adjusted = adjusted.next().unwrap_or(f64::NAN);
    }
    compared
}

/// A mean in percent with its interval, as the tables print it: `66.89 [62.20, 71.91]`, `-` for
/// an empty group.
fn estimate_cell(estimate: &Option<Estimate>) -> String {
    match estimate {
        Some(Estimate {
            mean,
            ci95: Some([low, high]),
        }) => format!(
            "{:.2} [{:.2}, {:.2}]",
            mean * 100.0,
            low * 100.0,
            high * 100.0
        ),
        Some(Estimate { mean, ci95: None }) => format!("{:.2}", mean * 100.0),
        None => "-".to_owned(),
    }
}

/// A paired difference in percentage points: `+1.23 [-0.50, +2.90] p=0.0410 (adj 0.0820) n=120`.
fn difference_cell(difference: &Option<Difference>) -> String {
    match difference {
        Some(d) => {
            let interval = d.ci95.map_or(String::new(), |[low, high]| {
                format!(" [{:+.2}, {:+.2}]", low * 100.0, high * 100.0)
            });
            format!(
                "{:+.2}{interval} p={:.4} (adj {:.4}) n={}",
                d.mean_difference * 100.0,
                d.p_value,
                d.p_adjusted,
                d.n
            )
        }
        None => "-".to_owned(),
    }
}

/// The paper's table as text cells, a header row first: per dataset the open count, open recall,
/// the closed count, closed accuracy under `rule`, open accuracy, in percent as LLaVA-Med's
/// script prints them. The CLI, `medhall report` and the page all show these cells.
pub fn table_rows(datasets: &[DatasetSummary], rule: ClosedRule) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "dataset".to_owned(),
        "open".to_owned(),
        "open recall".to_owned(),
        "closed".to_owned(),
        format!("closed accuracy ({})", rule.name()),
        "open accuracy".to_owned(),
    ]];
    for d in datasets {
        rows.push(vec![
            d.dataset.clone(),
            d.open.to_string(),
            estimate_cell(&d.open_recall),
            d.closed.to_string(),
            estimate_cell(&d.closed_accuracy),
            estimate_cell(&d.open_accuracy),
        ]);
    }
    rows
}

/// Which of [`table_rows`]' columns hold counts (right-aligned in text).
pub const TABLE_NUMERIC_COLUMNS: [bool; 6] = [false, true, false, true, false, false];

/// One model − baseline comparison ([`compare_models`]) as text cells, a header row first.
pub fn comparison_rows(datasets: &[DatasetComparison], rule: ClosedRule) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "dataset".to_owned(),
        "Δ open recall".to_owned(),
        format!("Δ closed accuracy ({})", rule.name()),
        "Δ open accuracy".to_owned(),
    ]];
    for d in datasets {
        rows.push(vec![
            d.dataset.clone(),
            difference_cell(&d.open_recall),
            difference_cell(&d.closed_accuracy),
            difference_cell(&d.open_accuracy),
        ]);
    }
    rows
}

/// The table as a bar chart: per dataset, open recall and closed accuracy (percent, with their
/// intervals and counts), one series per model.
pub fn table_chart(models: &[(&str, &[DatasetSummary])], rule: ClosedRule) -> BarChart {
    let mut datasets: Vec<&str> = Vec::new();
    for (_, table) in models {
        for d in table.iter() {
            if !datasets.contains(&d.dataset.as_str()) {
                datasets.push(&d.dataset);
            }
        }
    }
    let categories = datasets
        .iter()
        .flat_map(|d| [format!("{d} open recall"), format!("{d} closed")])
        .collect();
    let bar = |estimate: &Option<Estimate>, n: usize, model: &str| {
        estimate.map(|e| Bar {
            value: e.mean * 100.0,
            ci95: e.ci95.map(|[low, high]| [low * 100.0, high * 100.0]),
            n,
            note: None,
            filter: BarFilter {
                run: Some(model.to_owned()),
                ..BarFilter::default()
            },
        })
    };
    let series = models
        .iter()
        .map(|(model, table)| BarSeries {
            name: (*model).to_owned(),
            bars: datasets
                .iter()
                .flat_map(|name| {
                    let row = table.iter().find(|d| d.dataset == *name);
                    [
                        row.and_then(|d| bar(&d.open_recall, d.open, model)),
                        row.and_then(|d| bar(&d.closed_accuracy, d.closed, model)),
                    ]
                })
                .collect(),
        })
        .collect();
    BarChart {
        title: format!("Medical VQA: open recall, closed ({}), 95% CI", rule.name()),
        y_label: "percent".to_owned(),
        y_range: Some([0.0, 100.0]),
        categories,
        series,
    }
}

/// One `--per-sample` line: the fixture's `expected.jsonl` shape (hits as 0/1, as Python's).
pub fn per_sample_json(item: &ScoredQuestion) -> Value {
    let question = &item.question;
    let id = if question.question_id_is_integer {
        serde_json::from_str::<Value>(&question.question_id)
            .unwrap_or_else(|_| Value::String(question.question_id.clone()))
    } else {
        Value::String(question.question_id.clone())
    };
    let mut line = serde_json::Map::new();
    line.insert("dataset".into(), Value::String(question.dataset.clone()));
    line.insert("question_id".into(), id);
    line.insert(
        "answer_type".into(),
        Value::String(question.answer_type.as_str().to_owned()),
    );
    line.insert(
        "answer_normalized".into(),
        Value::String(item.score.answer_normalized.clone()),
    );
    line.insert(
        "prediction_normalized".into(),
        Value::String(item.score.prediction_normalized.clone()),
    );
    match item.score.values {
        VqaValues::Open { recall, hit } => {
            line.insert("open_recall".into(), serde_json::json!(recall));
            line.insert("open_hit".into(), Value::from(u8::from(hit)));
        }
        VqaValues::Closed { .. } => {
            let mut hits = serde_json::Map::new();
            for rule in ClosedRule::ALL {
                let hit = item.score.values.closed_hit(rule).unwrap_or(false);
                hits.insert(rule.name().into(), Value::from(u8::from(hit)));
            }
            line.insert("closed_hit".into(), Value::Object(hits));
        }
    }
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_JSON: &str = r#"[
 {"id": 1, "image": "a.jpg", "answer_type": "CLOSED",
  "conversations": [{"from": "human", "value": "Is it?\n<image>"}, {"from": "gpt", "value": "yes"}]},
 {"id": 2, "answer_type": "open", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "x"}]},
 {"id": 3, "answer_type": "OPEN", "conversatons": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "left lung"}]},
 {"id": 4, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "Q"}]},
 {"id": 5.5, "answer_type": "OPEN", "conversations": []}
]"#;

    #[test]
    fn llava_med_test_file_reports_bad_items_by_line() {
        let mut issues = Vec::new();
        let questions = read_questions(
            "rad/test.json",
            TEST_JSON.as_bytes(),
            "rad",
            &VqaColumns::default(),
            &mut issues,
        );
        let ids: Vec<&str> = questions.iter().map(|q| q.question_id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
        assert_eq!(questions[1].answer, "left lung");
        assert_eq!(questions[0].question.as_deref(), Some("Is it?\n<image>"));
        let found: Vec<(u64, Option<&str>)> = issues
            .iter()
            .map(|i| (i.line, i.field.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (4, Some("answer_type")),
                (6, Some("conversations[1].value")),
                (7, Some("id"))
            ],
            "{issues:?}"
        );
    }

    #[test]
    fn join_reports_missing_extra_and_duplicates() {
        let mut issues = Vec::new();
        let questions = read_questions(
            "rad/test.json",
            TEST_JSON.as_bytes(),
            "rad",
            &VqaColumns::default(),
            &mut issues,
        );
        issues.clear();
        let answers = "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 1, \"text\": \"no\"}\n{\"question_id\": 9, \"text\": \"no\"}\n{\"question_id\": 3}\n";
        let predictions = read_predictions(
            "answers.jsonl",
            answers.as_bytes(),
            &VqaColumns::default(),
            &mut issues,
        );
        let scored = score_questions(questions, &predictions, &mut issues);
        assert_eq!(scored.len(), 1);
        assert_eq!(
            scored[0].score.values.closed_hit(ClosedRule::RunEvalBatch),
            Some(true)
        );
        let kinds: Vec<(IssueKind, u64)> = issues.iter().map(|i| (i.kind, i.line)).collect();
        assert_eq!(
            kinds,
            [
                (IssueKind::MissingField, 4),
                (IssueKind::Duplicate, 2),
                (IssueKind::NoPrediction, 5),
                (IssueKind::NoReference, 3)
            ],
            "{issues:?}"
        );
    }

    #[test]
    fn dataset_is_the_folder_then_the_stem() {
        assert_eq!(dataset_from_path("eval/vqa_rad/test.json"), "vqa_rad");
        assert_eq!(dataset_from_path("test.json"), "test");
        assert_eq!(dataset_from_path(r"C:\data\Slake1.0\test.json"), "Slake1.0");
    }

    #[test]
    fn summary_means_are_plain_and_rule_specific() {
        let mut issues = Vec::new();
        let questions = read_questions("t.csv", b"question_id,answer,answer_type,dataset\n1,no,CLOSED,a\n2,no,CLOSED,a\n3,left lung,OPEN,b\n", "x", &VqaColumns::default(), &mut issues);
        let predictions = read_predictions(
            "p.csv",
            b"question_id,text\n1,normal\n2,no\n3,lung lung lung\n4,\n",
            &VqaColumns::default(),
            &mut issues,
        );
        // An empty CSV cell is an empty answer, not a missing one.
        assert_eq!(predictions.last().map(|p| p.text.as_str()), Some(""));
        assert!(issues.is_empty(), "{issues:?}");
        let scored = score_questions(questions, &predictions, &mut issues);
        let stats = StatsConfig::default();
        let batch = summarise(&scored, ClosedRule::RunEvalBatch, &stats);
        assert_eq!(batch[0].dataset, "a");
        assert_eq!(batch[0].closed_accuracy.map(|e| e.mean), Some(1.0));
        assert_eq!(batch[0].open_recall, None);
        assert_eq!(batch[1].open_recall.map(|e| e.mean), Some(0.75));
        let strict = summarise(&scored, ClosedRule::WholeWord, &stats);
        assert_eq!(strict[0].closed_accuracy.map(|e| e.mean), Some(0.5));
    }

    fn scored_csv(predictions: &str) -> Vec<ScoredQuestion> {
        let mut issues = Vec::new();
        let questions = read_questions(
            "t.csv",
            b"question_id,answer,answer_type,dataset\n1,no,CLOSED,a\n2,yes,CLOSED,a\n3,left lung,OPEN,a\n4,no,CLOSED,b\n",
            "x",
            &VqaColumns::default(),
            &mut issues,
        );
        let predictions = read_predictions(
            "p.csv",
            predictions.as_bytes(),
            &VqaColumns::default(),
            &mut issues,
        );
        let scored = score_questions(questions, &predictions, &mut issues);
        assert!(
            issues
                .iter()
                .all(|issue| issue.kind == IssueKind::NoPrediction),
            "{issues:?}"
        );
        scored
    }

    #[test]
    fn models_are_compared_on_shared_questions_as_model_minus_baseline() {
        let stats = StatsConfig {
            bootstrap_resamples: 200,
            permutations: 500,
            seed: 7,
        };
        let before = scored_csv("question_id,text\n1,yes\n2,no\n3,lung\n4,no\n");
        // question 4 unanswered: dataset b has nothing to pair
        let after = scored_csv("question_id,text\n1,normal\n2,yes\n3,left lung\n");
        let compared = compare_models(&[&before, &after], ClosedRule::RunEvalBatch, &stats);
        assert_eq!(compared.len(), 1);
        let [a, b] = compared[0].as_slice() else {
            panic!("two datasets expected: {compared:?}");
        };
        assert_eq!(a.dataset, "a");
        let closed = a.closed_accuracy.as_ref().expect("two closed pairs");
        assert_eq!((closed.n, closed.mean_difference), (2, 1.0));
        let recall = a.open_recall.as_ref().expect("one open pair");
        assert_eq!((recall.n, recall.mean_difference), (1, 0.5));
        assert!(recall.ci95.is_none());
        assert!(closed.p_value > 0.0 && closed.p_value <= 1.0);
        assert!(closed.p_adjusted >= closed.p_value);
        assert_eq!(b.dataset, "b");
        assert!(b.closed_accuracy.is_none() && b.open_recall.is_none());
        // whole-word: "normal" no longer hits "no", so only the second question improves
        let strict = compare_models(&[&before, &after], ClosedRule::WholeWord, &stats);
        let strict_closed = strict[0][0].closed_accuracy.as_ref().expect("pairs");
        assert_eq!(strict_closed.mean_difference, 0.5);
        // a model against itself differs by nothing, with p = 1
        let same = compare_models(&[&before, &before], ClosedRule::RunEvalBatch, &stats);
        let closed = same[0][0].closed_accuracy.as_ref().expect("pairs");
        assert_eq!((closed.mean_difference, closed.p_value), (0.0, 1.0));
        assert!(compare_models(&[&before], ClosedRule::RunEval, &stats).is_empty());
    }

    proptest::proptest! {
        /// Any bytes, or a real test file cut anywhere: questions and issues, never a panic.
        #[test]
        fn any_bytes_read_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            cut in 0usize..400,
        ) {
            let cut_file = &TEST_JSON.as_bytes()[..cut.min(TEST_JSON.len())];
            for (name, input) in [("t.json", bytes.as_slice()), ("t.csv", bytes.as_slice()), ("rad/test.json", cut_file)] {
                let mut issues = Vec::new();
                let questions = read_questions(name, input, "d", &VqaColumns::default(), &mut issues);
                let predictions = read_predictions(name, input, &VqaColumns::default(), &mut issues);
                let scored = score_questions(questions, &predictions, &mut issues);
                let _ = summarise(&scored, ClosedRule::RunEval, &StatsConfig { bootstrap_resamples: 10, permutations: 10, seed: 1 });
            }
        }
    }

    #[test]
    fn table_cells_and_chart_carry_the_same_numbers() {
        let scored = scored_csv("question_id,text\n1,no\n2,no\n3,lung\n4,no\n");
        let stats = StatsConfig {
            bootstrap_resamples: 0,
            ..StatsConfig::default()
        };
        let table = summarise(&scored, ClosedRule::RunEvalBatch, &stats);
        let rows = table_rows(&table, ClosedRule::RunEvalBatch);
        assert_eq!(rows[0][4], "closed accuracy (run_eval_batch)");
        assert_eq!(rows[1], ["a", "1", "50.00", "2", "50.00", "0.00"]);
        assert_eq!(rows[2], ["b", "0", "-", "1", "100.00", "-"]);
        let chart = table_chart(&[("m", &table)], ClosedRule::RunEvalBatch);
        assert_eq!(chart.categories.len(), 4);
        let values: Vec<Option<f64>> = chart.series[0]
            .bars
            .iter()
            .map(|b| b.as_ref().map(|b| b.value))
            .collect();
        assert_eq!(values, [Some(50.0), Some(50.0), None, Some(100.0)]);
    }

    #[test]
    fn answer_files_name_their_dataset_by_folder_stem_or_substring() {
        let names = ["vqa_rad", "Slake1.0", "pvqa"];
        let of = |path: &str| dataset_of_answer_file(path, &names);
        assert_eq!(
            of("out/vqa_rad/test-answer-file.jsonl").as_deref(),
            Some("vqa_rad")
        );
        assert_eq!(
            of(r"out\Slake1.0\answers.jsonl").as_deref(),
            Some("Slake1.0")
        );
        assert_eq!(of("out/pvqa.jsonl").as_deref(), Some("pvqa"));
        // the deepest folder wins; else run_eval_batch's substring rule, when only one matches
        assert_eq!(of("pvqa/vqa_rad/a.jsonl").as_deref(), Some("vqa_rad"));
        assert_eq!(
            of("llava-vqa_rad-zeroshot.jsonl").as_deref(),
            Some("vqa_rad")
        );
        assert_eq!(of("vqa_rad+pvqa.jsonl"), None);
        assert_eq!(of("answers.jsonl"), None);
    }

    #[test]
    fn several_test_files_join_by_dataset_when_ids_collide() {
        let mut issues = Vec::new();
        let test = |answer: &str| {
            format!(
                r#"[{{"id": 1, "answer_type": "CLOSED", "conversations": [{{"value": "Q"}}, {{"value": "{answer}"}}]}},
 {{"id": 2, "answer_type": "CLOSED", "conversations": [{{"value": "Q"}}, {{"value": "{answer}"}}]}}]"#
            )
        };
        let mut questions = read_questions(
            "rad/test.json",
            test("yes").as_bytes(),
            "rad",
            &VqaColumns::default(),
            &mut issues,
        );
        questions.extend(read_questions(
            "slake/test.json",
            test("no").as_bytes(),
            "slake",
            &VqaColumns::default(),
            &mut issues,
        ));
        assert!(issues.is_empty(), "{issues:?}");
        let answers = |path: &str, text: &str| {
            let mut issues = Vec::new();
            let mut predictions =
                read_predictions(path, text.as_bytes(), &VqaColumns::default(), &mut issues);
            for prediction in &mut predictions {
                if prediction.dataset.is_none() {
                    prediction.dataset = dataset_of_answer_file(path, &["rad", "slake"]);
                }
            }
            predictions
        };
        let mut predictions = answers(
            "out/rad/answers.jsonl",
            "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 2, \"text\": \"yes\"}\n",
        );
        predictions.extend(answers(
            "out/slake/answers.jsonl",
            "{\"question_id\": 1, \"text\": \"no\"}\n{\"question_id\": 7, \"text\": \"no\"}\n",
        ));
        // no dataset in the path or the row: question 2 is in both test files
        predictions.extend(answers("more.jsonl", "{\"question_id\": 2, \"text\": \"no\"}\n{\"question_id\": 2, \"text\": \"no\", \"dataset\": \"slake\"}\n"));
        let scored = score_questions(questions, &predictions, &mut issues);
        let joined: Vec<(&str, &str, Option<bool>)> = scored
            .iter()
            .map(|s| {
                (
                    s.question.dataset.as_str(),
                    s.question.question_id.as_str(),
                    s.score.values.closed_hit(ClosedRule::RunEvalBatch),
                )
            })
            .collect();
        assert_eq!(
            joined,
            [
                ("rad", "1", Some(true)),
                ("rad", "2", Some(true)),
                ("slake", "1", Some(true)),
                ("slake", "2", Some(true))
            ]
        );
        let found: Vec<(&str, u64, &str)> = issues
            .iter()
            .map(|i| (i.source.as_str(), i.line, i.message.as_str()))
            .collect();
        assert_eq!(found.len(), 2, "{issues:?}");
        assert_eq!((found[0].0, found[0].1), ("out/slake/answers.jsonl", 2));
        assert_eq!(found[0].2, "no test question 7 in dataset slake");
        assert_eq!((found[1].0, found[1].1), ("more.jsonl", 1));
        assert!(
            found[1].2.contains("in several datasets (rad, slake)"),
            "{}",
            found[1].2
        );
    }
}
