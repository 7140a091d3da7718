//! ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Google's `rouge_score` 0.1.2 computes them with
//! `RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True).score(target, prediction)`.
//!
//! Its tokenizer lowercases with Python's `str.lower`, turns every run of characters outside
//! `[a-z0-9]` into a separator, and Porter-stems (NLTK) only tokens longer than three characters.

use crate::fast_hash::{FastMap, VOCABULARY_HINT, fast_map_with_capacity};
use crate::ngram::{NgramScratch, clipped_overlaps};
use crate::porter;

/// The three F-measures of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

/// Tokenizes and stems with a cache, so each distinct word is stemmed once per scorer.
/// Tokens become dense ids: two tokens are equal exactly when their stemmed text is.
pub struct RougeTokenizer {
    by_word: FastMap<Box<str>, u32>,
    by_stem: FastMap<String, u32>,
    buffer: String,
}

impl RougeTokenizer {
    pub fn new() -> Self {
        Self {
            by_word: fast_map_with_capacity(VOCABULARY_HINT),
            by_stem: fast_map_with_capacity(VOCABULARY_HINT),
            buffer: String::new(),
        }
    }

    /// `rouge_score.tokenize.tokenize(text, PorterStemmer())`, as token ids in `out` (for
    /// tests; `LexicalScorer` tokenizes word by word and caches the ids).
    #[cfg(test)]
    pub fn tokenize(&mut self, text: &str, out: &mut Vec<u32>) {
        out.clear();
        // Python whitespace is outside [a-z0-9] after lowercasing, so it always separates:
        // tokenizing word by word gives the tokens of the whole text.
        for word in crate::text::python_split(text) {
            self.tokenize_word(word, out);
        }
    }

    /// The tokens of one whitespace-free piece of text, appended to `out`.
    pub fn tokenize_word(&mut self, text: &str, out: &mut Vec<u32>) {
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

/// `_score_ngrams` from the clipped overlap and the n-gram counts of each side.
fn rouge_n(overlap: usize, target_len: usize, prediction_len: usize, n: usize) -> f64 {
    let count = |len: usize| (len + 1).saturating_sub(n).max(1) as f64;
    let overlap = overlap as f64;
    fmeasure(overlap / count(prediction_len), overlap / count(target_len))
}

/// Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one machine word holds
/// 64 columns of the DP table, so a row costs `|b| / 64` word operations instead of `|b|`.
fn lcs_length(a: &[u32], b: &[u32], s: &mut LcsScratch) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let words = b.len().div_ceil(64);
    s.symbols.clear();
    s.symbols.extend_from_slice(b);
    s.symbols.sort_unstable();
    s.symbols.dedup();
    s.masks.clear();
    s.masks.resize(s.symbols.len() * words, 0);
    for (j, y) in b.iter().enumerate() {
        if let Ok(k) = s.symbols.binary_search(y) {
            s.masks[k * words + j / 64] |= 1 << (j % 64);
        }
    }
    s.row.clear();
    s.row.resize(words, !0);
    for x in a {
        let Ok(k) = s.symbols.binary_search(x) else {
            continue; // no match anywhere in b: the row is unchanged
        };
        let matches = &s.masks[k * words..(k + 1) * words];
        let mut carry = false;
        for (v, &m) in s.row.iter_mut().zip(matches) {
            let u = *v & m;
            let (sum, c1) = v.overflowing_add(u);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            carry = c1 || c2;
            *v = sum | (*v & !m);
        }
    }
    let tail = b.len() % 64;
    s.row
        .iter()
        .enumerate()
        .map(|(w, &v)| {
            let valid = if w + 1 == words && tail != 0 {
                (1u64 << tail) - 1
            } else {
                !0
            };
            (!v & valid).count_ones() as usize
        })
        .sum()
}

#[derive(Default)]
struct LcsScratch {
    symbols: Vec<u32>,
    masks: Vec<u64>,
    row: Vec<u64>,
}

/// `_score_lcs`.
fn rouge_l(target: &[u32], prediction: &[u32], lcs: &mut LcsScratch) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let lcs = lcs_length(target, prediction, lcs) as f64;
    fmeasure(lcs / prediction.len() as f64, lcs / target.len() as f64)
}

impl Default for RougeTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

/// Scratch buffers reused across samples.
#[derive(Default)]
pub struct RougeScratch {
    ngrams: NgramScratch,
    lcs: LcsScratch,
}

/// The three scores for `reference` (rouge_score's target) and `answer` (its prediction), from
/// text (for tests; `LexicalScorer` calls [`rouge_tokens`]).
#[cfg(test)]
pub fn rouge(
    tokenizer: &mut RougeTokenizer,
    scratch: &mut RougeScratch,
    reference: &str,
    answer: &str,
) -> RougeScores {
    let (mut target, mut prediction) = (Vec::new(), Vec::new());
    tokenizer.tokenize(reference, &mut target);
    tokenizer.tokenize(answer, &mut prediction);
    rouge_tokens(scratch, &target, &prediction)
}

/// The three scores from token ids of one [`RougeTokenizer`].
pub fn rouge_tokens(scratch: &mut RougeScratch, target: &[u32], prediction: &[u32]) -> RougeScores {
    let mut overlaps = [0; 2];
    clipped_overlaps(target, prediction, &mut scratch.ngrams, &mut overlaps);
    let (t, p) = (target.len(), prediction.len());
    RougeScores {
        rouge1: rouge_n(overlaps[0], t, p, 1),
        rouge2: rouge_n(overlaps[1], t, p, 2),
        rouge_l: rouge_l(target, prediction, &mut scratch.lcs),
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

    /// The textbook DP, as the oracle for the bit-parallel version.
    fn lcs_dp(a: &[u32], b: &[u32]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
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
        row[b.len()]
    }

    #[test]
    fn lcs_and_overlap() {
        let mut scratch = LcsScratch::default();
        assert_eq!(lcs_length(&[1, 2, 3, 4], &[2, 4, 3, 4], &mut scratch), 3);
        assert_eq!(lcs_length(&[], &[1], &mut scratch), 0);
    }

    proptest::proptest! {
        /// Lengths around and beyond 64 and 128 exercise the carries between words.
        #[test]
        fn bit_parallel_lcs_equals_dp(
            a in proptest::collection::vec(0u32..6, 0..200),
            b in proptest::collection::vec(0u32..6, 0..200),
        ) {
            let mut scratch = LcsScratch::default();
            proptest::prop_assert_eq!(lcs_length(&a, &b, &mut scratch), lcs_dp(&a, &b));
            proptest::prop_assert_eq!(lcs_length(&b, &a, &mut scratch), lcs_dp(&a, &b));
        }
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
