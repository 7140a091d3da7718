//! `medhall rate-plan`: a rating plan for human raters (issue 30), drawn from one model's judged
//! (or results) files exactly as the page's Rate view draws it: `medhall_core::agreement::plan`.
//! The plan holds what a rater sees and nothing of the judge or the model's name.

use anyhow::{Context, Result};
use clap::Args;
use medhall_core::agreement::plan::DEFAULT_PER_SPLIT;
use medhall_core::agreement::{PlanCandidate, PlanQuery, rating_plan, read_judged};
use medhall_core::dataset::Run;
use medhall_core::sample::Split;
use std::path::PathBuf;

#[derive(Args)]
pub struct RatePlanArgs {
    /// The model's files (judge-eval JSONL or any results file), its splits joined by commas
    /// (`a.positive.jsonl,a.negative.jsonl`); they carry the caption, question and reference.
    #[arg(
        long,
        value_name = "FILE[,FILE]",
        value_delimiter = ',',
        required = true
    )]
    judged: Vec<PathBuf>,
    /// Items drawn per split.
    #[arg(long, default_value_t = DEFAULT_PER_SPLIT)]
    per_split: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only this split (positive or negative).
    #[arg(long, value_parser = parse_split)]
    split: Option<Split>,
    /// Only this hallucination type (the rows' `hallucination_type`, `type` or `category`).
    #[arg(long = "type", value_name = "TYPE")]
    type_value: Option<String>,
    /// Leave the reference answer out of what raters see.
    #[arg(long)]
    no_reference: bool,
    /// Where to write the plan (JSON).
    #[arg(long, value_name = "PLAN.json")]
    out: PathBuf,
}

fn parse_split(text: &str) -> Result<Split, String> {
    Split::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("{text:?} is not a split: positive or negative"))
}

pub fn run(args: &RatePlanArgs) -> Result<()> {
    let mut issues = Vec::new();
    let mut run = Run::default();
    for path in &args.judged {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        read_judged(&path.display().to_string(), &bytes, &mut run, &mut issues);
    }
    let query = PlanQuery {
        per_split: args.per_split,
        seed: args.seed,
        split: args.split,
        hallucination_type: args.type_value.clone(),
        show_reference: !args.no_reference,
    };
    let plan = rating_plan(&PlanCandidate::of_run(&run), &query)?;
    let text = serde_json::to_vec_pretty(&plan)?;
    std::fs::write(&args.out, text)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "plan {}: {} items ({} positive of {}, {} negative of {}), seed {}, references {}",
        plan.id,
        plan.items.len(),
        plan.items
            .iter()
            .filter(|i| i.split == Split::Positive)
            .count(),
        plan.pool[0],
        plan.items
            .iter()
            .filter(|i| i.split == Split::Negative)
            .count(),
        plan.pool[1],
        args.seed,
        if query.show_reference {
            "shown"
        } else {
            "hidden"
        }
    );
    crate::score::report_issues(&issues);
    Ok(())
}
