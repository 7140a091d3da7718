//! `medhall score`.

pub(crate) mod bertscore;

use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::dataset::{
    Issue, IssueKind, ReferenceSet, Run, SourceContext, TYPE_FIELD, TypeMap, add_type_record, join,
    type_map_columns,
};
use medhall_core::formats::{ColumnMap, RecordParser, Role, SampleRecord};
use medhall_core::judging::provenance::{JudgeTally, tally as judge_tally};
use medhall_core::judging::types::{LABELLED_BY_FIELD, TYPE_PROMPT_VERSION};
use medhall_core::metrics::lexical::LexicalScorer;
use medhall_core::metrics::wordnet::WordNet;
use medhall_core::sample::Split;
use medhall_core::signature::scores_signature;
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{
    GroupSummary, Metric, PerSampleLine, ScoredSample, score_sample, summarize_split,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ScoreArgs {
    /// Reference shard(s) (JSONL, JSON or CSV with question_id and gpt4_answer). Without them the
    /// results file's own `gpt4_answer` is used.
    #[arg(long = "references", value_name = "FILE")]
    references: Vec<PathBuf>,
    /// Split of files whose name says neither positive nor negative.
    #[arg(long, value_name = "positive|negative", value_parser = parse_split)]
    split: Option<Split>,
    /// CSV `split,question_id,type` giving each question's hallucination type.
    #[arg(long = "type-map", value_name = "FILE")]
    type_map: Option<PathBuf>,
    /// Break means down by this field (default: hallucination_type when --type-map is given).
    #[arg(long = "group-by", value_name = "FIELD")]
    group_by: Option<String>,
    /// Write one JSON object per sample to this file.
    #[arg(long = "per-sample", value_name = "OUT.jsonl")]
    per_sample: Option<PathBuf>,
    /// Write means, intervals, counts, issues and the signature to this JSON file.
    #[arg(long, value_name = "OUT.json")]
    summary: Option<PathBuf>,
    /// Column/field holding the question id (CSV/JSON), if not a standard name.
    #[arg(long = "id-column", value_name = "NAME")]
    id_column: Option<String>,
    /// Column/field holding the model's answer.
    #[arg(long = "answer-column", value_name = "NAME")]
    answer_column: Option<String>,
    /// Column/field holding the reference answer.
    #[arg(long = "reference-column", value_name = "NAME")]
    reference_column: Option<String>,
    /// Column/field holding the judge's text (first line: four scores).
    #[arg(long = "judge-column", value_name = "NAME")]
    judge_column: Option<String>,
    /// Bootstrap resamples for the 95% intervals (0 turns them off).
    #[arg(long, default_value_t = StatsConfig::default().bootstrap_resamples)]
    resamples: u32,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = StatsConfig::default().seed)]
    seed: u64,
    #[command(flatten)]
    bert: bertscore::BertScoreArgs,
    /// Predictions or judge-eval files of one model run (JSONL, JSON or CSV).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

pub(crate) fn parse_split(text: &str) -> Result<Split, String> {
    Split::parse(text).ok_or_else(|| format!("`{text}` is not a split: use positive or negative"))
}

/// Streams a file through the incremental parser in fixed-size chunks.
pub(crate) fn parse_file(
    path: &Path,
    columns: &ColumnMap,
    issues: &mut Vec<Issue>,
    mut on_record: impl FnMut(SampleRecord, &mut Vec<Issue>),
) -> Result<u64> {
    let mut parser = RecordParser::new(path.display().to_string(), columns.clone());
    let mut sink = |item: Result<SampleRecord, _>| match item {
        Ok(record) => on_record(record, issues),
        Err(error) => issues.push(Issue::from(error)),
    };
    for_each_chunk(path, |chunk| parser.push(chunk, &mut sink))?;
    let summary = parser.finish(&mut sink);
    Ok(summary.records)
}

/// Reads a file in 1 MiB chunks (memory stays constant whatever the file's size).
pub(crate) fn for_each_chunk(path: &Path, mut on_chunk: impl FnMut(&[u8])) -> Result<()> {
    let name = path.display();
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {name}"))?;
        if read == 0 {
            return Ok(());
        }
        on_chunk(&buffer[..read]);
    }
}

fn column_map(args: &ScoreArgs) -> ColumnMap {
    let mut columns = ColumnMap::default();
    let overrides = [
        (Role::QuestionId, &args.id_column),
        (Role::Answer, &args.answer_column),
        (Role::Reference, &args.reference_column),
        (Role::JudgeText, &args.judge_column),
    ];
    for (role, name) in overrides {
        if let Some(name) = name {
            columns.set(role, name.clone());
        }
    }
    columns
}

/// The type map, and who labelled it when a model did (`medhall judge --label-types` writes
/// `labelled_by`), for the signature: such types are not the benchmark's.
fn load_type_map(path: &Path, issues: &mut Vec<Issue>) -> Result<(TypeMap, Vec<String>)> {
    let mut types = TypeMap::new();
    let mut labelled_by: Vec<String> = Vec::new();
    let source = path.display().to_string();
    parse_file(path, &type_map_columns(), issues, |record, issues| {
        if let Some(who) = record.field(LABELLED_BY_FIELD)
            && !labelled_by.iter().any(|w| w == who)
        {
            labelled_by.push(who.to_owned());
        }
        add_type_record(&mut types, &source, &record, issues)
    })?;
    Ok((types, labelled_by))
}

/// Parses the results files concurrently (one thread per file, in batches of the core count);
/// records and issues come back in file order, so the outcome does not depend on timing.
pub(crate) fn parse_files(
    paths: &[PathBuf],
    columns: &ColumnMap,
    split: Option<Split>,
) -> Vec<Result<(Run, u64, Vec<Issue>)>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out = Vec::with_capacity(paths.len());
    for batch in paths.chunks(threads.max(1)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|path| {
                    scope.spawn(move || {
                        // Records become predictions as they are read (keys, verdicts), so no
                        // file is held twice in memory.
                        let source = SourceContext::new(path.display().to_string(), split);
                        let mut issues = Vec::new();
                        let mut run = Run::default();
                        let records = parse_file(path, columns, &mut issues, |record, issues| {
                            run.add_record(&source, record, issues)
                        })?;
                        Ok((run, records, issues))
                    })
                })
                .collect();
            for handle in handles {
                out.push(join_thread(handle.join()));
            }
        });
    }
    out
}

/// A worker thread's result; a panic in it is re-raised here rather than losing its share.
fn join_thread<T>(result: std::thread::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `summarize` with the splits on separate threads.
fn summarize_parallel(
    scored: &[ScoredSample],
    group_by: Option<&str>,
    stats: &StatsConfig,
) -> Vec<GroupSummary> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = Split::ALL
            .into_iter()
            .map(|split| scope.spawn(move || summarize_split(scored, split, group_by, stats)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| join_thread(h.join()))
            .collect()
    })
}

/// At most this many scoring threads.
const MAX_SCORING_THREADS: usize = 8;

/// The number of threads `score_all` uses: one per core, at most [`MAX_SCORING_THREADS`].
fn scoring_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_SCORING_THREADS)
}

/// Scores on all cores (up to a cap) natively; each thread has its own caches. Threads take
/// small batches from a shared counter, so a split with longer answers does not leave one core
/// idle. With `lines`, each batch is also written out as `--per-sample` JSON lines on its thread.
fn score_all(
    joined: &[medhall_core::dataset::JoinedSample<'_>],
    lines: bool,
) -> (Vec<ScoredSample>, Vec<u8>) {
    const BATCH: usize = 32;
    let wordnet = WordNet::embedded();
    let threads = scoring_threads();
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Batch = (usize, Vec<ScoredSample>, Vec<u8>);
    let mut batches: Vec<Batch> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut scorer = LexicalScorer::new(wordnet);
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
                        let Some(part) = joined.get(start..(start + BATCH).min(joined.len()))
                        else {
                            break;
                        };
                        if part.is_empty() {
                            break;
                        }
                        let scored: Vec<ScoredSample> =
                            part.iter().map(|j| score_sample(j, &mut scorer)).collect();
                        let mut text = Vec::new();
                        if lines {
                            for sample in &scored {
                                // Writing JSON into a Vec cannot fail.
                                let _ =
                                    serde_json::to_writer(&mut text, &PerSampleLine::from(sample));
                                text.push(b'\n');
                            }
                        }
                        done.push((start, scored, text));
                    }
                    // The caches die with the process, which is about to end (see `run`).
                    std::mem::forget(scorer);
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| join_thread(h.join()))
            .collect()
    });
    batches.sort_unstable_by_key(|(start, _, _)| *start);
    let mut scored = Vec::with_capacity(joined.len());
    let mut text = Vec::new();
    for (_, part, lines) in batches {
        scored.extend(part);
        text.extend_from_slice(&lines);
    }
    (scored, text)
}

/// `--per-sample` lines with each sample's BERTScore F1.
fn per_sample_lines(scored: &[ScoredSample], f1: &[Option<f64>]) -> Vec<u8> {
    let mut text = Vec::new();
    for (sample, f1) in scored.iter().zip(f1) {
        let mut line = PerSampleLine::from(sample);
        line.bertscore = *f1;
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut text, &line);
        text.push(b'\n');
    }
    text
}

fn write_per_sample(path: &Path, lines: &[u8]) -> Result<()> {
    std::fs::write(path, lines).with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Serialize)]
struct Counts {
    files: usize,
    predictions: usize,
    references: usize,
    scored_lexical: usize,
    with_judge: usize,
    issues: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bertscore: Option<bertscore::BertScoreCounts>,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    signature: String,
    /// The judge behind the judge columns, with how many verdicts each gave.
    judges: &'a JudgeTally,
    stats: StatsConfig,
    counts: Counts,
    groups: &'a [GroupSummary],
    issues: &'a [Issue],
}

fn issue_counts(issues: &[Issue]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for issue in issues {
        let name = serde_json::to_value(issue.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn print_table(groups: &[GroupSummary]) {
    let label = |g: &GroupSummary| match &g.value {
        Some(value) => format!("{}/{value} (n={})", g.split, g.samples),
        None => format!("{} (n={})", g.split, g.samples),
    };
    let width = groups
        .iter()
        .map(|g| label(g).len())
        .max()
        .unwrap_or(0)
        .max(26);
    print!("{:<20}", "metric");
    for group in groups {
        print!("  {:<width$}", label(group));
    }
    println!();
    let names = Metric::ALL.iter().map(|m| m.name());
    for name in names {
        if !groups
            .iter()
            .any(|g| g.metrics.iter().any(|m| m.metric == name))
        {
            continue;
        }
        print!("{name:<20}");
        for group in groups {
            let cell = match group.metrics.iter().find(|m| m.metric == name) {
                Some(m) => match m.ci95 {
                    Some([low, high]) => format!("{:.4} [{:.4}, {:.4}]", m.mean, low, high),
                    None => format!("{:.4}", m.mean),
                },
                None => "-".to_owned(),
            };
            print!("  {cell:<width$}");
        }
        println!();
    }
}

/// Phase timings on stderr when MEDHALL_TIMINGS is set (for the benchmark's breakdown).
struct Timings(Option<(std::time::Instant, Vec<(&'static str, f64)>)>);

impl Timings {
    fn new() -> Self {
        Self(std::env::var_os("MEDHALL_TIMINGS").map(|_| (std::time::Instant::now(), Vec::new())))
    }

    fn mark(&mut self, phase: &'static str) {
        if let Some((start, marks)) = &mut self.0 {
            marks.push((phase, start.elapsed().as_secs_f64() * 1e3));
        }
    }

    fn print(&self) {
        if let Some((_, marks)) = &self.0 {
            let parts: Vec<String> = marks
                .iter()
                .map(|(p, ms)| format!("{p} {ms:.1} ms"))
                .collect();
            // The thread count is printed for the benchmark, which reports what was used.
            eprintln!(
                "timings (cumulative): {}; scoring threads: {}",
                parts.join(", "),
                scoring_threads()
            );
        }
    }
}

pub fn run(args: &ScoreArgs) -> Result<()> {
    let mut timings = Timings::new();
    let columns = column_map(args);
    let mut issues = Vec::new();

    let mut references = ReferenceSet::default();
    for path in &args.references {
        let source = SourceContext::new(path.display().to_string(), args.split);
        parse_file(path, &columns, &mut issues, |record, issues| {
            references.add_record(&source, record, issues)
        })?;
    }
    let (types, labelled_by) = match &args.type_map {
        Some(path) => load_type_map(path, &mut issues)?,
        None => (TypeMap::new(), Vec::new()),
    };
    let mut run = Run::default();
    let parsed = parse_files(&args.files, &columns, args.split);
    for (path, parsed) in args.files.iter().zip(parsed) {
        let (file_run, records, file_issues) = parsed?;
        issues.extend(file_issues);
        if records == 0 {
            bail!("{} holds no readable record", path.display());
        }
        run.absorb(file_run, &mut issues);
    }
    if run.is_empty() {
        let first = issues
            .first()
            .map(|i| format!(": first problem: {i}"))
            .unwrap_or_default();
        bail!("no usable prediction in the given files{first}");
    }

    timings.mark("parse");
    let joined = join(&run, &references, &types, &mut issues);
    timings.mark("join");
    let (scored, mut lines) = score_all(
        &joined,
        args.per_sample.is_some() && args.bert.bertscore.is_none(),
    );
    timings.mark("score");
    let bert = match args.bert.dir()? {
        Some(dir) => {
            // Beside the output the work is for: computed values survive Ctrl-C there.
            let cache = args
                .per_sample
                .as_ref()
                .or(args.summary.as_ref())
                .map(|out| bertscore::cache_path(out));
            let outcome = bertscore::run(&args.bert.options(dir, cache.as_deref()), &joined)?;
            if args.per_sample.is_some() {
                lines = per_sample_lines(&scored, &outcome.f1);
            }
            timings.mark("bertscore");
            Some(outcome)
        }
        None => None,
    };
    let stats = StatsConfig {
        bootstrap_resamples: args.resamples,
        seed: args.seed,
        ..StatsConfig::default()
    };
    let group_by = args
        .group_by
        .as_deref()
        .or(args.type_map.as_ref().map(|_| TYPE_FIELD));
    // The summary is only computed when something shows it.
    let mut groups = if args.per_sample.is_some() && args.summary.is_none() {
        Vec::new()
    } else {
        summarize_parallel(&scored, group_by, &stats)
    };
    if let Some(bert) = &bert {
        bertscore::add_to_summary(&mut groups, &scored, &bert.f1, &stats);
    }
    let judges = judge_tally(run.predictions());
    let parts = judges
        .signature_part()
        .into_iter()
        .chain(bert.as_ref().map(|b| b.signature.clone()));
    let signature = scores_signature(&stats, &labelled_by, TYPE_PROMPT_VERSION, parts);
    timings.mark("summarize");
    let counts = Counts {
        files: args.files.len(),
        predictions: run.len(),
        references: references.len(),
        scored_lexical: scored.iter().filter(|s| s.lexical.is_some()).count(),
        with_judge: scored.iter().filter(|s| s.judge.is_some()).count(),
        issues: issue_counts(&issues),
        bertscore: bert.map(|b| b.counts),
    };

    if let Some(path) = &args.per_sample {
        write_per_sample(path, &lines)?;
    }
    if let Some(path) = &args.summary {
        let summary = SummaryOut {
            signature: signature.clone(),
            judges: &judges,
            stats,
            counts,
            groups: &groups,
            issues: &issues,
        };
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else if args.per_sample.is_none() {
        println!(
            "{} predictions from {} file(s); {} scored against a reference, {} with judge scores",
            counts.predictions, counts.files, counts.scored_lexical, counts.with_judge
        );
        for (label, verdicts) in &judges.judges {
            println!("judge: {label} ({verdicts} verdicts)");
        }
        print_table(&groups);
        for group in groups.iter().filter(|g| g.value.is_none()) {
            if let Some(meteor) = group.metrics.iter().find(|m| m.metric == "meteor") {
                println!("M.Score (METEOR mean), {}: {:.4}", group.split, meteor.mean);
            }
            if let Some(bert) = group.metrics.iter().find(|m| m.metric == "bertscore") {
                let interval = bert
                    .ci95
                    .map(|[l, h]| format!(" [{l:.4}, {h:.4}]"))
                    .unwrap_or_default();
                println!(
                    "B.Score (BERTScore F1 mean), {}: {:.4}{interval}",
                    group.split, bert.mean
                );
            }
        }
        println!("signature: {signature}");
    }
    if let Some(warning) = judges.mixed_warning() {
        eprintln!("warning: {warning}");
    }
    report_issues(&issues);
    timings.mark("output");
    timings.print();
    // The process ends here: freeing every sample's strings one by one took longer (several ms
    // on the benchmark) than the operating system takes to reclaim the pages.
    std::mem::forget(scored);
    std::mem::forget(joined);
    std::mem::forget(run);
    std::mem::forget(references);
    Ok(())
}

/// Issues go to stderr: counts by kind, then the first lines of each kind.
pub(crate) fn report_issues(issues: &[Issue]) {
    if issues.is_empty() {
        return;
    }
    let counts = issue_counts(issues);
    let listed: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    eprintln!("issues: {}", listed.join(", "));
    const SHOWN_PER_KIND: usize = 10;
    let mut shown: BTreeMap<IssueKind, usize> = BTreeMap::new();
    for issue in issues {
        let count = shown.entry(issue.kind).or_insert(0);
        *count += 1;
        if *count <= SHOWN_PER_KIND {
            eprintln!("  {issue}");
        } else if *count == SHOWN_PER_KIND + 1 {
            eprintln!("  ... more {:?} issues are listed in --summary", issue.kind);
        }
    }
}
