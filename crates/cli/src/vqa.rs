//! `medhall vqa`: medical VQA scored as LLaVA-Med v1.0 scores it (docs/vqa.md). Reads the
//! files, prints the paper's table per dataset and writes the outputs; every rule is in
//! `medhall_metrics::vqa` and `medhall_core::vqa_data`.

use crate::score::report_issues;
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::dataset::Issue;
use medhall_core::signature::vqa_signature;
use medhall_core::stats::StatsConfig;
use medhall_core::vqa::ClosedRule;
use medhall_core::vqa_data::{
    DatasetSummary, Estimate, VqaColumns, dataset_from_path, per_sample_json, read_predictions,
    read_questions, score_questions, summarise,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct VqaArgs {
    /// Test questions: LLaVA-Med's test.json (id, image, conversations, answer_type), or
    /// CSV/JSON/JSONL with question_id, answer, answer_type (and dataset) columns.
    #[arg(long = "references", value_name = "FILE", required = true)]
    references: PathBuf,
    /// The dataset of rows without a dataset field (default: the references file's folder
    /// name, as run_eval.py takes it).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// How closed questions are scored: run_eval_batch (LLaVA-Med's batch script, the paper's
    /// numbers), run_eval (its single-dataset script) or whole-word (ours, stricter).
    #[arg(long = "closed-rule", value_name = "RULE", default_value = "run_eval_batch", value_parser = parse_rule)]
    closed_rule: ClosedRule,
    /// Write one JSON object per question (normalised texts, values under every closed rule).
    #[arg(long = "per-sample", value_name = "OUT.jsonl")]
    per_sample: Option<PathBuf>,
    /// Write the table, counts, issues and the signature to this JSON file.
    #[arg(long, value_name = "OUT.json")]
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
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = StatsConfig::default().seed)]
    seed: u64,
    /// Prediction files of one model run (LLaVA-Med's answer JSONL, or CSV/JSON/JSONL).
    #[arg(value_name = "PRED", required = true)]
    predictions: Vec<PathBuf>,
}

fn parse_rule(text: &str) -> Result<ClosedRule, String> {
    ClosedRule::parse(text).ok_or_else(|| {
        let names: Vec<&str> = ClosedRule::ALL.iter().map(|r| r.name()).collect();
        format!("`{text}` is not a closed rule: use {}", names.join(", "))
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    signature: &'a str,
    closed_rule: &'static str,
    stats: StatsConfig,
    questions: usize,
    predictions: usize,
    scored: usize,
    datasets: &'a [DatasetSummary],
    issues: &'a [Issue],
}

pub fn run(args: &VqaArgs) -> Result<()> {
    let columns = VqaColumns {
        id: args.id_column.clone(),
        reference: args.reference_column.clone(),
        answer_type: args.type_column.clone(),
        dataset: args.dataset_column.clone(),
        prediction: args.answer_column.clone(),
    };
    let mut issues = Vec::new();
    let source = args.references.display().to_string();
    let default_dataset = args
        .dataset
        .clone()
        .unwrap_or_else(|| dataset_from_path(&source));
    let questions = read_questions(
        &source,
        &read(&args.references)?,
        &default_dataset,
        &columns,
        &mut issues,
    );
    if questions.is_empty() {
        let first = issues
            .first()
            .map(|i| format!(": first problem: {i}"))
            .unwrap_or_default();
        bail!("{source} holds no usable question{first}");
    }
    let question_count = questions.len();
    let mut predictions = Vec::new();
    for path in &args.predictions {
        let name = path.display().to_string();
        predictions.extend(read_predictions(&name, &read(path)?, &columns, &mut issues));
    }
    let prediction_count = predictions.len();
    let scored = score_questions(questions, &predictions, &mut issues);
    if scored.is_empty() {
        bail!("no question has a usable prediction");
    }
    let stats = StatsConfig {
        bootstrap_resamples: args.resamples,
        seed: args.seed,
        ..StatsConfig::default()
    };
    let datasets = summarise(&scored, args.closed_rule, &stats);
    let signature = vqa_signature(args.closed_rule, &stats);

    if let Some(path) = &args.per_sample {
        let mut text = Vec::new();
        for item in &scored {
            serde_json::to_writer(&mut text, &per_sample_json(item))?;
            text.push(b'\n');
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.summary {
        let out = SummaryOut {
            signature: &signature,
            closed_rule: args.closed_rule.name(),
            stats,
            questions: question_count,
            predictions: prediction_count,
            scored: scored.len(),
            datasets: &datasets,
            issues: &issues,
        };
        let text = serde_json::to_vec_pretty(&out)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_table(&datasets, args.closed_rule);
    println!("signature: {signature}");
    report_issues(&issues);
    Ok(())
}

/// The paper's table: per dataset, open recall and closed accuracy (in percent, as their script
/// prints them), with intervals and counts; open accuracy beside them.
fn print_table(datasets: &[DatasetSummary], rule: ClosedRule) {
    let cell = |estimate: &Option<Estimate>| match estimate {
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
    };
    let closed_title = format!("closed accuracy ({})", rule.name());
    let width = datasets
        .iter()
        .map(|d| d.dataset.len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!(
        "{:<width$}  {:>6}  {:<22}  {:>6}  {:<34}  {:<22}",
        "dataset", "open", "open recall", "closed", closed_title, "open accuracy"
    );
    for d in datasets {
        println!(
            "{:<width$}  {:>6}  {:<22}  {:>6}  {:<34}  {:<22}",
            d.dataset,
            d.open,
            cell(&d.open_recall),
            d.closed,
            cell(&d.closed_accuracy),
            cell(&d.open_accuracy)
        );
    }
}
