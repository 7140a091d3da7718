//! BERTScore end to end, as `bert_score` 0.3.13's `score(cands, refs, model_type, num_layers,
//! batch_size)` computes it with `idf=False` and no rescaling: the tokenizer
//! ([`crate::roberta_tokenizer`]), the encoder cut to N layers ([`crate::roberta`]) and the
//! matching of `medhall_core::metrics::bertscore` (whose module doc states the semantics).
//!
//! Distinct sentences of `refs + cands` are encoded once, sorted by `len(s.split(" "))`, longest
//! first, in batches of `batch_size` (ties keep first-appearance order; Python's set order,
//! which changes with the hash seed, decides them there: it moves only floating-point noise).
//! Pairs are matched in their order in chunks of the same `batch_size`, with bert_score's
//! padding effect.

use burn::prelude::Device;
use medhall_core::metrics::bertscore::{
    BertScore, EmptySides, Matching, SentenceVectors, plain_weights, score_pairs,
};
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
    /// batch of distinct sentences.
    pub fn score(
        &self,
        cands: &[&str],
        refs: &[&str],
        batch_size: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BertScoreRun, ModelError> {
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
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(distinct[i].split(' ').count()));
        let mut encoded = Vec::with_capacity(distinct.len());
        let mut truncated = 0;
        for s in &distinct {
            let e = self.tokenizer.encode(s, self.max_tokens)?;
            truncated += usize::from(e.truncated);
            encoded.push(e.ids);
        }
        let mut vectors: Vec<Option<SentenceVectors>> = vec![None; distinct.len()];
        let hidden = self.encoder.config.hidden_size;
        let mut done = 0;
        for chunk in order.chunks(batch_size) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| encoded[i].clone()).collect();
            let rows = self.encoder.encode_batch(&batch)?;
            for (&i, rows) in chunk.iter().zip(rows) {
                let weights =
                    plain_weights(&encoded[i], self.tokenizer.cls_id, self.tokenizer.sep_id);
                vectors[i] = SentenceVectors::new(hidden, rows, weights);
            }
            done += chunk.len();
            progress(done, distinct.len());
        }
        let vectors: Vec<SentenceVectors> =
            vectors.into_iter().collect::<Option<_>>().ok_or_else(|| {
                ModelError::Input("the encoder returned rows of the wrong size".to_owned())
            })?;
        let pairs: Vec<(usize, usize)> = cands
            .iter()
            .zip(refs)
            .map(|(c, r)| (index[*c], index[*r]))
            .collect();
        let (scores, empty) = score_pairs(&vectors, &pairs, Matching { batch_size })
            .ok_or_else(|| ModelError::Input("inconsistent sentence vectors".to_owned()))?;
        Ok(BertScoreRun {
            scores,
            sentences: distinct.len(),
            truncated,
            empty,
        })
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
}
