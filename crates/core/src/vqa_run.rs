//! One medical VQA evaluation from named files, as `medhall vqa`, `medhall report` and the page's
//! Medical VQA view all run it: the test files read (each file's dataset named by the caller or
//! by its path), each model's answer files paired with a dataset as `run_eval_batch.py` pairs
//! them (by path, unless the caller names it), joined by (dataset, question id), scored,
//! summarised per dataset, and each later model compared with the first. The rules are
//! [`crate::vqa_data`]'s; this module only strings them together once, so the frontends cannot
//! drift apart.
//!
//! Bytes in, no filesystem: the frontends read the files and hand over their names and bytes.

use crate::dataset::{Issue, IssueKind};
use crate::signature::vqa_signature;
use crate::stats::StatsConfig;
use crate::vqa::ClosedRule;
use crate::vqa_data::{
    DatasetComparison, DatasetSummary, ScoredQuestion, VqaColumns, compare_models,
    dataset_from_path, dataset_of_answer_file, per_sample_json, read_predictions, read_questions,
    score_questions, summarise,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A file handed over by a frontend: the name issues are reported under (a path, or a file
/// name), its bytes, and optionally the dataset the caller says it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct VqaSource<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// A test file: the dataset of its rows without a dataset field (else the file's folder
    /// name, [`dataset_from_path`]). An answer file: the dataset of its rows without one (else
    /// the dataset its path names, [`dataset_of_answer_file`]).
    pub dataset: Option<&'a str>,
}

/// One model: its label (as given: the CLI's argument, the page's name) and its answer files.
#[derive(Clone, Debug)]
pub struct VqaModelSources<'a> {
    pub label: &'a str,
    pub files: Vec<VqaSource<'a>>,
}

/// What to read and how to score it.
#[derive(Clone, Debug)]
pub struct VqaInputs<'a> {
    pub references: &'a [VqaSource<'a>],
    pub columns: VqaColumns,
    pub models: &'a [VqaModelSources<'a>],
    pub rule: ClosedRule,
    pub stats: StatsConfig,
    /// Compare each later model with the first (`medhall vqa`); the page compares the two
    /// models its user picks instead ([`VqaResults::compare`]).
    pub compare_with_first: bool,
}

/// Why nothing could be scored (everything short of this is an [`Issue`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VqaError {
    #[error("no references file")]
    NoReferences,
    #[error("no model's answers")]
    NoModels,
    #[error("{file} holds no usable question{first}")]
    NoQuestions { file: String, first: String },
    #[error("no question has a usable prediction in {model}")]
    NoPredictions { model: String },
}

/// An answer file and the dataset its rows without a dataset field were given (`None`: joined
/// by question id alone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerFilePairing {
    pub file: String,
    pub dataset: Option<String>,
}

/// One model's answers, scored.
#[derive(Clone, Debug)]
pub struct ScoredModel {
    pub label: String,
    pub files: Vec<AnswerFilePairing>,
    pub predictions: usize,
    pub scored: Vec<ScoredQuestion>,
    pub datasets: Vec<DatasetSummary>,
}

/// Everything one evaluation computes.
#[derive(Clone, Debug)]
pub struct VqaResults {
    pub rule: ClosedRule,
    pub stats: StatsConfig,
    pub questions: usize,
    pub models: Vec<ScoredModel>,
    /// Each model after the first − the first.
    pub comparisons: Vec<Vec<DatasetComparison>>,
    pub issues: Vec<Issue>,
    pub signature: String,
}

/// Reads the test files, scores each model and compares the later ones with the first.
pub fn score_vqa(inputs: &VqaInputs<'_>) -> Result<VqaResults, VqaError> {
    if inputs.references.is_empty() {
        return Err(VqaError::NoReferences);
    }
    if inputs.models.is_empty() {
        return Err(VqaError::NoModels);
    }
    let columns = &inputs.columns;
    let mut issues = Vec::new();
    let mut questions = Vec::new();
    for source in inputs.references {
        let default_dataset = source
            .dataset
            .map_or_else(|| dataset_from_path(source.name), str::to_owned);
        let before = issues.len();
        let read_here = read_questions(
            source.name,
            source.bytes,
            &default_dataset,
            columns,
            &mut issues,
        );
        if read_here.is_empty() {
            let first = issues[before..]
                .first()
                .or(issues.first())
                .map(|i| format!(": first problem: {i}"))
                .unwrap_or_default();
            return Err(VqaError::NoQuestions {
                file: source.name.to_owned(),
                first,
            });
        }
        questions.extend(read_here);
    }
    let mut datasets: Vec<&str> = Vec::new();
    for question in &questions {
        if !datasets.contains(&question.dataset.as_str()) {
            datasets.push(&question.dataset);
        }
    }
    let question_count = questions.len();
    let several = inputs.models.len() > 1;
    let mut models = Vec::with_capacity(inputs.models.len());
    for model in inputs.models {
        let mut predictions = Vec::new();
        let mut files = Vec::with_capacity(model.files.len());
        for source in &model.files {
            let mut read_here = read_predictions(source.name, source.bytes, columns, &mut issues);
            // As run_eval_batch.py pairs answer files with datasets: by the file's path.
            let dataset = source
                .dataset
                .map(str::to_owned)
                .or_else(|| dataset_of_answer_file(source.name, &datasets));
            if let Some(dataset) = &dataset {
                for prediction in read_here.iter_mut().filter(|p| p.dataset.is_none()) {
                    prediction.dataset = Some(dataset.clone());
                }
            }
            files.push(AnswerFilePairing {
                file: source.name.to_owned(),
                dataset,
            });
            predictions.extend(read_here);
        }
        let mut model_issues = Vec::new();
        let scored = score_questions(questions.clone(), &predictions, &mut model_issues);
        if several {
            // A question file's line says nothing about which model left it unanswered.
            for issue in &mut model_issues {
                if issue.kind == IssueKind::NoPrediction {
                    issue.message = format!("{} (model {})", issue.message, model.label);
                }
            }
        }
        issues.extend(model_issues);
        if scored.is_empty() {
            return Err(VqaError::NoPredictions {
                model: model.label.to_owned(),
            });
        }
        let datasets = summarise(&scored, inputs.rule, &inputs.stats);
        models.push(ScoredModel {
            label: model.label.to_owned(),
            files,
            predictions: predictions.len(),
            scored,
            datasets,
        });
    }
    let comparisons = if inputs.compare_with_first {
        let scored: Vec<&[ScoredQuestion]> = models.iter().map(|m| m.scored.as_slice()).collect();
        compare_models(&scored, inputs.rule, &inputs.stats)
    } else {
        Vec::new()
    };
    Ok(VqaResults {
        rule: inputs.rule,
        stats: inputs.stats,
        questions: question_count,
        models,
        comparisons,
        issues,
        signature: vqa_signature(inputs.rule, &inputs.stats),
    })
}

/// The heading of the comparison of model `index` (from 0) with the first.
pub fn comparison_title(index: usize) -> String {
    format!(
        "model {} − model 1, paired on the questions both answered (sign-flip test, p adjusted by Benjamini–Hochberg over all comparisons)",
        index + 1
    )
}

#[derive(Serialize)]
struct ModelOut<'a> {
    model: &'a str,
    predictions: usize,
    scored: usize,
    datasets: &'a [DatasetSummary],
}

#[derive(Serialize)]
struct ComparisonOut<'a> {
    model: &'a str,
    baseline: &'a str,
    /// model − baseline, per dataset.
    datasets: &'a [DatasetComparison],
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    signature: &'a str,
    closed_rule: &'static str,
    stats: StatsConfig,
    questions: usize,
    models: Vec<ModelOut<'a>>,
    comparisons: Vec<ComparisonOut<'a>>,
    issues: &'a [Issue],
}

impl VqaResults {
    /// Model `model` − model `baseline` (indexes into `models`), per dataset, alone: p-values
    /// adjusted over this comparison's own (as `medhall vqa BASELINE MODEL` adjusts them).
    /// `None` when either index is out of range.
    pub fn compare(&self, baseline: usize, model: usize) -> Option<Vec<DatasetComparison>> {
        let pair = [
            self.models.get(baseline)?.scored.as_slice(),
            self.models.get(model)?.scored.as_slice(),
        ];
        compare_models(&pair, self.rule, &self.stats).pop()
    }

    /// The summary JSON (`medhall vqa --summary`, `medhall report`'s vqa.json).
    pub fn summary_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let baseline = self.models.first().map_or("", |m| m.label.as_str());
        let out = SummaryOut {
            signature: &self.signature,
            closed_rule: self.rule.name(),
            stats: self.stats,
            questions: self.questions,
            models: self
                .models
                .iter()
                .map(|m| ModelOut {
                    model: &m.label,
                    predictions: m.predictions,
                    scored: m.scored.len(),
                    datasets: &m.datasets,
                })
                .collect(),
            comparisons: self
                .models
                .iter()
                .skip(1)
                .zip(&self.comparisons)
                .map(|(m, datasets)| ComparisonOut {
                    model: &m.label,
                    baseline,
                    datasets,
                })
                .collect(),
            issues: &self.issues,
        };
        serde_json::to_vec_pretty(&out)
    }

    /// The per-sample JSONL (`medhall vqa --per-sample`): every model's questions, in model
    /// order, each line naming its model.
    pub fn per_sample_jsonl(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut text = Vec::new();
        for model in &self.models {
            for item in &model.scored {
                let mut line = per_sample_json(item);
                if let Value::Object(fields) = &mut line {
                    fields.insert("model".into(), Value::String(model.label.clone()));
                }
                serde_json::to_writer(&mut text, &line)?;
                text.push(b'\n');
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAD: &str = r#"[
 {"id": 1, "answer_type": "CLOSED", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "yes"}]},
 {"id": 2, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "left lung"}]}
]"#;
    const SLAKE: &str = r#"[
 {"id": 1, "answer_type": "CLOSED", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "no"}]},
 {"id": 3, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "liver"}]}
]"#;

    fn source<'a>(name: &'a str, text: &'a str) -> VqaSource<'a> {
        VqaSource {
            name,
            bytes: text.as_bytes(),
            dataset: None,
        }
    }

    fn run(
        references: &[VqaSource<'_>],
        models: &[VqaModelSources<'_>],
    ) -> Result<VqaResults, VqaError> {
        score_vqa(&VqaInputs {
            references,
            columns: VqaColumns::default(),
            models,
            rule: ClosedRule::RunEvalBatch,
            stats: StatsConfig {
                bootstrap_resamples: 0,
                permutations: 99,
                seed: 1,
            },
            compare_with_first: true,
        })
    }

    #[test]
    fn answer_files_are_paired_with_the_dataset_their_path_names() {
        let references = [
            source("vqa_rad/test.json", RAD),
            source("Slake1.0/test.json", SLAKE),
        ];
        let rad = "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 2, \"text\": \"left lung\"}\n";
        let slake =
            "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 3, \"text\": \"liver\"}\n";
        let models = [VqaModelSources {
            label: "m",
            files: vec![
                source("out/vqa_rad/answers.jsonl", rad),
                source("out/Slake1.0-answers.jsonl", slake),
            ],
        }];
        let results = run(&references, &models).expect("scores");
        assert!(results.issues.is_empty(), "{:?}", results.issues);
        let model = &results.models[0];
        assert_eq!(
            model
                .files
                .iter()
                .map(|f| f.dataset.as_deref())
                .collect::<Vec<_>>(),
            [Some("vqa_rad"), Some("Slake1.0")]
        );
        let datasets: Vec<(&str, f64)> = model
            .datasets
            .iter()
            .map(|d| {
                (
                    d.dataset.as_str(),
                    d.closed_accuracy.map_or(-1.0, |e| e.mean),
                )
            })
            .collect();
        // Question 1 is "yes" in vqa_rad and "no" in Slake: each answer counted where it belongs.
        assert_eq!(datasets, [("vqa_rad", 1.0), ("Slake1.0", 0.0)]);
    }

    #[test]
    fn a_caller_names_the_datasets_of_files_whose_names_do_not() {
        let references = [
            VqaSource {
                dataset: Some("vqa_rad"),
                ..source("test.json", RAD)
            },
            VqaSource {
                dataset: Some("slake"),
                ..source("test (1).json", SLAKE)
            },
        ];
        let models = [VqaModelSources {
            label: "m",
            files: vec![
                VqaSource {
                    dataset: Some("slake"),
                    ..source("answers.jsonl", "{\"question_id\": 1, \"text\": \"no\"}\n")
                },
                // Id 3 is Slake's alone, so it needs no dataset; id 1 of vqa_rad is unanswered.
                source("more.jsonl", "{\"question_id\": 3, \"text\": \"liver\"}\n"),
            ],
        }];
        let results = run(&references, &models).expect("scores");
        let slake = &results.models[0].datasets;
        assert_eq!(slake.len(), 1, "only Slake has answers: {slake:?}");
        assert_eq!(slake[0].dataset, "slake");
        assert_eq!(slake[0].closed_accuracy.map(|e| e.mean), Some(1.0));
        assert_eq!(slake[0].open_recall.map(|e| e.mean), Some(1.0));
        let unanswered = results
            .issues
            .iter()
            .filter(|i| i.kind == IssueKind::NoPrediction)
            .count();
        assert_eq!(unanswered, 2, "{:?}", results.issues);
    }

    #[test]
    fn an_id_of_several_datasets_without_one_is_ambiguous_and_the_rest_is_scored() {
        let references = [
            source("vqa_rad/test.json", RAD),
            source("Slake1.0/test.json", SLAKE),
        ];
        let models = [
            VqaModelSources {
                label: "first",
                files: vec![source(
                    "answers.jsonl",
                    "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 3, \"text\": \"liver\"}\nnot json\n",
                )],
            },
            VqaModelSources {
                label: "second",
                files: vec![source(
                    "answers.jsonl",
                    "{\"question_id\": 3, \"text\": \"kidney\"}\n",
                )],
            },
        ];
        let results = run(&references, &models).expect("scores");
        let messages: Vec<String> = results.issues.iter().map(ToString::to_string).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("answers.jsonl:1:") && m.contains("several datasets")),
            "{messages:#?}"
        );
        assert!(
            messages.iter().any(|m| m.starts_with("answers.jsonl:3:")),
            "{messages:#?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("(model second)")),
            "{messages:#?}"
        );
        assert_eq!(results.models[0].scored.len(), 1);
        assert_eq!(results.comparisons.len(), 1);
        let summary: Value =
            serde_json::from_slice(&results.summary_json().expect("json")).expect("parses");
        assert_eq!(summary["comparisons"][0]["baseline"], "first");
        assert_eq!(summary["questions"], 4);
        assert_eq!(
            results.compare(0, 1).as_ref(),
            results.comparisons.first(),
            "a pair alone is the CLI's comparison of two models"
        );
        assert_eq!(results.compare(0, 2), None);
        let lines = results.per_sample_jsonl().expect("jsonl");
        assert_eq!(String::from_utf8_lossy(&lines).lines().count(), 2);
    }

    #[test]
    fn unusable_files_say_why() {
        let models = [VqaModelSources {
            label: "m",
            files: vec![source("a.jsonl", "{\"question_id\": 9, \"text\": \"x\"}\n")],
        }];
        let error = run(&[source("bad/test.json", "[]")], &models).expect_err("no questions");
        assert!(
            matches!(&error, VqaError::NoQuestions { file, .. } if file == "bad/test.json"),
            "{error}"
        );
        let error = run(&[source("vqa_rad/test.json", RAD)], &models).expect_err("no answers");
        assert_eq!(
            error.to_string(),
            "no question has a usable prediction in m"
        );
        assert_eq!(
            run(&[source("vqa_rad/test.json", RAD)], &[]).expect_err("no models"),
            VqaError::NoModels
        );
    }
}
