//! `medhall score --bertscore DIR`: B.Score, the BERTScore F1 the benchmark's eval.py computes
//! per split with `score(cands=gpt4_answers, refs=answers, lang='en')`. Each split's pairs are
//! matched in input order (bert_score's batches of pairs, and so its padding effect, follow that
//! order), one chunk of `--bertscore-batch` pairs at a time, as the page's model worker does.
//!
//! With a cache file (beside `--per-sample`'s or `--summary`'s output), each chunk's F1 values
//! are appended to it as one line as soon as the chunk is complete, and synced to the disk
//! before the next chunk starts, keyed by [`bertscore_values_key`] (the model files' content
//! hash, layer, batch size, length limit) and a hash of the chunk's texts: a pair's F1 depends
//! on its chunk's other pairs (bert_score's padding), so a kept chunk counts only for exactly the
//! same pairs. A kill loses at most the chunk being computed; a rerun scores only the others.

use anyhow::{Context, Result, bail};
use medhall_core::dataset::JoinedSample;
use medhall_core::identity::bertscore_chunk_hash;
use medhall_core::sample::Split;
use medhall_core::signature::{bertscore_signature, bertscore_values_key};
use medhall_core::stats::{StatsConfig, bootstrap_mean_cis, mean};
use medhall_core::summary::{GroupSummary, MetricSummary, ScoredSample, UNLABELLED};
use medhall_model::bertscore::{BertScoreFiles, BertScorer, default_layer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Component, Path};
use std::time::Instant;

/// What `--bertscore` needs from the command line.
/// `--bertscore DIR [--bertscore-layer N] [--bertscore-batch N] [--device cpu|wgpu]`, the same
/// in `medhall score` and `medhall report`.
#[derive(clap::Args, Debug)]
pub struct BertScoreArgs {
    /// Also compute B.Score (BERTScore F1, as bert_score 0.3.13) with the RoBERTa model in this
    /// Hugging Face folder (config.json, model.safetensors, vocab.json + merges.txt or
    /// tokenizer.json); the benchmark uses roberta-large. Computed values are kept as they
    /// complete (beside the output), so a rerun takes them from there.
    #[arg(long, value_name = "DIR")]
    pub bertscore: Option<std::path::PathBuf>,
    /// The layer whose output BERTScore matches (default: bert_score's choice for the model
    /// named by the folder, 17 for roberta-large).
    #[arg(long = "bertscore-layer", value_name = "N")]
    pub bertscore_layer: Option<usize>,
    /// Sentences per encoder batch and pairs per matching batch (bert_score's batch_size: its
    /// padding effect depends on it).
    #[arg(long = "bertscore-batch", value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub bertscore_batch: u64,
    /// Where the BERTScore encoder runs.
    #[arg(long, value_name = "cpu|wgpu", default_value = "cpu")]
    pub device: String,
}

impl BertScoreArgs {
    /// The folder to compute B.Score with, if asked; `--bertscore-layer` without it is an error.
    pub fn dir(&self) -> Result<Option<&Path>> {
        match &self.bertscore {
            Some(dir) => Ok(Some(dir)),
            None if self.bertscore_layer.is_some() => {
                bail!("--bertscore-layer needs --bertscore DIR")
            }
            None => Ok(None),
        }
    }

    /// What computing B.Score with `dir` needs, its values kept in `cache`.
    pub fn options<'a>(&'a self, dir: &'a Path, cache: Option<&'a Path>) -> Options<'a> {
        Options {
            dir,
            layer: self.bertscore_layer,
            batch_size: usize::try_from(self.bertscore_batch).unwrap_or(usize::MAX),
            device: &self.device,
            cache,
        }
    }
}

pub struct Options<'a> {
    pub dir: &'a Path,
    pub layer: Option<usize>,
    pub batch_size: usize,
    pub device: &'a str,
    /// Where computed F1 values are kept as they complete, and read back by a rerun.
    pub cache: Option<&'a Path>,
}

/// The cache file of an output file: `OUT.bertscore-cache.jsonl` beside it.
pub fn cache_path(out: &Path) -> std::path::PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".bertscore-cache.jsonl");
    out.with_file_name(name)
}

/// One line of the cache file: one chunk's F1 values, in pair order.
#[derive(Serialize, Deserialize)]
struct CachedChunk {
    /// [`bertscore_values_key`] of the model and settings.
    key: String,
    /// [`bertscore_chunk_hash`] of the chunk's pairs.
    chunk: String,
    f1: Vec<f32>,
}

/// F1 values by chunk hash under `key` in the cache file (absent: none), and how many lines
/// could not be read (a line cut short by a kill, or one of the older per-pair format).
fn read_cache(path: &Path, key: &str) -> Result<(HashMap<String, Vec<f32>>, usize)> {
    let mut values = HashMap::new();
    let mut unreadable = 0;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((values, 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CachedChunk>(&line) {
            Ok(c) if c.key == key => {
                values.insert(c.chunk, c.f1);
            }
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok((values, unreadable))
}

/// Counts for the summary: what was encoded and what was cut or empty.
#[derive(Serialize)]
pub struct BertScoreCounts {
    pub model: String,
    pub layer: usize,
    pub batch_size: usize,
    pub max_tokens: usize,
    pub pairs: usize,
    pub sentences: usize,
    pub truncated_sentences: usize,
    pub empty_candidates: usize,
    pub empty_references: usize,
}

pub struct Outcome {
    /// F1 per scored sample (index into `scored`); `None` for a sample without a reference.
    pub f1: Vec<Option<f64>>,
    pub signature: String,
    pub counts: BertScoreCounts,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The model's name as bert_score would know it: a Hugging Face cache folder
/// (`models--FacebookAI--roberta-large/snapshots/<hash>`) gives `FacebookAI/roberta-large`,
/// otherwise the folder's own name.
fn model_name(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if let Some(cached) = parts.iter().rev().find_map(|p| p.strip_prefix("models--")) {
        return cached.replace("--", "/");
    }
    parts.last().cloned().unwrap_or_default()
}

/// The scorer, the model's name, the layer and [`BertScoreFiles::content_hash`].
fn load(options: &Options<'_>) -> Result<(BertScorer, String, usize, String)> {
    let dir = options.dir;
    if !dir.is_dir() {
        bail!("--bertscore {}: not a folder", dir.display());
    }
    let weights_path = dir.join("model.safetensors");
    if !weights_path.exists() {
        bail!(
            "--bertscore {}: no model.safetensors (only safetensors weights are read)",
            dir.display()
        );
    }
    let config_json = read(&dir.join("config.json"))?;
    let name = model_name(dir);
    let layer = match options.layer {
        Some(layer) => layer,
        None => default_layer(&name).with_context(|| {
            format!(
                "--bertscore {}: bert_score has no default layer for a model named `{name}` \
                 (it knows roberta-base, roberta-large, roberta-large-mnli, distilroberta-base, \
                 roberta-base/large-openai-detector): give --bertscore-layer N",
                dir.display()
            )
        })?,
    };
    let files = BertScoreFiles {
        config_json,
        weights: read(&weights_path)?,
        weights_name: weights_path.display().to_string(),
        vocab_json: read_optional(&dir.join("vocab.json"))?,
        merges_txt: read_optional(&dir.join("merges.txt"))?,
        tokenizer_json: read_optional(&dir.join("tokenizer.json"))?,
        tokenizer_config_json: read_optional(&dir.join("tokenizer_config.json"))?,
    };
    let device = crate::model::device(options.device)?;
    let scorer = BertScorer::load(&files, layer, &device)
        .with_context(|| format!("--bertscore {}", dir.display()))?;
    Ok((scorer, name, layer, files.content_hash()))
}

/// A progress line on stderr, redrawn at most twice a second.
struct Progress {
    label: String,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn update(&mut self, done: usize, total: usize) {
        let now = Instant::now();
        if done < total
            && self
                .last
                .is_some_and(|t| now.duration_since(t).as_secs_f64() < 0.5)
        {
            return;
        }
        self.last = Some(now);
        let elapsed = now.duration_since(self.start).as_secs_f64().max(1e-9);
        let rate = done as f64 / elapsed;
        let left = if rate > 0.0 {
            (total - done) as f64 / rate
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{}: {done}/{total} sentences, {rate:.1} sentences/s, {} left   ",
            self.label,
            format_duration(left)
        );
        if done == total {
            let _ = writeln!(err);
        }
    }
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Pairs scored together (one split of one run): `cands` are bert_score's candidates (the
/// reference answers, in eval.py's order), `refs` the model's answers.
pub struct Group<'a> {
    pub label: String,
    pub cands: Vec<&'a str>,
    pub refs: Vec<&'a str>,
}

/// F1 per pair of each group, with the signature and counts.
pub struct Scored {
    pub f1: Vec<Vec<f32>>,
    pub signature: String,
    pub counts: BertScoreCounts,
}

/// `medhall score --bertscore`: each split of the joined samples is one group, in input order.
pub fn run(options: &Options<'_>, joined: &[JoinedSample<'_>]) -> Result<Outcome> {
    let mut groups = Vec::new();
    let mut members = Vec::new();
    for split in Split::ALL {
        let indices: Vec<usize> = joined
            .iter()
            .enumerate()
            .filter(|(_, j)| j.prediction.key.split == split && j.reference.is_some())
            .map(|(i, _)| i)
            .collect();
        if indices.is_empty() {
            continue;
        }
        groups.push(Group {
            label: format!("B.Score {split}"),
            // eval.py's argument order: the references are bert_score's candidates.
            cands: indices
                .iter()
                .map(|&i| joined[i].reference.unwrap_or_default())
                .collect(),
            refs: indices
                .iter()
                .map(|&i| joined[i].prediction.answer.as_str())
                .collect(),
        });
        members.push(indices);
    }
    let scored = score_groups(options, &groups)?;
    let mut f1 = vec![None; joined.len()];
    for (indices, values) in members.iter().zip(&scored.f1) {
        for (&i, &v) in indices.iter().zip(values) {
            f1[i] = Some(f64::from(v));
        }
    }
    Ok(Outcome {
        f1,
        signature: scored.signature,
        counts: scored.counts,
    })
}

/// Loads the model and scores each group, keeping every chunk's F1 in the cache as it completes
/// and taking the chunks the cache already holds.
pub fn score_groups(options: &Options<'_>, groups: &[Group<'_>]) -> Result<Scored> {
    let loading = Instant::now();
    let (scorer, name, layer, files_hash) = load(options)?;
    let loaded = loading.elapsed().as_secs_f64();
    let scoring = Instant::now();
    if let Some(note) = &scorer.length_note {
        eprintln!("B.Score: {note}");
    }
    let mut counts = BertScoreCounts {
        model: name.clone(),
        layer,
        batch_size: options.batch_size,
        max_tokens: scorer.max_tokens,
        pairs: 0,
        sentences: 0,
        truncated_sentences: 0,
        empty_candidates: 0,
        empty_references: 0,
    };
    let signature = bertscore_signature(
        &name,
        &files_hash,
        layer,
        options.batch_size,
        scorer.max_tokens,
    );
    let key = bertscore_values_key(&files_hash, layer, options.batch_size, scorer.max_tokens);
    let (cached, unreadable) = match options.cache {
        Some(path) => read_cache(path, &key)?,
        None => (HashMap::new(), 0),
    };
    let mut cache_file = match options.cache {
        Some(path) => {
            if unreadable > 0 {
                eprintln!(
                    "B.Score: {unreadable} unreadable line(s) in {} skipped (a write cut short, or an older format)",
                    path.display()
                );
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            // A line cut short by a kill must not glue onto the next one.
            if unreadable > 0 {
                writeln!(file).with_context(|| format!("cannot write {}", path.display()))?;
            }
            Some((path, file))
        }
        None => None,
    };
    let (mut from_cache, mut chunks_from_cache) = (0, 0);
    let mut all = Vec::with_capacity(groups.len());
    for group in groups {
        let (cands, refs) = (&group.cands, &group.refs);
        let batch = options.batch_size.max(1);
        let chunks: Vec<String> = (0..cands.len())
            .step_by(batch)
            .map(|start| {
                let end = (start + batch).min(cands.len());
                bertscore_chunk_hash(
                    cands[start..end]
                        .iter()
                        .zip(&refs[start..end])
                        .map(|(c, r)| (*c, *r)),
                )
            })
            .collect();
        // A kept chunk of exactly these pairs: its values, in pair order.
        let kept: Vec<Option<&Vec<f32>>> = chunks
            .iter()
            .enumerate()
            .map(|(c, hash)| {
                let len = (cands.len() - c * batch).min(batch);
                cached.get(hash).filter(|values| values.len() == len)
            })
            .collect();
        let done: Vec<bool> = (0..cands.len())
            .map(|i| kept[i / batch].is_some())
            .collect();
        let mut job = scorer
            .job(cands, refs, batch, 1, &done)
            .with_context(|| group.label.clone())?;
        let mut computed: Vec<Option<f32>> = vec![None; cands.len()];
        let mut progress = Progress {
            label: group.label.clone(),
            start: Instant::now(),
            last: None,
        };
        loop {
            let next = job.next_batch().with_context(|| group.label.clone())?;
            for chunk in job.take_finished() {
                let f1: Vec<f32> = chunk.scores.iter().map(|score| score.f1).collect();
                for (k, &value) in f1.iter().enumerate() {
                    computed[chunk.start + k] = Some(value);
                }
                if let Some((path, file)) = cache_file.as_mut() {
                    let line = CachedChunk {
                        key: key.clone(),
                        chunk: chunks[chunk.start / batch].clone(),
                        f1,
                    };
                    let mut text = serde_json::to_string(&line)?;
                    text.push('\n');
                    // On the disk before the next chunk starts: a kill loses that chunk only.
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_data())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
            }
            let Some(sentences) = next else {
                break;
            };
            let rows = scorer
                .encoder
                .encode_batch(&sentences)
                .with_context(|| group.label.clone())?;
            job.accept(rows).with_context(|| group.label.clone())?;
            progress.update(job.sentences_done(), job.sentences_total());
        }
        chunks_from_cache += kept.iter().filter(|k| k.is_some()).count();
        let mut values = Vec::with_capacity(cands.len());
        for (k, value) in computed.into_iter().enumerate() {
            let value = match value {
                Some(v) => Some(v),
                None => {
                    from_cache += 1;
                    kept[k / batch].and_then(|values| values.get(k % batch).copied())
                }
            };
            values.push(value.with_context(|| {
                format!("{}: pair {k} was neither scored nor cached", group.label)
            })?);
        }
        all.push(values);
        counts.pairs += cands.len();
        counts.sentences += job.sentences_total();
        counts.truncated_sentences += job.truncated();
        counts.empty_candidates += job.empty().candidates;
        counts.empty_references += job.empty().references;
    }
    if from_cache > 0
        && let Some(path) = options.cache
    {
        eprintln!(
            "B.Score: {from_cache} pair(s) in {chunks_from_cache} chunk(s) taken from {} (the same chunks computed earlier with the same model files and settings)",
            path.display()
        );
    }
    let seconds = scoring.elapsed().as_secs_f64();
    eprintln!(
        "B.Score: model loaded in {loaded:.1} s; {} sentences encoded and {} pairs matched in {seconds:.1} s ({:.2} sentences/s)",
        counts.sentences,
        counts.pairs,
        counts.sentences as f64 / seconds.max(1e-9)
    );
    if counts.truncated_sentences > 0 {
        eprintln!(
            "B.Score: {} sentence(s) longer than {} tokens were cut there, as bert_score cuts them",
            counts.truncated_sentences, scorer.max_tokens
        );
    }
    if counts.empty_candidates + counts.empty_references > 0 {
        eprintln!(
            "B.Score: {} empty reference(s) and {} empty answer(s) score 0, as in bert_score",
            counts.empty_candidates, counts.empty_references
        );
    }
    Ok(Scored {
        f1: all,
        signature,
        counts,
    })
}

/// Adds the `bertscore` mean and interval to every group that has values.
pub fn add_to_summary(
    groups: &mut [GroupSummary],
    scored: &[ScoredSample],
    f1: &[Option<f64>],
    stats: &StatsConfig,
) {
    for group in groups {
        let column: Vec<f64> = scored
            .iter()
            .zip(f1)
            .filter(|(s, _)| s.key.split == group.split)
            .filter(|(s, _)| match (&group.field, &group.value) {
                (Some(field), Some(value)) => s.field(field).unwrap_or(UNLABELLED) == value,
                _ => true,
            })
            .filter_map(|(_, f)| *f)
            .collect();
        let Some(average) = mean(&column) else {
            continue;
        };
        let ci = bootstrap_mean_cis(&[&column], stats)
            .into_iter()
            .next()
            .flatten();
        group.metrics.push(MetricSummary {
            metric: "bertscore".to_owned(),
            n: column.len(),
            mean: average,
            ci95: ci.map(|(l, h)| [l, h]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_come_from_the_folder_or_the_hub_cache() {
        assert_eq!(model_name(Path::new("/m/roberta-large")), "roberta-large");
        assert_eq!(model_name(Path::new("/m/roberta-large/")), "roberta-large");
        assert_eq!(
            model_name(Path::new(
                "/h/hub/models--FacebookAI--roberta-large/snapshots/abc123"
            )),
            "FacebookAI/roberta-large"
        );
        assert_eq!(format_duration(3725.0), "1:02:05");
    }
}
