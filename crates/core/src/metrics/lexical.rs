//! The five lexical metrics of one sample, computed together with shared caches.

use super::bleu::{BleuTokenizer, sentence_bleu};
use super::meteor::MeteorScorer;
use super::rouge::{RougeScratch, RougeTokenizer, rouge};
use super::wordnet::WordNet;
use serde::{Deserialize, Serialize};

/// ROUGE-1/2/L F-measures, METEOR and BLEU of one answer against its reference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LexicalScores {
    pub rouge1: f64,
    pub rouge2: f64,
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
    pub meteor: f64,
    pub bleu: f64,
}

/// Scores pairs one after another. Not thread-safe by design: give each thread its own; the
/// caches (stems, synonyms, token ids) make repeated vocabulary cheap.
pub struct LexicalScorer<'w> {
    rouge_tokenizer: RougeTokenizer,
    rouge_scratch: RougeScratch,
    meteor: MeteorScorer<'w>,
    bleu_tokenizer: BleuTokenizer,
    bleu_tokens: (Vec<u32>, Vec<u32>),
    bleu_keys: (Vec<u128>, Vec<u128>),
}

impl<'w> LexicalScorer<'w> {
    pub fn new(wordnet: &'w WordNet) -> Self {
        Self {
            rouge_tokenizer: RougeTokenizer::new(),
            rouge_scratch: RougeScratch::default(),
            meteor: MeteorScorer::new(wordnet),
            bleu_tokenizer: BleuTokenizer::new(),
            bleu_tokens: (Vec::new(), Vec::new()),
            bleu_keys: (Vec::new(), Vec::new()),
        }
    }

    /// All five metrics, with `reference` as the benchmark's `gpt4_answer` and `answer` the model's.
    pub fn score(&mut self, reference: &str, answer: &str) -> LexicalScores {
        let rouge = rouge(
            &mut self.rouge_tokenizer,
            &mut self.rouge_scratch,
            reference,
            answer,
        );
        let meteor = self.meteor.score(reference, answer);
        self.bleu_tokenizer
            .tokenize(reference, &mut self.bleu_tokens.0);
        self.bleu_tokenizer
            .tokenize(answer, &mut self.bleu_tokens.1);
        let bleu = sentence_bleu(
            &self.bleu_tokens.0,
            &self.bleu_tokens.1,
            &mut self.bleu_keys,
        );
        LexicalScores {
            rouge1: rouge.rouge1,
            rouge2: rouge.rouge2,
            rouge_l: rouge.rouge_l,
            meteor,
            bleu,
        }
    }
}
