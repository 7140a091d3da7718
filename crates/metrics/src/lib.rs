//! MedHall Lens metrics: how one answer is scored against one reference, and the statistics over
//! many, each reproducing one Python library call exactly.
//!
//! It owns Python's text rules (`text`: `str.split`, `str.lower`), the official lexical metrics
//! (ROUGE, METEOR with its embedded WordNet 3.0 table and Porter stemmer, BLEU), BERTScore's
//! matching step on token vectors an encoder produced (the encoder is in `medhall-model`),
//! the statistics (means, bootstrap intervals, paired tests, Spearman, agreement between raters) and the fast hash maps
//! and content hashes they use. It is the bottom of the crate graph: it must not depend on any
//! other crate of this workspace (the domain, `medhall-core`, sits above it), on web crates, on
//! burn, or on the filesystem. `scripts/check-core-deps.sh` enforces this.

pub mod agreement;
pub mod bertscore;
pub mod bleu;
pub mod fast_hash;
pub mod lexical;
pub mod meteor;
pub mod ngram;
pub mod porter;
pub mod rouge;
pub mod signature;
pub mod stats;
pub mod text;
pub mod vqa;
pub mod wordnet;

/// The definition the fast paths are tested against: Σ over distinct n-grams of min(count in a, count in b), for sorted key lists: the clipped
/// n-gram overlap of ROUGE-N and of BLEU's modified precision.
#[cfg(test)]
pub(crate) fn clipped_overlap<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut overlap) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                overlap += 1;
                i += 1;
                j += 1;
            }
        }
    }
    overlap
}

#[cfg(test)]
mod tests {
    #[test]
    fn clipped_overlap_counts_multiset_intersection() {
        assert_eq!(super::clipped_overlap(&[1, 1, 2, 5], &[1, 2, 2, 5, 5]), 3);
        assert_eq!(super::clipped_overlap::<u8>(&[], &[1]), 0);
    }
}
