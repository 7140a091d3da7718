//! `medhall vqa`: medical VQA scored as LLaVA-Med v1.0 scores it (docs/exactness.md, "Medical
//! VQA"). Reads the files, prints the paper's table per dataset for each model and, with two or
//! more models, their paired comparison; writes the outputs. Every rule is in
//! `medhall_metrics::vqa`, `medhall_core::vqa_data` and `medhall_core::vqa_run` (reading the
//! files and pairing them, which the page's Medical VQA view shares).

use crate::score::report_issues;
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::stats::StatsConfig;
use medhall_core::vqa::ClosedRule;
use medhall_core::vqa_data::{TABLE_NUMERIC_COLUMNS, VqaColumns, comparison_rows, table_rows};
use medhall_core::vqa_run::{VqaInputs as CoreInputs, VqaModelSources, VqaSource, score_vqa};
pub(crate) use medhall_core::vqa_run::{VqaResults, comparison_title};
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

/// What to read and how to score it.
pub(crate) struct VqaInputs<'a> {
    pub(crate) references: &'a [PathBuf],
    pub(crate) dataset: Option<&'a str>,
    pub(crate) columns: VqaColumns,
    pub(crate) models: &'a [ModelFiles],
    pub(crate) rule: ClosedRule,
    pub(crate) stats: StatsConfig,
}

/// Reads the files and scores them with `medhall_core::vqa_run` (the page's Medical VQA view
/// runs the same function on the files it is given).
pub(crate) fn score_files(inputs: &VqaInputs<'_>) -> Result<VqaResults> {
    if inputs.dataset.is_some() && inputs.references.len() > 1 {
        bail!("--dataset names the dataset of one references file; these are several");
    }
    let named = |path: &PathBuf| -> Result<(String, Vec<u8>)> {
        Ok((path.display().to_string(), read(path)?))
    };
    let references = inputs
        .references
        .iter()
        .map(named)
        .collect::<Result<Vec<_>>>()?;
    let models = inputs
        .models
        .iter()
        .map(|m| m.files.iter().map(named).collect::<Result<Vec<_>>>())
        .collect::<Result<Vec<_>>>()?;
    let reference_sources: Vec<VqaSource<'_>> = references
        .iter()
        .map(|(name, bytes)| VqaSource {
            name,
            bytes,
            dataset: inputs.dataset,
        })
        .collect();
    let model_sources: Vec<VqaModelSources<'_>> = inputs
        .models
        .iter()
        .zip(&models)
        .map(|(model, files)| VqaModelSources {
            label: &model.label,
            files: files
                .iter()
                .map(|(name, bytes)| VqaSource {
                    name,
                    bytes,
                    dataset: None,
                })
                .collect(),
        })
        .collect();
    Ok(score_vqa(&CoreInputs {
        references: &reference_sources,
        columns: inputs.columns.clone(),
        models: &model_sources,
        rule: inputs.rule,
        stats: inputs.stats,
        compare_with_first: true,
    })?)
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
