//! `medhall report`: the web app's charts as static files (SVG, a summary and an index.html) for
//! a project site. Files are read and scored by the app's core session (each FILE a run, as in
//! the app's run list and in summary.json); the charts gather a model's positive and negative
//! files into one model (`chart::models`, as `medhall score` takes a model's files together) and
//! are drawn by the app's chart builders and renderer, so the numbers and pictures are the app's.

use crate::score::bertscore;
use crate::vqa::{ModelFiles, VqaInputs, VqaResults, comparison_title, score_files};
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_app::session::{
    AgreementQuery, AgreementView, ExportKind, LoadTarget, RatingFile, Session,
};
use medhall_charts::{escape, render_svg};
use medhall_core::chart::{self, ChartKind, ChartSpec, ModelSamples, RunScores};
use medhall_core::compare;
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::leaderboard;
use medhall_core::metrics::lexical::LexicalScorer;
use medhall_core::metrics::wordnet::WordNet;
use medhall_core::sample::{SampleKey, Split};
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{Metric, summarize_split};
use medhall_core::vqa::ClosedRule;
use medhall_core::vqa_data::{VqaColumns, comparison_rows, table_chart, table_rows};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const WIDTH: u32 = 760;
const HEIGHT: u32 = 420;

#[derive(Args)]
pub struct ReportArgs {
    /// Reference shard(s); without them each file's own `gpt4_answer` is used.
    #[arg(long = "references", value_name = "FILE")]
    references: Vec<PathBuf>,
    /// Split of files whose name says neither positive nor negative.
    #[arg(long, value_name = "positive|negative", value_parser = crate::score::parse_split)]
    split: Option<Split>,
    /// CSV `split,question_id,type` giving each question's hallucination type.
    #[arg(long = "type-map", value_name = "FILE")]
    type_map: Option<PathBuf>,
    /// Field whose values the by-type and gap charts break down by.
    #[arg(long = "group-by", value_name = "FIELD", default_value = TYPE_FIELD)]
    group_by: String,
    /// Directory to write the SVGs, summary.json, summary.csv and index.html into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    bert: bertscore::BertScoreArgs,
    /// Medical VQA test questions (LLaVA-Med's test.json, or CSV/JSON/JSONL with question_id,
    /// answer, answer_type, dataset): adds the "Medical VQA" section (vqa.md, vqa.json, vqa.svg).
    /// Repeat it for several datasets (one test.json each).
    #[arg(long = "vqa-references", value_name = "FILE", requires = "vqa")]
    vqa_references: Vec<PathBuf>,
    /// One model's VQA answers (LLaVA-Med's answer JSONL, or CSV/JSON/JSONL; several files of
    /// one model joined by commas). Repeat it: each later model is compared with the first.
    #[arg(long = "vqa", value_name = "FILE[,FILE]", value_parser = crate::vqa::parse_model, requires = "vqa_references")]
    vqa: Vec<ModelFiles>,
    /// How the VQA section scores closed questions (as `medhall vqa --closed-rule`).
    #[arg(long = "vqa-variant", value_name = "RULE", default_value = "run_eval_batch", value_parser = crate::vqa::parse_rule)]
    vqa_variant: ClosedRule,
    /// Human rating files (as `medhall agreement --ratings` reads them): adds the "Agreement with
    /// clinicians" section (agreement.md, agreement.json) against the judges of the FILEs that
    /// have judge scores (a model's positive and negative files are one judge).
    #[arg(long = "ratings", value_name = "FILE", num_args = 1..)]
    ratings: Vec<PathBuf>,
    /// Results files (JSONL, JSON or CSV): each one is a run; a model's positive and negative
    /// files (same name but for the split word) are one model in the charts.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

fn load(
    session: &mut Session,
    job: u32,
    target: LoadTarget,
    path: &Path,
    split: Option<Split>,
) -> Result<()> {
    let name = path.display().to_string();
    session.begin(job, target, &name, split);
    crate::score::for_each_chunk(path, |chunk| {
        session.push(job, chunk);
    })?;
    let report = session.finish(job).map_err(anyhow::Error::msg)?;
    let issues = report.issues.total();
    if issues > 0 {
        eprintln!(
            "medhall: {name}: {issues} issue(s); first: {}",
            report
                .issues
                .first
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// B.Score for every run of the session (each split of a run scored as `medhall score` scores
/// it, in the run's order), given to the session so that its summaries, tables and leaderboard
/// carry it.
fn add_bertscore(session: &mut Session, args: &ReportArgs, dir: &Path) -> Result<()> {
    let mut plans = Vec::new();
    for info in session.run_infos() {
        plans.push(
            session
                .bertscore_plan(info.id, "")
                .map_err(anyhow::Error::msg)?,
        );
    }
    let groups: Vec<bertscore::Group<'_>> = plans
        .iter()
        .flat_map(|plan| {
            plan.splits.iter().map(move |split| bertscore::Group {
                label: format!("B.Score {} {}", plan.run_name, split.split),
                cands: split.items.iter().map(|i| i.candidate.as_str()).collect(),
                refs: split.items.iter().map(|i| i.reference.as_str()).collect(),
            })
        })
        .collect();
    let cache = args.out.join("bertscore-cache.jsonl");
    let options = args.bert.options(dir, Some(&cache));
    let scored = bertscore::score_groups(&options, &groups)?;
    let mut values = scored.f1.iter();
    for plan in &plans {
        let mut scores = Vec::new();
        for split in &plan.splits {
            let f1 = values.next().context("a split without B.Score values")?;
            scores.extend(
                split
                    .items
                    .iter()
                    .zip(f1)
                    .map(|(item, &f)| (item.key.clone(), item.pair.clone(), f64::from(f))),
            );
        }
        session
            .apply_bertscore(plan.run, &scored.signature, scores)
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The report's charts over the models, each with its file stem `<kind>[-<metric>]`.
fn charts(models: &[RunScores<'_>], field: &str, stats: &StatsConfig) -> Vec<(String, ChartSpec)> {
    let stem = |kind: ChartKind, metric: Metric| format!("{}-{}", kind.name(), metric.name());
    let mut list = Vec::new();
    for metric in [Metric::Meteor, Metric::RougeL, Metric::Bleu] {
        list.push((
            stem(ChartKind::ByType, metric),
            ChartSpec::Bars(chart::by_type(models, metric, field, stats)),
        ));
    }
    list.push((
        ChartKind::Judge.name().to_owned(),
        ChartSpec::Bars(chart::judge_scores(models, stats)),
    ));
    for metric in [Metric::Meteor, Metric::RougeL] {
        list.push((
            stem(ChartKind::Distribution, metric),
            ChartSpec::Histogram(chart::distribution(models, metric, 20)),
        ));
    }
    for metric in [Metric::Meteor, Metric::RougeL] {
        list.push((
            stem(ChartKind::Gap, metric),
            ChartSpec::Bars(chart::split_gap(models, metric, field, stats)),
        ));
    }
    // The first two models that answered some of the same questions.
    let keys: Vec<HashSet<&SampleKey>> = models
        .iter()
        .map(|m| m.samples.iter().map(|s| &s.key).collect())
        .collect();
    let pair = (0..models.len()).find_map(|i| {
        (i + 1..models.len())
            .find(|&j| !keys[i].is_disjoint(&keys[j]))
            .map(|j| (models[i], models[j]))
    });
    if let Some((a, b)) = pair {
        list.push((
            ChartKind::Paired.name().to_owned(),
            ChartSpec::Bars(chart::paired_differences(a, b, &Metric::ALL, stats)),
        ));
    }
    list
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let mut session = Session::default();
    session.keep_field(&args.group_by);
    let mut job = 1;
    for path in &args.references {
        load(&mut session, job, LoadTarget::Shard, path, args.split)?;
        job += 1;
    }
    if let Some(path) = &args.type_map {
        load(&mut session, job, LoadTarget::TypeMap, path, args.split)?;
        job += 1;
    }
    for (run, path) in args.files.iter().enumerate() {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let target = LoadTarget::Run {
            run: u32::try_from(run).unwrap_or(u32::MAX),
            name,
        };
        load(&mut session, job, target, path, args.split)?;
        job += 1;
    }
    let mut scorer = LexicalScorer::new(WordNet::embedded());
    while session.score_step(&mut scorer, 4096) > 0 {}

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if let Some(dir) = args.bert.dir()? {
        add_bertscore(&mut session, args, dir)?;
    }
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    let runs: Vec<RunScores<'_>> = session
        .all_scored()
        .into_iter()
        .map(|(_, name, samples)| RunScores { name, samples })
        .collect();
    let models = chart::models(&runs);
    let model_scores: Vec<RunScores<'_>> = models.iter().map(ModelSamples::scores).collect();
    let specs = charts(&model_scores, &args.group_by, &session.stats());
    if !specs
        .iter()
        .any(|(stem, _)| stem == ChartKind::Paired.name())
    {
        eprintln!("medhall: no paired chart: it needs two models that answered the same questions");
    }
    let mut figures = Vec::new();
    for (stem, spec) in specs {
        // Judge scores of files without verdicts, say: no chart rather than an empty one.
        if spec.is_empty() {
            eprintln!("medhall: no {stem} chart: nothing to draw");
            continue;
        }
        let svg = render_svg(&spec, WIDTH, HEIGHT)?;
        let file = format!("{stem}.svg");
        write(&file, &svg)?;
        figures.push((file, spec.title().to_owned()));
    }
    if figures.is_empty() {
        bail!("nothing to chart: no file could be scored");
    }
    let summary = session
        .export(ExportKind::SummaryJson, None)
        .map_err(anyhow::Error::msg)?;
    write("summary.json", &summary.text)?;
    let csv = session
        .export(ExportKind::SummaryCsv, None)
        .map_err(anyhow::Error::msg)?;
    write("summary.csv", &csv.text)?;
    let views = comparison_views(&model_scores, &args.group_by, &session.stats());
    write("disagreement.md", &views.disagreement)?;
    for (stem, spec) in &views.scatters {
        let svg = render_svg(spec, WIDTH, HEIGHT.max(WIDTH * 3 / 5))?;
        let file = format!("{stem}.svg");
        write(&file, &svg)?;
        figures.push((file, spec.title().to_owned()));
    }
    if let Some(matrix) = &views.matrix {
        write("comparison.md", matrix)?;
    }
    let board = leaderboard::published().map_err(anyhow::Error::msg)?;
    let board_rows = leaderboard_rows(&board, &models, &session.stats());
    write("leaderboard.md", &leaderboard_markdown(&board, &board_rows))?;
    write("leaderboard.tex", &leaderboard::to_latex(&board_rows))?;
    let vqa = match args.vqa_references.as_slice() {
        [] => None,
        references => {
            let results = score_files(&VqaInputs {
                references,
                dataset: None,
                columns: VqaColumns::default(),
                models: &args.vqa,
                rule: args.vqa_variant,
                stats: session.stats(),
            })?;
            if !results.issues.is_empty() {
                eprintln!(
                    "medhall: medical VQA: {} issue(s) (listed in vqa.json); first: {}",
                    results.issues.len(),
                    results.issues[0]
                );
            }
            write("vqa.md", &vqa_markdown(&results))?;
            write(
                "vqa.json",
                &String::from_utf8_lossy(&results.summary_json()?),
            )?;
            let tables: Vec<(&str, &[_])> = results
                .models
                .iter()
                .map(|m| (m.label.as_str(), m.datasets.as_slice()))
                .collect();
            let spec = ChartSpec::Bars(table_chart(&tables, results.rule));
            write("vqa.svg", &render_svg(&spec, WIDTH, HEIGHT)?)?;
            Some(vqa_html(&results, "vqa.svg", spec.title()))
        }
    };
    let agreement = match args.ratings.as_slice() {
        [] => None,
        ratings => {
            let view = agreement_of(&session, ratings)?;
            if !view.issues.is_empty() {
                eprintln!(
                    "medhall: agreement: {} line(s) left out (listed in agreement.json); first: {}",
                    view.issues.len(),
                    view.issues[0]
                );
            }
            write("agreement.md", &agreement_markdown(&view))?;
            write("agreement.json", &serde_json::to_string_pretty(&view)?)?;
            Some(agreement_html(&view))
        }
    };
    let mut html = index_html(
        &session,
        &figures,
        &args.group_by,
        &board,
        &board_rows,
        &views,
    );
    for section in [&vqa, &agreement].into_iter().flatten() {
        html = html.replace("</body></html>", &format!("{section}</body></html>"));
    }
    write("index.html", &html)?;
    println!(
        "wrote {} chart(s), summary.json, summary.csv, leaderboard.md, leaderboard.tex, disagreement.md, comparison.md (two models or more){}{} and index.html to {}",
        figures.len(),
        if vqa.is_some() {
            ", vqa.md, vqa.json, vqa.svg"
        } else {
            ""
        },
        if agreement.is_some() {
            ", agreement.md, agreement.json"
        } else {
            ""
        },
        args.out.display()
    );
    Ok(())
}

/// The published leaderboard with each model (its positive and negative files together) as a
/// row of its own.
fn leaderboard_rows(
    board: &leaderboard::Published,
    models: &[ModelSamples],
    stats: &StatsConfig,
) -> Vec<leaderboard::Row> {
    let runs = models
        .iter()
        .map(|model| {
            let groups: Vec<_> = Split::ALL
                .into_iter()
                .flat_map(|split| summarize_split(&model.samples, split, None, stats))
                .collect();
            leaderboard::run_row(&model.name, &groups)
        })
        .collect();
    leaderboard::table(board, runs)
}

/// Why a run's cells are empty, once per run and reason.
fn missing_notes(rows: &[leaderboard::Row]) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows.iter().filter(|r| r.is_run) {
        for column in leaderboard::Column::ALL {
            for split in Split::ALL {
                if let Some(reason) = &row.cell(column, split).missing {
                    let note = format!("{}: {reason}", row.model);
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
    }
    notes
}

fn leaderboard_markdown(board: &leaderboard::Published, rows: &[leaderboard::Row]) -> String {
    let mut text = format!(
        "# MedHallTune leaderboard with this report's runs\n\nP: non-hallucination (positive) samples, N: hallucination (negative) samples. \
Published rows: {}; they have no intervals. Runs: means over their samples (95% intervals in summary.json).\n\n",
        board.source
    );
    text.push_str(&leaderboard::to_markdown(rows));
    let notes = missing_notes(rows);
    if !notes.is_empty() {
        text.push_str("\nMissing (–):\n\n");
        for note in notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
    text
}

fn leaderboard_html(board: &leaderboard::Published, rows: &[leaderboard::Row]) -> String {
    let mut html = String::from("<table><tr><th>model</th><th>group</th>");
    for column in leaderboard::Column::ALL {
        html.push_str(&format!("<th>{} (P / N)</th>", escape(column.title())));
    }
    html.push_str("</tr>\n");
    for row in rows {
        let style = if row.is_run {
            " style=\"font-weight:bold\""
        } else {
            ""
        };
        html.push_str(&format!(
            "<tr{style}><td>{}</td><td>{}</td>",
            escape(&row.model),
            escape(&row.group)
        ));
        for column in leaderboard::Column::ALL {
            let cell = |split| {
                let cell = row.cell(column, split);
                match (cell.value, &cell.missing) {
                    (Some(value), _) => format!(
                        "<span title=\"rank {}\">{value:.2}</span>",
                        cell.rank.unwrap_or(0)
                    ),
                    (None, Some(reason)) => format!("<span title=\"{}\">–</span>", escape(reason)),
                    (None, None) => "–".to_owned(),
                }
            };
            html.push_str(&format!(
                "<td>{} / {}</td>",
                cell(Split::Positive),
                cell(Split::Negative)
            ));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    let notes = missing_notes(rows);
    let notes: String = notes
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    format!(
        "<h2>Leaderboard</h2>\n<p>Published rows: {} (no intervals). Bold rows are this report's models. Also as leaderboard.md and leaderboard.tex.</p>\n{html}<ul>{notes}</ul>\n",
        escape(&board.source)
    )
}

/// A static page: the means table and the charts, everything escaped.
fn index_html(
    session: &Session,
    figures: &[(String, String)],
    group_by: &str,
    board: &leaderboard::Published,
    board_rows: &[leaderboard::Row],
    views: &ComparisonViews,
) -> String {
    let mut rows = String::new();
    for summary in session.summaries(true) {
        for group in summary.groups.iter().filter(|g| g.value.is_none()) {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td>",
                escape(&summary.name),
                group.split,
                group.samples
            ));
            for metric in Metric::ALL {
                let cell = group
                    .metrics
                    .iter()
                    .find(|m| m.metric == metric.name())
                    .map_or_else(|| "–".to_owned(), |m| format!("{:.4}", m.mean));
                rows.push_str(&format!("<td>{cell}</td>"));
            }
            rows.push_str("</tr>\n");
        }
    }
    let header: String = Metric::ALL
        .iter()
        .map(|m| format!("<th>{}</th>", m.name()))
        .collect();
    let images: String = figures
        .iter()
        .map(|(file, title)| {
            format!(
                "<figure><img src=\"{}\" alt=\"{}\" width=\"{WIDTH}\"><figcaption>{}</figcaption></figure>\n",
                escape(file),
                escape(title),
                escape(title)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>MedHall Lens report</title>\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'\">\n\
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}}td,th{{border:1px solid #ccd;padding:.2rem .5rem}}table{{border-collapse:collapse;font-size:.85rem}}img{{max-width:100%}}:root{{color-scheme:light dark}}@media (prefers-color-scheme:dark){{body{{background:#0f1318;color:#e6edf3}}td,th{{border-color:#3a434d}}a{{color:#58a6ff}}}}</style></head>\n\
<body><h1>MedHall Lens report</h1>\n<p>Means per run and split (95% bootstrap intervals in summary.json and summary.csv).</p>\n\
<table><tr><th>run</th><th>split</th><th>n</th>{header}</tr>\n{rows}</table>\n\
<p>Charts break down by <code>{}</code>; a model's positive and negative files are one model.</p>\n{images}{leaderboard}\
<p><small>signature: {}</small></p>\n</body></html>\n",
        escape(group_by),
        escape(&session.signature()),
        leaderboard = leaderboard_html(board, board_rows),
    )
    .replace(
        "</body></html>",
        &format!(
            "<h2>Lexical scores against the judge</h2>\n<pre>{}</pre>\n{}</body></html>",
            escape(&views.disagreement),
            views
                .matrix
                .as_ref()
                .map(|m| format!("<h2>Runs compared</h2>\n<pre>{}</pre>\n", escape(m)))
                .unwrap_or_default()
        ),
    )
}

/// The disagreement tables (each model) and the runs matrix (two models or more), as Markdown.
struct ComparisonViews {
    disagreement: String,
    /// One scatter per model with judge scores (file stem, chart).
    scatters: Vec<(String, ChartSpec)>,
    matrix: Option<String>,
}

fn interval(ci: Option<[f64; 2]>, digits: usize) -> String {
    ci.map_or_else(String::new, |[l, h]| {
        format!(" [{l:.digits$}, {h:.digits$}]")
    })
}

fn comparison_views(models: &[RunScores<'_>], field: &str, stats: &StatsConfig) -> ComparisonViews {
    let quadrant = compare::Quadrant::default();
    let mut text = format!(
        "# METEOR against the judge's risk level\n\nPer split and `{field}`: Spearman's rank \
correlation (95% bootstrap interval) over the samples with both scores, and the samples that are \
lexically close (METEOR at or above the split's median) but judged unsafe (risk level at or below \
{}).\n",
        quadrant.judge_threshold
    );
    let mut scatters = Vec::new();
    for (index, model) in models.iter().enumerate() {
        let groups = compare::disagreement(
            model.samples,
            Metric::Meteor,
            Metric::RiskLevel,
            field,
            quadrant,
            stats,
        );
        let scatter = compare::disagreement_scatter(
            format!("{}: meteor against risk_level", model.name),
            model.samples,
            Metric::Meteor,
            Metric::RiskLevel,
            &groups,
            quadrant.judge_threshold,
        );
        if !scatter.points.is_empty() {
            scatters.push((
                format!("disagreement-{}", index + 1),
                ChartSpec::Scatter(scatter),
            ));
        }
        text.push_str(&format!(
            "\n## {}\n\n| group | n | Spearman | METEOR median | close but unsafe | first ids |\n|---|---|---|---|---|---|\n",
            model.name
        ));
        for group in groups {
            let ids: Vec<&str> = group
                .quadrant
                .iter()
                .take(10)
                .map(|k| k.question_id.as_str())
                .collect();
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                group.group.label(),
                group.n,
                group.spearman.map_or_else(
                    || "–".to_owned(),
                    |r| format!("{r:.3}{}", interval(group.spearman_ci95, 3))
                ),
                group
                    .lexical_median
                    .map_or_else(|| "–".to_owned(), |m| format!("{m:.4}")),
                group.quadrant.len(),
                ids.join(", ")
            ));
        }
    }
    let matrix = (models.len() > 1)
        .then(|| compare::runs_matrix(models, 0, Metric::Meteor, field, stats))
        .flatten()
        .map(|matrix| {
            let mut text = format!(
                "# METEOR, every model against {}\n\nMeans with 95% intervals; Δ = paired difference \
against the baseline on the samples both answered, with p adjusted by {}.\n\n| model |",
                matrix.baseline, matrix.adjustment
            );
            for group in &matrix.groups {
                text.push_str(&format!(" {} |", group.label()));
            }
            text.push_str("\n|---|");
            for _ in &matrix.groups {
                text.push_str("---|");
            }
            text.push('\n');
            for (run, row) in matrix.runs.iter().zip(&matrix.cells) {
                text.push_str(&format!("| {run} |"));
                for cell in row {
                    let mean = cell
                        .mean
                        .map_or_else(|| "–".to_owned(), |m| format!("{m:.4}{}", interval(cell.ci95, 4)));
                    let diff = cell.difference.as_ref().map_or_else(String::new, |d| {
                        format!(
                            "; Δ {:+.4}{}, p_adj {:.4} (n={})",
                            d.mean_difference,
                            interval(d.ci95, 4),
                            d.p_adjusted,
                            d.n
                        )
                    });
                    text.push_str(&format!(" {mean}{diff} |"));
                }
                text.push('\n');
            }
            text
        });
    ComparisonViews {
        disagreement: text,
        scatters,
        matrix,
    }
}

/// A Markdown table cell: `|` would end the cell, a newline the row.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown_table(rows: &[Vec<String>]) -> String {
    let mut text = String::new();
    for (at, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
        text.push_str(&format!("| {} |\n", cells.join(" | ")));
        if at == 0 {
            text.push_str(&format!("|{}\n", "---|".repeat(row.len())));
        }
    }
    text
}

fn html_table(rows: &[Vec<String>]) -> String {
    let mut text = String::from("<table>\n");
    for (at, row) in rows.iter().enumerate() {
        let tag = if at == 0 { "th" } else { "td" };
        let cells: String = row
            .iter()
            .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
            .collect();
        text.push_str(&format!("<tr>{cells}</tr>\n"));
    }
    text.push_str("</table>\n");
    text
}

/// The VQA section as Markdown: the same cells `medhall vqa` prints.
fn vqa_markdown(results: &VqaResults) -> String {
    let mut text = String::from(
        "# Medical VQA\n\nScored as LLaVA-Med v1.0's run_eval_batch.py does (docs/exactness.md, \
\"Medical VQA\"); percent, 95% bootstrap intervals.\n",
    );
    for (at, model) in results.models.iter().enumerate() {
        text.push_str(&format!(
            "\n## Model {}: {}\n\n{}",
            at + 1,
            markdown_cell(&model.label),
            markdown_table(&table_rows(&model.datasets, results.rule))
        ));
    }
    for (at, datasets) in results.comparisons.iter().enumerate() {
        text.push_str(&format!(
            "\n## {}\n\n{}",
            comparison_title(at + 1),
            markdown_table(&comparison_rows(datasets, results.rule))
        ));
    }
    text.push_str(&format!("\nsignature: `{}`\n", results.signature));
    text
}

/// The VQA section of index.html.
fn vqa_html(results: &VqaResults, chart: &str, title: &str) -> String {
    let mut text = String::from(
        "<h2>Medical VQA</h2>\n<p>Scored as LLaVA-Med v1.0's run_eval_batch.py does; percent, 95% bootstrap intervals. Also as vqa.md and vqa.json.</p>\n",
    );
    for (at, model) in results.models.iter().enumerate() {
        text.push_str(&format!(
            "<h3>Model {}: {}</h3>\n{}",
            at + 1,
            escape(&model.label),
            html_table(&table_rows(&model.datasets, results.rule))
        ));
    }
    for (at, datasets) in results.comparisons.iter().enumerate() {
        text.push_str(&format!(
            "<h3>{}</h3>\n{}",
            escape(&comparison_title(at + 1)),
            html_table(&comparison_rows(datasets, results.rule))
        ));
    }
    text.push_str(&format!(
        "<figure><img src=\"{}\" alt=\"{}\" width=\"{WIDTH}\"><figcaption>{}</figcaption></figure>\n<p><small>VQA signature: {}</small></p>\n",
        escape(chart),
        escape(title),
        escape(title),
        escape(&results.signature)
    ));
    text
}

/// The rating files against the judges of the report's runs: `Session::agreement`, what the
/// page's Agreement view computes, with the inputs in `medhall agreement`'s order (the rating
/// files, then one judge per model), so the same figures.
fn agreement_of(session: &Session, ratings: &[PathBuf]) -> Result<AgreementView> {
    let mut files = Vec::new();
    for path in ratings {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push(RatingFile {
            name: path.display().to_string(),
            text: String::from_utf8_lossy(&text).into_owned(),
        });
    }
    let runs = session
        .run_infos()
        .into_iter()
        .filter(|r| r.with_judge > 0)
        .map(|r| r.id)
        .collect();
    let stats = session.stats();
    let view = session.agreement(&AgreementQuery {
        ratings: files,
        runs,
        names: Vec::new(),
        resamples: stats.bootstrap_resamples,
        seed: stats.seed,
        top: 5,
    });
    if view.report.groups.is_empty() {
        bail!(
            "--ratings: no item was rated by two raters (the rating files and the FILEs' judges): nothing to compare"
        );
    }
    Ok(view)
}

fn estimate_text(estimate: &medhall_core::agreement::Estimate) -> String {
    match (estimate.value, estimate.ci95) {
        (Some(v), Some([low, high])) => format!("{v:.3} [{low:.3}, {high:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        (None, _) => "–".to_owned(),
    }
}

/// The agreement tables: pairs of raters, then Krippendorff's α, one row per group.
fn agreement_rows(view: &AgreementView) -> [Vec<Vec<String>>; 2] {
    let mut pairs = vec![
        [
            "criterion",
            "split",
            "type",
            "raters",
            "n",
            "kappa",
            "rho",
            "bias",
            "BA limits",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut alphas = vec![
        [
            "criterion",
            "split",
            "type",
            "raters",
            "items",
            "alpha interval",
            "alpha ordinal",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for group in &view.report.groups {
        let kind = group
            .hallucination_type
            .clone()
            .unwrap_or_else(|| "all".to_owned());
        for pair in &group.pairs {
            pairs.push(vec![
                group.criterion.clone(),
                group.split.to_string(),
                kind.clone(),
                format!("{} vs {}", pair.first, pair.second),
                pair.n.to_string(),
                estimate_text(&pair.kappa),
                estimate_text(&pair.spearman),
                estimate_text(&pair.bias),
                pair.limits
                    .map_or_else(|| "–".to_owned(), |[l, h]| format!("[{l:.2}, {h:.2}]")),
            ]);
        }
        for alpha in &group.alphas {
            alphas.push(vec![
                group.criterion.clone(),
                group.split.to_string(),
                kind.clone(),
                format!("{} ({})", alpha.set, alpha.members.join(", ")),
                alpha.units.to_string(),
                estimate_text(&alpha.interval),
                estimate_text(&alpha.ordinal),
            ]);
        }
    }
    [pairs, alphas]
}

const AGREEMENT_NOTE: &str = "kappa: Cohen's quadratic-weighted kappa on the labels 1-10; rho: Spearman's; bias: second minus first (judge minus human) with the Bland-Altman 95% limits; Krippendorff's alpha interval and ordinal; brackets: 95% bootstrap intervals over items.";

/// The agreement section as Markdown.
fn agreement_markdown(view: &AgreementView) -> String {
    let [pairs, alphas] = agreement_rows(view);
    format!(
        "# Agreement with clinicians\n\n{AGREEMENT_NOTE}\n\n## Pairs of raters\n\n{}\n## Krippendorff's alpha\n\n{}\nsignature: `{}`\n",
        markdown_table(&pairs),
        markdown_table(&alphas),
        view.report.signature
    )
}

/// The agreement section of index.html.
fn agreement_html(view: &AgreementView) -> String {
    let [pairs, alphas] = agreement_rows(view);
    format!(
        "<h2>Agreement with clinicians</h2>\n<p>{}</p>\n<h3>Pairs of raters</h3>\n{}<h3>Krippendorff's alpha</h3>\n{}<p><small>agreement signature: {}</small></p>\n",
        escape(AGREEMENT_NOTE),
        html_table(&pairs),
        html_table(&alphas),
        escape(&view.report.signature)
    )
}
