//! ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Google's `rouge_score` 0.1.2 computes them with
//! `RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True).score(target, prediction)`.
//!
//! Its tokenizer lowercases with Python's `str.lower`, turns every run of characters outside
//! `[a-z0-9]` into a separator, and Porter-stems (NLTK) only tokens longer than three characters.

use super::{clipped_overlap, porter};
use crate::fast_hash::FastMap;

/// The three F-measures of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

/// Tokenizes and stems with a cache, so each distinct word is stemmed once per scorer.
/// Tokens become dense ids: two tokens are equal exactly when their stemmed text is.
#[derive(Default)]
pub struct RougeTokenizer {
    by_word: FastMap<Box<str>, u32>,
    by_stem: FastMap<String, u32>,
    buffer: String,
}

impl RougeTokenizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// `rouge_score.tokenize.tokenize(text, PorterStemmer())`, as token ids appended to `out`.
    pub fn tokenize(&mut self, text: &str, out: &mut Vec<u32>) {
        out.clear();
        self.buffer.clear();
        for c in text.chars() {
            // Python's lower() maps exactly two non-ASCII characters to ASCII letters:
            // U+0130 to "i" + U+0307, and U+212A (Kelvin) to "k". Everything else that is not
            // ASCII stays non-ASCII and so becomes a separator.
            let lowered = match c {
                'A'..='Z' => c.to_ascii_lowercase(),
                'a'..='z' | '0'..='9' => c,
                '\u{130}' => 'i',
                '\u{212a}' => 'k',
                _ => ' ',
            };
            if lowered == ' ' {
                self.flush(out);
            } else {
                self.buffer.push(lowered);
            }
            if c == '\u{130}' {
                // The combining dot that follows the "i" is a separator.
                self.flush(out);
            }
        }
        self.flush(out);
    }

    fn flush(&mut self, out: &mut Vec<u32>) {
        if self.buffer.is_empty() {
            return;
        }
        let id = match self.by_word.get(self.buffer.as_str()) {
            Some(&id) => id,
            None => {
                let stemmed = if self.buffer.len() > 3 {
                    porter::stem(&self.buffer)
                } else {
                    self.buffer.clone()
                };
                let next = u32::try_from(self.by_stem.len()).unwrap_or(u32::MAX);
                let id = *self.by_stem.entry(stemmed).or_insert(next);
                self.by_word.insert(self.buffer.as_str().into(), id);
                id
            }
        };
        out.push(id);
        self.buffer.clear();
    }
}

/// `rouge_score.scoring.fmeasure`.
fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// N-gram keys, sorted, so that counts can be intersected by merging.
fn ngram_keys(tokens: &[u32], n: usize, out: &mut Vec<u64>) {
    out.clear();
    match n {
        1 => out.extend(tokens.iter().map(|&t| u64::from(t))),
        _ => out.extend(
            tokens
                .windows(2)
                .map(|w| (u64::from(w[0]) << 32) | u64::from(w[1])),
        ),
    }
    out.sort_unstable();
}

/// `_score_ngrams` for n = 1 or 2.
fn rouge_n(target: &[u32], prediction: &[u32], n: usize, keys: &mut (Vec<u64>, Vec<u64>)) -> f64 {
    ngram_keys(target, n, &mut keys.0);
    ngram_keys(prediction, n, &mut keys.1);
    let overlap = clipped_overlap(&keys.0, &keys.1) as f64;
    let precision = overlap / keys.1.len().max(1) as f64;
    let recall = overlap / keys.0.len().max(1) as f64;
    fmeasure(precision, recall)
}

/// Length of the longest common subsequence, one DP row at a time.
fn lcs_length(a: &[u32], b: &[u32], row: &mut Vec<u32>) -> usize {
    row.clear();
    row.resize(b.len() + 1, 0);
    for &x in a {
        let mut diagonal = 0;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()] as usize
}

/// `_score_lcs`.
fn rouge_l(target: &[u32], prediction: &[u32], row: &mut Vec<u32>) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let lcs = lcs_length(target, prediction, row) as f64;
    fmeasure(lcs / prediction.len() as f64, lcs / target.len() as f64)
}

/// Scratch buffers reused across samples.
#[derive(Default)]
pub struct RougeScratch {
    target: Vec<u32>,
    prediction: Vec<u32>,
    keys: (Vec<u64>, Vec<u64>),
    row: Vec<u32>,
}

/// The three scores for `reference` (rouge_score's target) and `answer` (its prediction).
pub fn rouge(
    tokenizer: &mut RougeTokenizer,
    scratch: &mut RougeScratch,
    reference: &str,
    answer: &str,
) -> RougeScores {
    tokenizer.tokenize(reference, &mut scratch.target);
    tokenizer.tokenize(answer, &mut scratch.prediction);
    let (t, p) = (&scratch.target, &scratch.prediction);
    RougeScores {
        rouge1: rouge_n(t, p, 1, &mut scratch.keys),
        rouge2: rouge_n(t, p, 2, &mut scratch.keys),
        rouge_l: rouge_l(t, p, &mut scratch.row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        // Map ids back through a fresh tokenizer's stem table, for readable assertions.
        let mut tokenizer = RougeTokenizer::new();
        let mut ids = Vec::new();
        tokenizer.tokenize(text, &mut ids);
        let mut names = vec![String::new(); tokenizer.by_stem.len()];
        for (stem, &id) in &tokenizer.by_stem {
            names[id as usize] = stem.clone();
        }
        ids.iter().map(|&id| names[id as usize].clone()).collect()
    }

    #[test]
    fn tokenizer_follows_rouge_score_rules() {
        // Expected values printed by rouge_score.tokenize.tokenize(text, PorterStemmer()).
        assert_eq!(
            tokens("The lesions were enhancing!"),
            ["the", "lesion", "were", "enhanc"]
        );
        assert_eq!(
            tokens("x-ray 12mm µm ±5 İS \u{212a}G"),
            ["x", "ray", "12mm", "m", "5", "i", "s", "kg"]
        );
        assert_eq!(tokens("  ...  "), Vec::<String>::new());
        // Three letters or fewer are never stemmed: "was" stays, "uses" becomes "use".
        assert_eq!(tokens("was uses"), ["was", "use"]);
    }

    #[test]
    fn lcs_and_overlap() {
        let mut row = Vec::new();
        assert_eq!(lcs_length(&[1, 2, 3, 4], &[2, 4, 3, 4], &mut row), 3);
        assert_eq!(lcs_length(&[], &[1], &mut row), 0);
    }

    #[test]
    fn empty_sides_score_zero() {
        let mut tokenizer = RougeTokenizer::new();
        let mut scratch = RougeScratch::default();
        let scores = rouge(&mut tokenizer, &mut scratch, "", "some words");
        assert_eq!(
            scores,
            RougeScores {
                rouge1: 0.0,
                rouge2: 0.0,
                rouge_l: 0.0
            }
        );
        let scores = rouge(&mut tokenizer, &mut scratch, "a b", "a b");
        assert_eq!(
            scores,
            RougeScores {
                rouge1: 1.0,
                rouge2: 1.0,
                rouge_l: 1.0
            }
        );
    }
}
