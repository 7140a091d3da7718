//! Sentence BLEU as NLTK 3.10.4 computes it with
//! `sentence_bleu([reference.split()], answer.split(), smoothing_function=SmoothingFunction().method1)`:
//! uniform 4-gram weights, one reference, method1 adds epsilon = 0.1 to zero match counts,
//! and the weighted log precisions are summed with `math.fsum`. Tokens are compared as they are
//! (no lowercasing), as the official evaluation passes them.

use crate::ngram::{NgramScratch, clipped_overlaps};

const MAX_ORDER: usize = 4;
const EPSILON: f64 = 0.1;

/// `sentence_bleu` with method1 smoothing, on token ids.
pub fn sentence_bleu(reference: &[u32], hypothesis: &[u32], scratch: &mut NgramScratch) -> f64 {
    let mut overlaps = [0; MAX_ORDER];
    clipped_overlaps(reference, hypothesis, scratch, &mut overlaps);
    // `modified_precision`: clipped matches over the hypothesis n-gram count (at least 1).
    let precisions: [(u64, u64); MAX_ORDER] = std::array::from_fn(|k| {
        let count = (hypothesis.len() + 1).saturating_sub(k + 1).max(1);
        (overlaps[k] as u64, count as u64)
    });
    if precisions[0].0 == 0 {
        return 0.0;
    }
    let (ref_len, hyp_len) = (reference.len() as f64, hypothesis.len() as f64);
    let brevity_penalty = if hypothesis.len() > reference.len() {
        1.0
    } else {
        // hyp_len > 0 here: a match needs a hypothesis token.
        (1.0 - ref_len / hyp_len).exp()
    };
    let terms = precisions.map(|(numerator, denominator)| {
        // Fraction(n, d).__float__ is n / d correctly rounded, as is this division of exact integers.
        let p = if numerator == 0 {
            (numerator as f64 + EPSILON) / denominator as f64
        } else {
            numerator as f64 / denominator as f64
        };
        0.25 * p.ln()
    });
    brevity_penalty * fsum(&terms).exp()
}

/// Python's `math.fsum`: the correctly rounded sum (Shewchuk's partials with CPython's final
/// half-even correction). Inputs here are finite.
pub fn fsum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(values.len());
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for i in 0..partials.len() {
            let mut y = partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    let Some(mut n) = partials.len().checked_sub(1) else {
        return 0.0;
    };
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    // Round half-even correctly when the remaining partials would tip the last bit.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let yr = x - hi;
        if y == yr {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_hash::FastMap;

    /// Python's `text.split()` as ids (the scorer gets them from `LexicalScorer`).
    fn ids(text: &str, vocabulary: &mut FastMap<String, u32>) -> Vec<u32> {
        crate::text::python_split(text)
            .map(|token| {
                let next = vocabulary.len() as u32;
                *vocabulary.entry(token.to_owned()).or_insert(next)
            })
            .collect()
    }

    fn bleu(reference: &str, hypothesis: &str) -> f64 {
        let mut vocabulary = FastMap::default();
        let r = ids(reference, &mut vocabulary);
        let h = ids(hypothesis, &mut vocabulary);
        sentence_bleu(&r, &h, &mut Default::default())
    }

    #[test]
    fn fsum_is_correctly_rounded() {
        // Values from CPython's test_math fsum cases.
        assert_eq!(
            fsum(&[1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50]),
            1e-100
        );
        assert_eq!(fsum(&[0.1; 10]), 1.0);
        assert_eq!(
            fsum(&[2.0f64.powi(53), -0.5, -2.0f64.powi(-54)]),
            2.0f64.powi(53) - 1.0
        );
        assert_eq!(fsum(&[1.0, 1e-16, 1e-16]), 1.0000000000000002);
        assert_eq!(fsum(&[]), 0.0);
    }

    #[test]
    fn bleu_edge_cases() {
        // Printed by NLTK 3.10.4 sentence_bleu(..., smoothing_function=method1).
        assert_eq!(
            bleu("the cat sat on the mat", "the cat sat on the mat"),
            1.0
        );
        assert_eq!(bleu("a b c", ""), 0.0);
        assert_eq!(bleu("", "a b c"), 0.0);
        assert_eq!(bleu("x y z", "a b c"), 0.0);
        assert_eq!(bleu("The cat", "the cat"), 0.1495348781221221);
        assert_eq!(
            bleu("the cat is on the mat", "the cat"),
            0.04279677428117006
        );
    }
}
