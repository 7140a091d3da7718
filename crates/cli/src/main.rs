//! `medhall`: the MedHall Lens core from a terminal. Scores model answers on MedHallTune with the
//! official lexical metrics and imported judge verdicts, exactly as the web app does.
//!
//! This binary owns argument parsing, file reading, threads and printing; every rule about data
//! lives in `medhall-core`.

mod agreement;
mod judge;
mod model;
mod rate_plan;
mod report;
mod score;
mod vqa;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "medhall",
    version,
    about = "MedHallTune scoring: ROUGE, METEOR, BLEU and judge scores, as the benchmark computes them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score predictions or judge-eval files against references.
    Score(score::ScoreArgs),
    /// Write the app's charts as SVG, with summary.json/csv and an index.html (each FILE a run).
    Report(report::ReportArgs),
    /// Run the benchmark's GPT-4o judge on an OpenAI-compatible endpoint (resumable).
    Judge(judge::JudgeArgs),
    /// Answer one question about one image with the quick-check VLM (SmolVLM + LoRA).
    Generate(model::GenerateArgs),
    /// Answer a questions file with the quick-check VLM; writes the official prediction JSONL.
    Answer(model::AnswerArgs),
    /// Agreement of the judge with human raters, or of two judges: kappa, alpha, rho, bias.
    Agreement(agreement::AgreementArgs),
    /// A seeded sample of one model's answers for human raters (no judge scores, no model name).
    RatePlan(rate_plan::RatePlanArgs),
    /// Score medical VQA answers (VQA-RAD, SLAKE, PathVQA) as LLaVA-Med v1.0 does, per dataset.
    Vqa(vqa::VqaArgs),
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => score::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Judge(args) => judge::run(&args),
        Command::Generate(args) => model::run_generate(&args),
        Command::Answer(args) => model::run_answer(&args),
        Command::Vqa(args) => vqa::run(&args),
        Command::Agreement(args) => agreement::run(&args),
        Command::RatePlan(args) => rate_plan::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the reason, with its causes.
            let reason = format!("{error:#}").replace('\n', " ");
            eprintln!("medhall: {reason}");
            ExitCode::FAILURE
        }
    }
}
