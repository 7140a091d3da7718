//! BERTScore end to end, as `bert_score` 0.3.13's `score(cands, refs, model_type, num_layers,
//! batch_size)` computes it with `idf=False` and no rescaling: the tokenizer
//! ([`crate::roberta_tokenizer`]), the encoder cut to N layers ([`crate::roberta`]) and the
//! matching of `medhall_metrics::bertscore` (whose module doc states the semantics).
//!
//! Distinct sentences of `refs + cands` are encoded once, sorted by `len(s.split(" "))`, longest
//! first, in batches of `batch_size` (ties keep first-appearance order; Python's set order,
//! which changes with the hash seed, decides them there: it moves only floating-point noise).
//! Pairs are matched in their order in chunks of the same `batch_size`, with bert_score's
//! padding effect.

use burn::prelude::Device;
use medhall_metrics::bertscore::{
    BertScore, EmptySides, Matching, SentenceVectors, plain_weights, score_pairs,
};
use medhall_metrics::signature::bertscore_files_hash;
use std::collections::HashMap;

use crate::ModelError;
use crate::roberta::{RobertaConfig, RobertaEncoder};
use crate::roberta_tokenizer::{LengthLimit, RobertaTokenizer};

/// The layer bert_score's `model2layers` picks for the RoBERTa models it lists (its tuned
/// choice per model name; `lang='en'` means `roberta-large`, layer 17).
pub fn default_layer(model_name: &str) -> Option<usize> {
    let name = model_name
        .trim_end_matches('/')
        .strip_prefix("FacebookAI/")
        .or_else(|| model_name.strip_prefix("openai-community/"))
        .unwrap_or(model_name);
    Some(match name {
        "roberta-base" => 10,
        "roberta-large" => 17,
        "roberta-large-mnli" => 19,
        "roberta-base-openai-detector" => 7,
        "roberta-large-openai-detector" => 15,
        "distilroberta-base" | "distilbert/distilroberta-base" => 5,
        _ => return None,
    })
}

/// A model folder's files, as bytes (the browser hands bytes, not paths).
#[derive(Default)]
pub struct BertScoreFiles {
    pub config_json: Vec<u8>,
    pub weights: Vec<u8>,
    /// The weights' file name, for messages.
    pub weights_name: String,
    pub vocab_json: Option<Vec<u8>>,
    pub merges_txt: Option<Vec<u8>>,
    pub tokenizer_json: Option<Vec<u8>>,
    pub tokenizer_config_json: Option<Vec<u8>>,
}

impl BertScoreFiles {
    /// `medhall_metrics::signature::bertscore_files_hash` of exactly the files [`BertScorer::load`]
    /// reads: config.json, the weights, vocab.json + merges.txt when both are there (else
    /// tokenizer.json) and tokenizer_config.json, so a change to any of them changes B.Score's
    /// signature and the key of its kept values, and a file that is not read changes neither.
    pub fn content_hash(&self) -> String {
        let mut files: Vec<(&str, &[u8])> = vec![
            ("config.json", &self.config_json),
            ("model.safetensors", &self.weights),
        ];
        match (&self.vocab_json, &self.merges_txt, &self.tokenizer_json) {
            (Some(vocab), Some(merges), _) => {
                files.push(("vocab.json", vocab));
                files.push(("merges.txt", merges));
            }
            (_, _, Some(json)) => files.push(("tokenizer.json", json)),
            _ => {}
        }
        if let Some(config) = &self.tokenizer_config_json {
            files.push(("tokenizer_config.json", config));
        }
        bertscore_files_hash(files)
    }
}

/// The tokenizer and the encoder of one model folder, cut to one layer.
pub struct BertScorer {
    pub tokenizer: RobertaTokenizer,
    pub encoder: RobertaEncoder,
    /// The length sentences are cut to (`<s>`/`</s>` included).
    pub max_tokens: usize,
    /// Set when the tokenizer's `model_max_length` was missing or beyond the position table:
    /// bert_score would not truncate there, and the model would fail on a longer sentence.
    pub length_note: Option<String>,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct BertScoreRun {
    pub scores: Vec<BertScore>,
    /// Distinct sentences encoded.
    pub sentences: usize,
    /// Distinct sentences cut at the maximum length.
    pub truncated: usize,
    pub empty: EmptySides,
}

impl BertScorer {
    pub fn load(
        files: &BertScoreFiles,
        layer: usize,
        device: &Device,
    ) -> Result<BertScorer, ModelError> {
        let config = RobertaConfig::parse(&files.config_json)?;
        let tokenizer = match (&files.vocab_json, &files.merges_txt, &files.tokenizer_json) {
            (Some(vocab), Some(merges), _) => RobertaTokenizer::from_vocab_merges(
                vocab,
                merges,
                files.tokenizer_config_json.as_deref(),
            )?,
            (_, _, Some(json)) => {
                RobertaTokenizer::from_tokenizer_json(json, files.tokenizer_config_json.as_deref())?
            }
            _ => {
                return Err(ModelError::Input(
                    "the model folder has neither vocab.json + merges.txt nor tokenizer.json"
                        .to_owned(),
                ));
            }
        };
        if tokenizer.max_id() as usize >= config.vocab_size {
            return Err(ModelError::Field {
                file: "config.json".to_owned(),
                field: "vocab_size".to_owned(),
                message: format!(
                    "{} is too small for the tokenizer's ids (up to {}): the tokenizer is not this model's",
                    config.vocab_size,
                    tokenizer.max_id()
                ),
            });
        }
        let positions = config.max_tokens();
        let (max_tokens, length_note) = match tokenizer.limit {
            LengthLimit::Configured(n) if n <= positions => (n, None),
            LengthLimit::Configured(n) => (
                positions,
                Some(format!(
                    "model_max_length {n} exceeds the model's {positions} positions: sentences are cut at {positions} tokens (bert_score would fail on longer ones)"
                )),
            ),
            LengthLimit::Unset => (
                positions,
                Some(format!(
                    "no model_max_length in tokenizer_config.json: sentences are cut at the model's {positions} positions (bert_score would not cut them and fail on longer ones)"
                )),
            ),
        };
        let encoder =
            RobertaEncoder::load(config, &files.weights_name, &files.weights, layer, device)?;
        Ok(BertScorer {
            tokenizer,
            encoder,
            max_tokens,
            length_note,
        })
    }

    /// BERTScore of each `(cands[i], refs[i])`. `progress(done, total)` is called after each
    /// batch of distinct sentences. All pairs form one unit: the distinct sentences are encoded
    /// sorted by length over the whole list, as bert_score does.
    pub fn score(
        &self,
        cands: &[&str],
        refs: &[&str],
        batch_size: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BertScoreRun, ModelError> {
        let mut job = self.job(cands, refs, batch_size, usize::MAX, &[])?;
        let mut scores = vec![None; cands.len()];
        loop {
            // Chunks are matched inside `next_batch`, so take them after it.
            let next = job.next_batch()?;
            for chunk in job.take_finished() {
                for (k, score) in chunk.scores.into_iter().enumerate() {
                    scores[chunk.start + k] = Some(score);
                }
            }
            let Some(batch) = next else {
                break;
            };
            let rows = self.encoder.encode_batch(&batch)?;
            job.accept(rows)?;
            progress(job.sentences_done(), job.sentences_total());
        }
        let scores = scores
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ModelError::Input("a pair was left unscored".to_owned()))?;
        Ok(BertScoreRun {
            scores,
            sentences: job.sentences_total(),
            truncated: job.truncated(),
            empty: job.empty(),
        })
    }

    /// A resumable computation of the same scores (see [`ScoreJob`]). `done[i]` marks pairs
    /// already scored (kept from an earlier, interrupted run): a chunk of `batch_size` pairs
    /// whose every pair is done is skipped. `chunks_per_unit` chunks of pairs are encoded
    /// together (their distinct sentences sorted by length); `usize::MAX` makes one unit, as
    /// [`BertScorer::score`].
    pub fn job(
        &self,
        cands: &[&str],
        refs: &[&str],
        batch_size: usize,
        chunks_per_unit: usize,
        done: &[bool],
    ) -> Result<ScoreJob, ModelError> {
        if cands.len() != refs.len() {
            return Err(ModelError::Input(format!(
                "{} candidates and {} references",
                cands.len(),
                refs.len()
            )));
        }
        let batch_size = batch_size.max(1);
        // Distinct sentences in first-appearance order over refs + cands, as bert_score's list.
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        for &s in refs.iter().chain(cands) {
            index.entry(s).or_insert_with(|| {
                distinct.push(s);
                distinct.len() - 1
            });
        }
        let pairs: Vec<(usize, usize)> = cands
            .iter()
            .zip(refs)
            .map(|(c, r)| (index[*c], index[*r]))
            .collect();
        // Chunks of pairs still to score, grouped into units.
        let chunks: Vec<usize> = (0..pairs.len().div_ceil(batch_size))
            .filter(|&c| {
                let end = ((c + 1) * batch_size).min(pairs.len());
                (c * batch_size..end).any(|i| !done.get(i).copied().unwrap_or(false))
            })
            .collect();
        let units: Vec<Vec<usize>> = chunks
            .chunks(chunks_per_unit.max(1))
            .map(<[usize]>::to_vec)
            .collect();
        // The sentences each unit needs, and the last unit that needs each sentence.
        let mut last_use: Vec<Option<usize>> = vec![None; distinct.len()];
        let mut needed: Vec<Vec<usize>> = Vec::with_capacity(units.len());
        for (u, unit) in units.iter().enumerate() {
            let mut seen = Vec::new();
            for &c in unit {
                let end = ((c + 1) * batch_size).min(pairs.len());
                for &(cand, reference) in &pairs[c * batch_size..end] {
                    for s in [reference, cand] {
                        if last_use[s] != Some(u) {
                            last_use[s] = Some(u);
                            seen.push(s);
                        }
                    }
                }
            }
            needed.push(seen);
        }
        let mut encoded: Vec<Option<Vec<u32>>> = vec![None; distinct.len()];
        let mut truncated = 0;
        let mut total = 0;
        for (i, s) in distinct.iter().enumerate() {
            if last_use[i].is_some() {
                let e = self.tokenizer.encode(s, self.max_tokens)?;
                truncated += usize::from(e.truncated);
                total += 1;
                encoded[i] = Some(e.ids);
            }
        }
        let words: Vec<usize> = distinct.iter().map(|s| s.split(' ').count()).collect();
        Ok(ScoreJob {
            batch_size,
            hidden: self.encoder.config.hidden_size,
            cls_id: self.tokenizer.cls_id,
            sep_id: self.tokenizer.sep_id,
            encoded,
            words,
            pairs,
            units,
            needed,
            last_use,
            unit: 0,
            queue: Vec::new(),
            queued_for: None,
            in_flight: None,
            vectors: HashMap::new(),
            finished: Vec::new(),
            total,
            encoded_count: 0,
            truncated,
            empty: EmptySides::default(),
        })
    }
}

/// The scores of one chunk of pairs: `scores[k]` is pair `start + k`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkScores {
    pub start: usize,
    pub scores: Vec<BertScore>,
}

/// A BERTScore computation that hands out encoder batches and takes their rows back, so the
/// caller decides how to run the encoder (synchronously natively, with an asynchronous
/// read-back in the browser), can stop between batches, and keeps each chunk's scores as soon
/// as it is complete. The scores equal [`BertScorer::score`]'s: the pairs are matched in the
/// same chunks of `batch_size` (bert_score's padding effect included); only the grouping of
/// sentences into encoder batches differs between units, which moves floating-point noise.
///
/// Each unit's distinct sentences (those not kept from an earlier unit) are encoded sorted by
/// word count, longest first, in batches of `batch_size`; a sentence's vectors are kept until
/// the last unit that needs it, so identical sentences are encoded once.
pub struct ScoreJob {
    batch_size: usize,
    hidden: usize,
    cls_id: u32,
    sep_id: u32,
    /// Token ids of each distinct sentence some unit needs.
    encoded: Vec<Option<Vec<u32>>>,
    words: Vec<usize>,
    pairs: Vec<(usize, usize)>,
    /// Chunk indices per unit.
    units: Vec<Vec<usize>>,
    /// Distinct sentences per unit.
    needed: Vec<Vec<usize>>,
    last_use: Vec<Option<usize>>,
    /// The unit being encoded.
    unit: usize,
    /// Sentences of `unit` still to encode, in encoding order.
    queue: Vec<usize>,
    queued_for: Option<usize>,
    in_flight: Option<Vec<usize>>,
    vectors: HashMap<usize, SentenceVectors>,
    finished: Vec<ChunkScores>,
    total: usize,
    encoded_count: usize,
    truncated: usize,
    empty: EmptySides,
}

impl ScoreJob {
    /// Distinct sentences this job encodes.
    pub fn sentences_total(&self) -> usize {
        self.total
    }

    pub fn sentences_done(&self) -> usize {
        self.encoded_count
    }

    /// Distinct sentences cut at the maximum length.
    pub fn truncated(&self) -> usize {
        self.truncated
    }

    /// Pairs matched so far with an empty side.
    pub fn empty(&self) -> EmptySides {
        self.empty
    }

    /// Pairs this job scores (every pair of a chunk that is not done).
    pub fn pairs_to_score(&self) -> usize {
        self.units
            .iter()
            .flatten()
            .map(|&c| ((c + 1) * self.batch_size).min(self.pairs.len()) - c * self.batch_size)
            .sum()
    }

    /// Chunks whose scores are complete since the last call (chunks are matched inside
    /// [`ScoreJob::next_batch`]: call this after it).
    pub fn take_finished(&mut self) -> Vec<ChunkScores> {
        std::mem::take(&mut self.finished)
    }

    /// The token ids of the next encoder batch, or `None` when every unit is scored. Units
    /// whose sentences are all known are matched on the way (see [`ScoreJob::take_finished`]).
    pub fn next_batch(&mut self) -> Result<Option<Vec<Vec<u32>>>, ModelError> {
        if let Some(batch) = &self.in_flight {
            return Ok(Some(self.ids(batch)));
        }
        while self.unit < self.units.len() {
            if self.queued_for != Some(self.unit) {
                let mut queue: Vec<usize> = self.needed[self.unit]
                    .iter()
                    .copied()
                    .filter(|s| !self.vectors.contains_key(s))
                    .collect();
                // Longest first; ties in first-appearance order (a stable sort of indices).
                queue.sort_by_key(|&s| (std::cmp::Reverse(self.words[s]), s));
                queue.reverse(); // popped from the end
                self.queue = queue;
                self.queued_for = Some(self.unit);
            }
            if self.queue.is_empty() {
                self.match_unit()?;
                self.unit += 1;
                continue;
            }
            let take = self.batch_size.min(self.queue.len());
            let batch: Vec<usize> = (0..take).filter_map(|_| self.queue.pop()).collect();
            let ids = self.ids(&batch);
            self.in_flight = Some(batch);
            return Ok(Some(ids));
        }
        Ok(None)
    }

    fn ids(&self, batch: &[usize]) -> Vec<Vec<u32>> {
        batch
            .iter()
            .map(|&s| self.encoded[s].clone().unwrap_or_default())
            .collect()
    }

    /// The encoder's rows for the batch [`ScoreJob::next_batch`] gave (each sentence's
    /// `tokens × hidden` values).
    pub fn accept(&mut self, rows: Vec<Vec<f32>>) -> Result<(), ModelError> {
        let batch = self
            .in_flight
            .take()
            .ok_or_else(|| ModelError::Input("encoder rows without a batch".to_owned()))?;
        if rows.len() != batch.len() {
            return Err(ModelError::Input(format!(
                "{} sentences' rows for a batch of {}",
                rows.len(),
                batch.len()
            )));
        }
        for (s, rows) in batch.into_iter().zip(rows) {
            let ids = self.encoded[s].as_deref().unwrap_or_default();
            let weights = plain_weights(ids, self.cls_id, self.sep_id);
            let vectors = SentenceVectors::new(self.hidden, rows, weights).ok_or_else(|| {
                ModelError::Input("the encoder returned rows of the wrong size".to_owned())
            })?;
            self.vectors.insert(s, vectors);
            self.encoded_count += 1;
        }
        Ok(())
    }

    /// Matches the current unit's chunks and drops the vectors no later unit needs.
    fn match_unit(&mut self) -> Result<(), ModelError> {
        let unit = self.unit;
        for &c in &self.units[unit] {
            let end = ((c + 1) * self.batch_size).min(self.pairs.len());
            let chunk = &self.pairs[c * self.batch_size..end];
            // Local indices: the chunk's sentences in a small table.
            let mut local: HashMap<usize, usize> = HashMap::new();
            let mut table: Vec<SentenceVectors> = Vec::new();
            let mut local_pairs = Vec::with_capacity(chunk.len());
            for &(cand, reference) in chunk {
                let mut slot = |s: usize| -> Result<usize, ModelError> {
                    if let Some(&i) = local.get(&s) {
                        return Ok(i);
                    }
                    let v = self.vectors.get(&s).ok_or_else(|| {
                        ModelError::Input("a sentence was not encoded".to_owned())
                    })?;
                    table.push(v.clone());
                    local.insert(s, table.len() - 1);
                    Ok(table.len() - 1)
                };
                local_pairs.push((slot(cand)?, slot(reference)?));
            }
            let (scores, empty) = score_pairs(
                &table,
                &local_pairs,
                Matching {
                    batch_size: self.batch_size,
                },
            )
            .ok_or_else(|| ModelError::Input("inconsistent sentence vectors".to_owned()))?;
            self.empty.candidates += empty.candidates;
            self.empty.references += empty.references;
            self.finished.push(ChunkScores {
                start: c * self.batch_size,
                scores,
            });
        }
        let last_use = &self.last_use;
        self.vectors
            .retain(|&s, _| last_use[s].is_some_and(|last| last > unit));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_defaults_follow_model2layers() {
        assert_eq!(default_layer("roberta-large"), Some(17));
        assert_eq!(default_layer("FacebookAI/roberta-large"), Some(17));
        assert_eq!(default_layer("roberta-base"), Some(10));
        assert_eq!(default_layer("my-roberta"), None);
    }

    #[test]
    fn the_content_hash_covers_the_files_read_and_only_them() {
        let files = || BertScoreFiles {
            config_json: b"{}".to_vec(),
            weights: vec![0; 64],
            weights_name: "a/model.safetensors".to_owned(),
            vocab_json: Some(b"{}".to_vec()),
            merges_txt: Some(b"#version".to_vec()),
            tokenizer_json: None,
            tokenizer_config_json: None,
        };
        let base = files().content_hash();
        let mut weight = files();
        weight.weights[40] = 1;
        assert_ne!(weight.content_hash(), base);
        let mut merges = files();
        merges.merges_txt = Some(b"#version 2".to_vec());
        assert_ne!(merges.content_hash(), base);
        let mut config = files();
        config.tokenizer_config_json = Some(b"{}".to_vec());
        assert_ne!(config.content_hash(), base);
        // Where the weights were read from is not their content.
        let mut moved = files();
        moved.weights_name = "b/model.safetensors".to_owned();
        assert_eq!(moved.content_hash(), base);
        // tokenizer.json is not read beside vocab.json + merges.txt.
        let mut unused = files();
        unused.tokenizer_json = Some(b"{}".to_vec());
        assert_eq!(unused.content_hash(), base);
    }
}
