//! `medhall vqa`: medical VQA scored as LLaVA-Med v1.0 scores it (docs/exactness.md, "Medical
//! VQA"). Reads the files, prints the paper's table per dataset for each model and, with two or
//! more models, their paired comparison; writes the outputs. Every rule is in
//! `medhall_metrics::vqa` and `medhall_core::vqa_data`.

use crate::score::report_issues;
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::dataset::{Issue, IssueKind};
use medhall_core::signature::vqa_signature;
use medhall_core::stats::StatsConfig;
use medhall_core::vqa::ClosedRule;
use medhall_core::vqa_data::{
    DatasetComparison, DatasetSummary, ScoredQuestion, TABLE_NUMERIC_COLUMNS, VqaColumns,
    compare_models, comparison_rows, dataset_from_path, dataset_of_answer_file, per_sample_json,
    read_predictions, read_questions, score_questions, summarise, table_rows,
};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct VqaArgs {
    /// Test questions: LLaVA-Med's test.json (id, image, conversations, answer_type), or
    /// CSV/JSON/JSONL with question_id, answer, answer_type (and dataset) columns. Repeat it
    /// for several datasets (one test.json each).
    #[arg(long = "references", value_name = "FILE", required = true)]
    references: Vec<PathBuf>,
    /// The dataset of rows without a dataset field, with one references file (default: each
    /// references file's folder name, as run_eval.py takes it).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// How closed questions are scored: run_eval_batch (LLaVA-Med's batch script, the paper's
    /// numbers), run_eval (its single-dataset script) or whole-word (ours, stricter).
    #[arg(long = "closed-rule", visible_alias = "variant", value_name = "RULE", default_value = "run_eval_batch", value_parser = parse_rule)]
    closed_rule: ClosedRule,
    /// Write one JSON object per question and model (normalised texts, values under every
    /// closed rule).
    #[arg(
        long = "per-sample",
        visible_alias = "samples",
        value_name = "OUT.jsonl"
    )]
    per_sample: Option<PathBuf>,
    /// Write the tables, comparisons, counts, issues and the signature to this JSON file.
    #[arg(long, visible_alias = "json", value_name = "OUT.json")]
    summary: Option<PathBuf>,
    /// Column/field holding the question id (default question_id, id or qid).
    #[arg(long = "id-column", value_name = "NAME")]
    id_column: Option<String>,
    /// Column/field holding the model's answer (default text, as LLaVA-Med's answer files).
    #[arg(long = "answer-column", value_name = "NAME")]
    answer_column: Option<String>,
    /// Column holding the reference answer in a named-column references file (default answer).
    #[arg(long = "reference-column", value_name = "NAME")]
    reference_column: Option<String>,
    /// Column/field holding OPEN or CLOSED (default answer_type).
    #[arg(long = "type-column", value_name = "NAME")]
    type_column: Option<String>,
    /// Column/field naming the dataset (default dataset).
    #[arg(long = "dataset-column", value_name = "NAME")]
    dataset_column: Option<String>,
    /// Bootstrap resamples for the 95% intervals (0 turns them off).
    #[arg(long, default_value_t = StatsConfig::default().bootstrap_resamples)]
    resamples: u32,
    /// Seed of the bootstrap and of the paired test.
    #[arg(long, default_value_t = StatsConfig::default().seed)]
    seed: u64,
    /// Sign-flip permutations of the paired comparison between models.
    #[arg(long, default_value_t = StatsConfig::default().permutations)]
    permutations: u32,
    /// One model's answers per PRED (LLaVA-Med's answer JSONL, or CSV/JSON/JSONL); several files
    /// of one model joined by commas. Two or more PREDs: each is compared with the first.
    #[arg(value_name = "FILE[,FILE]", required = true, value_parser = parse_model)]
    models: Vec<ModelFiles>,
}

/// The prediction files of one model, as given on the command line.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    label: String,
    files: Vec<PathBuf>,
}

pub(crate) fn parse_model(text: &str) -> Result<ModelFiles, String> {
    let files = crate::agreement::comma_separated_files(text, "prediction")?;
    Ok(ModelFiles {
        label: text.to_owned(),
        files,
    })
}

pub(crate) fn parse_rule(text: &str) -> Result<ClosedRule, String> {
    ClosedRule::parse(text).ok_or_else(|| {
        let names: Vec<&str> = ClosedRule::ALL.iter().map(|r| r.name()).collect();
        format!("`{text}` is not a closed rule: use {}", names.join(", "))
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
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

/// One model's answers, scored.
pub(crate) struct ScoredModel {
    pub(crate) label: String,
    predictions: usize,
    scored: Vec<ScoredQuestion>,
    pub(crate) datasets: Vec<DatasetSummary>,
}

/// Everything `medhall vqa` computes from its files; `medhall report` shows the same.
pub(crate) struct VqaResults {
    pub(crate) rule: ClosedRule,
    stats: StatsConfig,
    questions: usize,
    pub(crate) models: Vec<ScoredModel>,
    /// Each model after the first − the first.
    pub(crate) comparisons: Vec<Vec<DatasetComparison>>,
    pub(crate) issues: Vec<Issue>,
    pub(crate) signature: String,
}

/// What to read and how to score it.
pub(crate) struct VqaInputs<'a> {
    pub(crate) references: &'a [PathBuf],
    pub(crate) dataset: Option<&'a str>,
    pub(crate) columns: VqaColumns,
    pub(crate) models: &'a [ModelFiles],
    pub(crate) rule: ClosedRule,
    pub(crate) stats: StatsConfig,
}

/// Reads the files, scores each model and compares the later ones with the first.
pub(crate) fn score_files(inputs: &VqaInputs<'_>) -> Result<VqaResults> {
    let columns = &inputs.columns;
    let mut issues = Vec::new();
    if inputs.dataset.is_some() && inputs.references.len() > 1 {
        bail!("--dataset names the dataset of one references file; these are several");
    }
    let mut questions = Vec::new();
    for path in inputs.references {
        let source = path.display().to_string();
        let default_dataset = inputs
            .dataset
            .map_or_else(|| dataset_from_path(&source), str::to_owned);
        let read_here = read_questions(
            &source,
            &read(path)?,
            &default_dataset,
            columns,
            &mut issues,
        );
        if read_here.is_empty() {
            let first = issues
                .first()
                .map(|i| format!(": first problem: {i}"))
                .unwrap_or_default();
            bail!("{source} holds no usable question{first}");
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
        for path in &model.files {
            let name = path.display().to_string();
            let mut read_here = read_predictions(&name, &read(path)?, columns, &mut issues);
            // As run_eval_batch.py pairs answer files with datasets: by the file's path.
            if let Some(dataset) = dataset_of_answer_file(&name, &datasets) {
                for prediction in read_here.iter_mut().filter(|p| p.dataset.is_none()) {
                    prediction.dataset = Some(dataset.clone());
                }
            }
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
            bail!("no question has a usable prediction in {}", model.label);
        }
        let datasets = summarise(&scored, inputs.rule, &inputs.stats);
        models.push(ScoredModel {
            label: model.label.clone(),
            predictions: predictions.len(),
            scored,
            datasets,
        });
    }
    let scored: Vec<&[ScoredQuestion]> = models.iter().map(|m| m.scored.as_slice()).collect();
    let comparisons = compare_models(&scored, inputs.rule, &inputs.stats);
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

impl VqaResults {
    /// The `--summary` JSON.
    pub(crate) fn summary_json(&self) -> Result<Vec<u8>> {
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
                    baseline: &self.models[0].label,
                    datasets,
                })
                .collect(),
            issues: &self.issues,
        };
        Ok(serde_json::to_vec_pretty(&out)?)
    }

    /// The `--per-sample` JSONL: every model's questions, in model order.
    fn per_sample_jsonl(&self) -> Result<Vec<u8>> {
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

/// The heading of the comparison of model `index` (from 0) with the first.
pub(crate) fn comparison_title(index: usize) -> String {
    format!(
        "model {} − model 1, paired on the questions both answered (sign-flip test, p adjusted by Benjamini–Hochberg over all comparisons)",
        index + 1
    )
}

pub fn run(args: &VqaArgs) -> Result<()> {
    let inputs = VqaInputs {
        references: &args.references,
        dataset: args.dataset.as_deref(),
        columns: VqaColumns {
            id: args.id_column.clone(),
            reference: args.reference_column.clone(),
            answer_type: args.type_column.clone(),
            dataset: args.dataset_column.clone(),
            prediction: args.answer_column.clone(),
        },
        models: &args.models,
        rule: args.closed_rule,
        stats: StatsConfig {
            bootstrap_resamples: args.resamples,
            permutations: args.permutations,
            seed: args.seed,
        },
    };
    let results = score_files(&inputs)?;
    let write = |path: &Path, bytes: Vec<u8>| {
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    if let Some(path) = &args.per_sample {
        write(path, results.per_sample_jsonl()?)?;
    }
    if let Some(path) = &args.summary {
        write(path, results.summary_json()?)?;
    }
    let several = results.models.len() > 1;
    for (at, model) in results.models.iter().enumerate() {
        if several {
            if at > 0 {
                println!();
            }
            println!("model {}: {}", at + 1, model.label);
        }
        print_columns(
            &table_rows(&model.datasets, results.rule),
            &TABLE_NUMERIC_COLUMNS,
        );
    }
    for (at, datasets) in results.comparisons.iter().enumerate() {
        println!();
        println!("{}:", comparison_title(at + 1));
        print_columns(&comparison_rows(datasets, results.rule), &[]);
    }
    println!("signature: {}", results.signature);
    report_issues(&results.issues);
    Ok(())
}

/// Prints rows as columns padded to their widest cell, counts right-aligned where `right` says
/// so, without trailing spaces.
fn print_columns(rows: &[Vec<String>], right: &[bool]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[c].saturating_sub(cell.chars().count()));
            if right.get(c).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        println!("{}", line.trim_end());
    }
}
