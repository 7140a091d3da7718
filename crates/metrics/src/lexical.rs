//! The five lexical metrics of one sample, computed together with shared caches.

use crate::bleu::sentence_bleu;
use crate::fast_hash::{FastMap, VOCABULARY_HINT, fast_map_with_capacity};
use crate::meteor::MeteorScorer;
use crate::ngram::NgramScratch;
use crate::rouge::{RougeScratch, RougeTokenizer, rouge_tokens};
use crate::text::python_split;
use crate::wordnet::WordNet;
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

/// What one distinct whitespace token means to each metric. BLEU compares tokens as they are,
/// so the token's own index is its BLEU id.
struct TokenInfo {
    meteor_word: u32,
    /// Range in `rouge_ids`: a token like "x-ray," is several ROUGE tokens.
    rouge_start: u32,
    rouge_len: u32,
}

/// One side of a pair, as each metric sees it.
#[derive(Default)]
struct Side {
    bleu: Vec<u32>,
    meteor: Vec<u32>,
    rouge: Vec<u32>,
}

/// Scores pairs one after another. Not thread-safe by design: give each thread its own; the
/// caches (stems, synonyms, token ids) make repeated vocabulary cheap. Every whitespace token
/// (Python's `str.split()`) is looked up once, and its ids for all three metrics come with it.
pub struct LexicalScorer<'w> {
    tokens: FastMap<Box<str>, u32>,
    infos: Vec<TokenInfo>,
    rouge_ids: Vec<u32>,
    rouge_tokenizer: RougeTokenizer,
    rouge_scratch: RougeScratch,
    meteor: MeteorScorer<'w>,
    sides: (Side, Side),
    bleu_scratch: NgramScratch,
}

impl<'w> LexicalScorer<'w> {
    pub fn new(wordnet: &'w WordNet) -> Self {
        Self {
            tokens: fast_map_with_capacity(VOCABULARY_HINT),
            infos: Vec::new(),
            rouge_ids: Vec::new(),
            rouge_tokenizer: RougeTokenizer::new(),
            rouge_scratch: RougeScratch::default(),
            meteor: MeteorScorer::new(wordnet),
            sides: (Side::default(), Side::default()),
            bleu_scratch: NgramScratch::default(),
        }
    }

    fn token(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.tokens.get(token) {
            return id;
        }
        let id = u32::try_from(self.infos.len()).unwrap_or(u32::MAX);
        let start = self.rouge_ids.len();
        self.rouge_tokenizer
            .tokenize_word(token, &mut self.rouge_ids);
        self.infos.push(TokenInfo {
            meteor_word: self.meteor.word(token),
            rouge_start: u32::try_from(start).unwrap_or(u32::MAX),
            rouge_len: u32::try_from(self.rouge_ids.len() - start).unwrap_or(0),
        });
        self.tokens.insert(token.into(), id);
        id
    }

    fn split(&mut self, text: &str, side: &mut Side) {
        side.bleu.clear();
        side.meteor.clear();
        side.rouge.clear();
        for token in python_split(text) {
            let id = self.token(token);
            let info = &self.infos[id as usize];
            side.bleu.push(id);
            side.meteor.push(info.meteor_word);
            let start = info.rouge_start as usize;
            side.rouge
                .extend_from_slice(&self.rouge_ids[start..start + info.rouge_len as usize]);
        }
    }

    /// All five metrics, with `reference` as the benchmark's `gpt4_answer` and `answer` the model's.
    pub fn score(&mut self, reference: &str, answer: &str) -> LexicalScores {
        let (mut reference_side, mut answer_side) = std::mem::take(&mut self.sides);
        self.split(reference, &mut reference_side);
        self.split(answer, &mut answer_side);
        let rouge = rouge_tokens(
            &mut self.rouge_scratch,
            &reference_side.rouge,
            &answer_side.rouge,
        );
        let meteor = self
            .meteor
            .score_words(&reference_side.meteor, &answer_side.meteor);
        let bleu = sentence_bleu(
            &reference_side.bleu,
            &answer_side.bleu,
            &mut self.bleu_scratch,
        );
        self.sides = (reference_side, answer_side);
        LexicalScores {
            rouge1: rouge.rouge1,
            rouge2: rouge.rouge2,
            rouge_l: rouge.rouge_l,
            meteor,
            bleu,
        }
    }
}
