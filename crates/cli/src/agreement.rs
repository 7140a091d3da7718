//! `medhall agreement`: does the judge agree with clinicians (issue 30)? Reads human rating
//! files and judged files, prints per criterion × split (× hallucination type) κ, α, ρ and the
//! bias with their intervals, the most disagreeing items and the signature; every rule is in
//! `medhall_core::agreement` and `medhall_metrics::agreement`.

use crate::score::report_issues;
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::agreement::{
    AgreementReport, Estimate, FileCount, GroupAgreement, RatingTable, agreement, read_judged,
};
use medhall_core::dataset::{Issue, Run};
use medhall_core::stats::StatsConfig;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AgreementArgs {
    /// Human rating files: JSONL lines with rater, split, question_id and the four criteria
    /// (clinical_accuracy, clinical_relevance, detail_level, risk_level), integers 1-10.
    #[arg(long = "ratings", value_name = "FILE", num_args = 1..)]
    ratings: Vec<PathBuf>,
    /// One judge's judged files (judge-eval JSONL), its splits joined by commas
    /// (`a.positive.jsonl,a.negative.jsonl`). Repeat --judged for each judge: two compare the
    /// judges; the same files twice compare a judge with itself.
    #[arg(long = "judged", value_name = "FILE[,FILE]", value_parser = parse_judge)]
    judged: Vec<JudgeFiles>,
    /// Bootstrap resamples for the 95% intervals (0 turns them off).
    #[arg(long, default_value_t = StatsConfig::default().bootstrap_resamples)]
    resamples: u32,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = StatsConfig::default().seed)]
    seed: u64,
    /// How many of the most disagreeing items to list per criterion and split.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Write the tables, raters, counts, issues and signatures to this JSON file.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
}

/// The files of one judge.
#[derive(Clone, Debug)]
struct JudgeFiles(Vec<PathBuf>);

fn parse_judge(text: &str) -> Result<JudgeFiles, String> {
    comma_separated_files(text, "judged").map(JudgeFiles)
}

/// `FILE[,FILE]...` as one argument (a judge's or a model's files): the paths, or an error
/// naming what kind of file is missing when there are none.
pub(crate) fn comma_separated_files(text: &str, kind: &str) -> Result<Vec<PathBuf>, String> {
    let files: Vec<PathBuf> = text
        .split(',')
        .filter(|part| !part.is_empty())
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        return Err(format!("name at least one {kind} file"));
    }
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a AgreementReport,
    rating_files: &'a [FileCount],
    judged_files: &'a [JudgedCount],
    issues: &'a [Issue],
}

#[derive(Serialize)]
struct JudgedCount {
    source: String,
    records: u64,
}

pub fn run(args: &AgreementArgs) -> Result<()> {
    if args.ratings.is_empty() && args.judged.is_empty() {
        bail!("nothing to compare: give --ratings and/or --judged files");
    }
    let mut issues = Vec::new();
    let mut table = RatingTable::default();
    let mut rating_files = Vec::new();
    for path in &args.ratings {
        let name = path.display().to_string();
        rating_files.push(table.add_ratings(&name, &read(path)?, &mut issues));
    }
    let mut judged_files = Vec::new();
    for judge in &args.judged {
        let mut run = Run::default();
        for path in &judge.0 {
            let source = path.display().to_string();
            let records = read_judged(&source, &read(path)?, &mut run, &mut issues);
            judged_files.push(JudgedCount { source, records });
        }
        table.add_judge(&run, &mut issues);
    }
    let stats = StatsConfig {
        bootstrap_resamples: args.resamples,
        seed: args.seed,
        ..StatsConfig::default()
    };
    let report = agreement(&table, &stats, args.top);
    if let Some(path) = &args.json {
        let out = JsonOut {
            report: &report,
            rating_files: &rating_files,
            judged_files: &judged_files,
            issues: &issues,
        };
        let text = serde_json::to_vec_pretty(&out)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for count in &rating_files {
        println!(
            "{}: {} lines, {} used, {} left out",
            count.source, count.lines, count.used, count.rejected
        );
    }
    print_raters(&report);
    let names: Vec<&str> = report.raters.iter().map(|r| r.name.as_str()).collect();
    for group in &report.groups {
        print_group(group, &names);
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    println!("signature: {}", report.signature);
    report_issues(&issues);
    if report.groups.is_empty() {
        bail!("no item was rated by two raters: nothing to compare");
    }
    Ok(())
}

fn print_raters(report: &AgreementReport) {
    println!("raters:");
    for (i, rater) in report.raters.iter().enumerate() {
        let kind = format!("{:?}", rater.kind).to_lowercase();
        println!("  R{} {kind:<5}  {}", i + 1, rater.name);
    }
}

fn cell(estimate: &Estimate) -> String {
    match (estimate.value, estimate.ci95) {
        (Some(value), Some([low, high])) => format!("{value:.3} [{low:.3}, {high:.3}]"),
        (Some(value), None) => format!("{value:.3}"),
        (None, _) => "-".to_owned(),
    }
}

/// Raters are shown as R1, R2… (the list above), since a judge's label is long.
fn short(report_names: &[&str], name: &str) -> String {
    report_names
        .iter()
        .position(|n| *n == name)
        .map_or_else(|| name.to_owned(), |i| format!("R{}", i + 1))
}

fn print_group(group: &GroupAgreement, names: &[&str]) {
    let kind = group.hallucination_type.as_deref().unwrap_or("all types");
    println!(
        "\n{} / {} / {kind}: {} items rated twice or more",
        group.criterion, group.split, group.items
    );
    println!(
        "  {:<10} {:>5}  {:<26} {:<26} {:<26} {:<18}",
        "pair", "n", "kappa (quadratic)", "spearman rho", "bias (2nd - 1st)", "BA limits"
    );
    for pair in &group.pairs {
        let limits = pair
            .limits
            .map_or_else(|| "-".to_owned(), |[l, h]| format!("[{l:.2}, {h:.2}]"));
        println!(
            "  {:<10} {:>5}  {:<26} {:<26} {:<26} {:<18}",
            format!(
                "{}-{}",
                short(names, &pair.first),
                short(names, &pair.second)
            ),
            pair.n,
            cell(&pair.kappa),
            cell(&pair.spearman),
            cell(&pair.bias),
            limits
        );
    }
    for alpha in &group.alphas {
        let set = match alpha.set.strip_prefix("humans+") {
            Some(judge) => format!("humans+{}", short(names, judge)),
            None => alpha.set.clone(),
        };
        println!(
            "  alpha {:<12} units {:>5}  interval {:<26} ordinal {}",
            set,
            alpha.units,
            cell(&alpha.interval),
            cell(&alpha.ordinal)
        );
    }
    for item in &group.disagreements {
        let ratings: Vec<String> = item
            .ratings
            .iter()
            .map(|(rater, score)| format!("{}={score}", short(names, rater)))
            .collect();
        println!(
            "  disagree {} {} (range {}): {}",
            item.split,
            item.question_id,
            item.range,
            ratings.join(" ")
        );
    }
}
