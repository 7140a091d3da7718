//! BERTScore's matching step, as `bert_score` 0.3.13 computes it (`score` with `idf=False`,
//! no baseline rescaling), on token vectors an encoder produced (the encoder is in
//! `medhall-model`). Plain f32 arithmetic, like the PyTorch original.
//!
//! What `bert_score` 0.3.13 does (read from `score.py` and `utils.py`), end to end:
//! - **Encoding a sentence** (`sent_encode`): `sent.strip()` (Python's whitespace); an empty
//!   result is `build_inputs_with_special_tokens([])`, i.e. `<s></s>`. Otherwise, for the slow
//!   `RobertaTokenizer`: `encode(sent, add_special_tokens=True, add_prefix_space=True,
//!   max_length=model_max_length, truncation=True)`: special-token text in the sentence is split
//!   out first, a space is put in front, byte-level BPE, the ids are cut to
//!   `model_max_length - 2` (from the end) and wrapped in `<s>` … `</s>`.
//! - **Weights** (`idf=False`): every token weighs 1, except `tokenizer.sep_token_id` and
//!   `cls_token_id` (`</s>` and `<s>` for RoBERTa) which weigh 0, wherever they occur. They stay
//!   inside the similarity matrix: a real token may find its best match in a `<s>` or `</s>`.
//! - **Embedding** (`bert_cos_score_idf`): the distinct sentences of `refs + cands`
//!   (`set`, then sorted by `len(s.split(" "))`, longest first; Python's set order decides ties)
//!   are encoded in batches of `batch_size`, right-padded with the pad id under an attention mask;
//!   a sentence's vectors are the encoder's output rows for its own tokens. Padding changes no
//!   real row except by floating-point noise.
//! - **Matching** (`greedy_cos_idf`), for the pairs in their given order in chunks of
//!   `batch_size`: each side's vectors are right-padded (with the value 2.0) to the chunk's
//!   longest sentence on that side, every row is divided by its L2 norm, `sim = hyp · refᵀ`
//!   (`hyp` = candidate) and then multiplied by the 0/1 mask of real rows × real columns, so
//!   **padded entries are 0**. Word precision = max over the row (ref tokens, padded columns
//!   included), word recall = max over the column (hyp tokens, padded rows included). Hence
//!   the batch effect: a token whose best cosine is negative scores 0 instead when the other
//!   side is shorter than that side's longest sentence in its chunk. Weights are divided by
//!   their sum; `P = Σ precision·w_hyp`, `R = Σ recall·w_ref`, `F = 2PR / (P + R)`.
//! - **Empty sentences**: a side with exactly 2 tokens (`<s></s>`) has weight sum 0, so its
//!   weights are NaN; `F` is computed first (NaN), then P and R of the pair are set to 0 (with a
//!   warning on stderr), then every NaN `F` becomes 0. A P or R that is NaN for another reason
//!   (a longer sentence made only of `<s>`/`</s>` tokens) stays NaN.
//! - `score()` returns P (from the candidates), R (from the references) and F; the benchmark
//!   calls it as `score(cands=gpt4_answers, refs=answers, lang='en')`.
//!
//! [`score_pairs`] takes the distinct sentences' vectors once and the pairs as indices into them;
//! [`Matching::batch_size`] decides the padding effect (64, bert_score's default, reproduces
//! `score()` bit for bit in its use of padding; 1 has no padding at all).

/// One sentence's token vectors, L2-normalised row by row as bert_score does, with each token's
/// weight (0 for `<s>`/`</s>`, 1 otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceVectors {
    dim: usize,
    /// `tokens × dim`, row-major, each row divided by its norm.
    rows: Vec<f32>,
    weights: Vec<f32>,
}

impl SentenceVectors {
    /// From the encoder's rows (`tokens × dim`, row-major) and the tokens' weights. `None` when
    /// the lengths disagree or `dim` is 0.
    pub fn new(dim: usize, mut rows: Vec<f32>, weights: Vec<f32>) -> Option<SentenceVectors> {
        if dim == 0 || rows.len() != weights.len() * dim {
            return None;
        }
        for row in rows.chunks_exact_mut(dim) {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt() as f32;
            for v in row.iter_mut() {
                *v /= norm;
            }
        }
        Some(SentenceVectors { dim, rows, weights })
    }

    pub fn tokens(&self) -> usize {
        self.weights.len()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// The weights divided by their sum, in f32 (NaN for a sentence whose weights are all 0).
    fn scaled_weights(&self) -> Vec<f32> {
        let sum: f32 = self.weights.iter().sum();
        self.weights.iter().map(|w| w / sum).collect()
    }
}

/// P, R and F1 of one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BertScore {
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
}

/// How pairs are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matching {
    /// Pairs are matched in chunks of this many, in their order, with bert_score's padding:
    /// 64 (the default) gives `score()`'s numbers including the batch effect; 1 gives each pair
    /// on its own (a negative best match stays negative).
    pub batch_size: usize,
}

impl Default for Matching {
    fn default() -> Matching {
        Matching { batch_size: 64 }
    }
}

/// Whether a pair was matched with a side that bert_score treats as empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmptySides {
    pub candidates: usize,
    pub references: usize,
}

/// BERTScore of each `(candidate, reference)` pair, given as indices into `sentences`. Returns
/// the scores in pair order and how many pairs had an empty candidate or reference (bert_score's
/// warnings). `None` when an index is out of range or the sentences' dimensions differ.
pub fn score_pairs(
    sentences: &[SentenceVectors],
    pairs: &[(usize, usize)],
    matching: Matching,
) -> Option<(Vec<BertScore>, EmptySides)> {
    let dim = sentences.first().map_or(0, |s| s.dim);
    if sentences.iter().any(|s| s.dim != dim)
        || pairs
            .iter()
            .any(|&(c, r)| c >= sentences.len() || r >= sentences.len())
    {
        return None;
    }
    let mut scores = Vec::with_capacity(pairs.len());
    let mut empty = EmptySides::default();
    for chunk in pairs.chunks(matching.batch_size.max(1)) {
        let longest_cand = chunk.iter().map(|&(c, _)| sentences[c].tokens()).max();
        let longest_ref = chunk.iter().map(|&(_, r)| sentences[r].tokens()).max();
        for &(c, r) in chunk {
            let (cand, reference) = (&sentences[c], &sentences[r]);
            let score = score_pair(
                cand,
                reference,
                Some(cand.tokens()) != longest_cand,
                Some(reference.tokens()) != longest_ref,
            );
            empty.candidates += usize::from(cand.tokens() == 2);
            empty.references += usize::from(reference.tokens() == 2);
            scores.push(score);
        }
    }
    Some((scores, empty))
}

/// NaN-propagating maximum, as torch's `max` (f32's `max` would skip a NaN).
fn torch_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// One pair. `cand_padded`: the candidate is shorter than the longest candidate of its chunk,
/// so padded (zero) rows take part in every column's maximum; likewise `ref_padded`.
fn score_pair(
    cand: &SentenceVectors,
    reference: &SentenceVectors,
    cand_padded: bool,
    ref_padded: bool,
) -> BertScore {
    let (n, m) = (cand.tokens(), reference.tokens());
    let mut sim = vec![0f32; n * m];
    for i in 0..n {
        let a = cand.row(i);
        for j in 0..m {
            let b = reference.row(j);
            sim[i * m + j] = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum::<f64>() as f32;
        }
    }
    let padding_start = |padded: bool| if padded { 0.0 } else { f32::NEG_INFINITY };
    let precision_rows = (0..n).map(|i| {
        sim[i * m..(i + 1) * m]
            .iter()
            .fold(padding_start(ref_padded), |acc, &v| torch_max(acc, v))
    });
    let recall_cols = (0..m).map(|j| {
        (0..n)
            .map(|i| sim[i * m + j])
            .fold(padding_start(cand_padded), torch_max)
    });
    let precision: f32 = precision_rows
        .zip(cand.scaled_weights())
        .map(|(v, w)| v * w)
        .sum();
    let recall: f32 = recall_cols
        .zip(reference.scaled_weights())
        .map(|(v, w)| v * w)
        .sum();
    let mut f1 = 2.0 * precision * recall / (precision + recall);
    let empty = n == 2 || m == 2;
    let (precision, recall) = if empty {
        (0.0, 0.0)
    } else {
        (precision, recall)
    };
    if f1.is_nan() {
        f1 = 0.0;
    }
    BertScore {
        precision,
        recall,
        f1,
    }
}

/// bert_score's token weights with `idf=False`: 0 for `cls_id` and `sep_id`, 1 otherwise.
pub fn plain_weights(ids: &[u32], cls_id: u32, sep_id: u32) -> Vec<f32> {
    ids.iter()
        .map(|&id| {
            if id == cls_id || id == sep_id {
                0.0
            } else {
                1.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(rows: &[[f32; 2]], weights: &[f32]) -> SentenceVectors {
        SentenceVectors::new(2, rows.concat(), weights.to_vec()).expect("consistent")
    }

    #[test]
    fn identical_sentences_score_one() {
        let s = sentence(
            &[[1., 0.], [3., 4.], [0., -2.], [0., 1.]],
            &[0., 1., 1., 0.],
        );
        let (scores, empty) = score_pairs(&[s], &[(0, 0)], Matching::default()).expect("test data");
        assert!((scores[0].f1 - 1.0).abs() < 1e-6, "{scores:?}");
        assert_eq!(empty, EmptySides::default());
    }

    #[test]
    fn greedy_matching_weights_and_harmonic_mean() {
        // cand tokens: <s>, x=(1,0), </s>; ref: <s>, y=(0,1), z=(1,1)/√2, </s>.
        let special = [0.6f32, 0.8];
        let cand = sentence(&[special, [1., 0.], special], &[0., 1., 0.]);
        let reference = sentence(&[special, [0., 1.], [1., 1.], special], &[0., 1., 1., 0.]);
        let (scores, _) =
            score_pairs(&[cand, reference], &[(0, 1)], Matching::default()).expect("test data");
        let half = std::f32::consts::FRAC_1_SQRT_2;
        // P: x's best match is z (0.707). R: y's and z's best are the candidate's special token
        // (0.8 and 0.99): weighted 0 as a row, a special token still competes as a match.
        let (p, r) = (half, (0.8 + 1.4 * half) / 2.0);
        assert!((scores[0].precision - p).abs() < 1e-6);
        assert!((scores[0].recall - r).abs() < 1e-6);
        assert!((scores[0].f1 - 2.0 * p * r / (p + r)).abs() < 1e-6);
    }

    #[test]
    fn padding_turns_negative_best_matches_into_zero() {
        // A one-token candidate opposite to everything in its reference.
        let special = [0.0f32, 1.0];
        let cand = sentence(&[special, [1., 0.], special], &[0., 1., 0.]);
        let reference = sentence(&[[-0.2, -1.], [-1., 0.1], [-0.2, -1.]], &[0., 1., 0.]);
        let longer = sentence(&[special, [1., 0.], [1., 0.], special], &[0., 1., 1., 0.]);
        let sentences = [cand, reference, longer];
        let alone =
            score_pairs(&sentences, &[(0, 1)], Matching { batch_size: 1 }).expect("test data");
        assert!(alone.0[0].precision < -0.1, "{alone:?}");
        // Beside a pair with a longer reference, the reference is padded: P's max sees a 0.
        let batched =
            score_pairs(&sentences, &[(0, 1), (0, 2)], Matching::default()).expect("test data");
        assert_eq!(batched.0[0].precision, 0.0);
        // Batch size 1 is pair by pair whatever the neighbours.
        let separate = score_pairs(&sentences, &[(0, 1), (0, 2)], Matching { batch_size: 1 });
        assert_eq!(separate.expect("test data").0[0], alone.0[0]);
    }

    #[test]
    fn empty_sides_score_zero_and_are_counted() {
        let special = [0.0f32, 1.0];
        let empty = sentence(&[special, [1., 0.]], &[0., 0.]);
        let word = sentence(&[special, [1., 1.], special], &[0., 1., 0.]);
        let (scores, counted) = score_pairs(
            &[empty, word],
            &[(0, 1), (1, 0), (0, 0)],
            Matching::default(),
        )
        .expect("test data");
        for s in &scores {
            assert_eq!((s.precision, s.recall, s.f1), (0.0, 0.0, 0.0));
        }
        assert_eq!(
            counted,
            EmptySides {
                candidates: 2,
                references: 2
            }
        );
    }

    #[test]
    fn nan_precision_of_an_all_special_sentence_stays_nan_but_f1_is_zero() {
        let special = [0.0f32, 1.0];
        let specials = sentence(&[special, special, special], &[0., 0., 0.]);
        let word = sentence(&[special, [1., 1.], special], &[0., 1., 0.]);
        let (scores, _) =
            score_pairs(&[specials, word], &[(0, 1)], Matching::default()).expect("test data");
        assert!(scores[0].precision.is_nan());
        assert_eq!(scores[0].f1, 0.0);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(SentenceVectors::new(2, vec![1.0; 3], vec![1.0, 1.0]).is_none());
        assert!(SentenceVectors::new(0, vec![], vec![]).is_none());
        let s = sentence(&[[1., 0.]], &[1.]);
        assert!(score_pairs(&[s], &[(0, 1)], Matching::default()).is_none());
        assert_eq!(plain_weights(&[0, 5, 2, 7], 0, 2), vec![0., 1., 0., 1.]);
    }
}
