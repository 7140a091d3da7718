//! `medhall score --bertscore DIR`: B.Score, the BERTScore F1 the benchmark's eval.py computes
//! per split with `score(cands=gpt4_answers, refs=answers, lang='en')`. Each split is scored in
//! one call, its pairs in input order (bert_score's batches of pairs, and so its padding effect,
//! follow that order).

use anyhow::{Context, Result, bail};
use medhall_core::dataset::JoinedSample;
use medhall_core::sample::Split;
use medhall_core::signature::bertscore_signature;
use medhall_core::stats::{StatsConfig, bootstrap_mean_cis, mean};
use medhall_core::summary::{GroupSummary, MetricSummary, ScoredSample, UNLABELLED};
use medhall_model::bertscore::{BertScoreFiles, BertScorer, default_layer};
use serde::Serialize;
use std::io::Write;
use std::path::{Component, Path};
use std::time::Instant;

/// What `--bertscore` needs from the command line.
pub struct Options<'a> {
    pub dir: &'a Path,
    pub layer: Option<usize>,
    pub batch_size: usize,
    pub device: &'a str,
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

fn load(options: &Options<'_>) -> Result<(BertScorer, String, usize, Vec<u8>)> {
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
        config_json: config_json.clone(),
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
    Ok((scorer, name, layer, config_json))
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

pub fn run(options: &Options<'_>, joined: &[JoinedSample<'_>]) -> Result<Outcome> {
    let loading = Instant::now();
    let (scorer, name, layer, config_json) = load(options)?;
    let loaded = loading.elapsed().as_secs_f64();
    let scoring = Instant::now();
    if let Some(note) = &scorer.length_note {
        eprintln!("B.Score: {note}");
    }
    let mut f1 = vec![None; joined.len()];
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
        // eval.py's argument order: the references are bert_score's candidates.
        let cands: Vec<&str> = indices
            .iter()
            .map(|&i| joined[i].reference.unwrap_or_default())
            .collect();
        let refs: Vec<&str> = indices
            .iter()
            .map(|&i| joined[i].prediction.answer.as_str())
            .collect();
        let mut progress = Progress {
            label: format!("B.Score {split}"),
            start: Instant::now(),
            last: None,
        };
        let result = scorer
            .score(&cands, &refs, options.batch_size, &mut |done, total| {
                progress.update(done, total)
            })
            .with_context(|| format!("B.Score of the {split} split"))?;
        for (&i, score) in indices.iter().zip(&result.scores) {
            f1[i] = Some(f64::from(score.f1));
        }
        counts.pairs += indices.len();
        counts.sentences += result.sentences;
        counts.truncated_sentences += result.truncated;
        counts.empty_candidates += result.empty.candidates;
        counts.empty_references += result.empty.references;
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
    Ok(Outcome {
        f1,
        signature: bertscore_signature(
            &name,
            &config_json,
            layer,
            options.batch_size,
            scorer.max_tokens,
        ),
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
