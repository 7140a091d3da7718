//! Clipped n-gram overlaps (Σ over distinct n-grams of min(count in a, count in b)) for orders
//! 1 to 4 at once: ROUGE-1/2 and BLEU's modified precisions. Exact, without sorting every n-gram:
//! unigrams are counted in arrays indexed by token id, and an n-gram can only occur on both
//! sides if its two (n-1)-grams do, so only those few candidates are sorted and merged.

/// Token ids are dense (interned per scorer), so counts live in arrays indexed by id.
#[derive(Default)]
pub struct NgramScratch {
    counts_a: Vec<u32>,
    counts_b: Vec<u32>,
    /// Whether the (n-1)-gram starting at each position also occurs on the other side.
    live_a: Vec<bool>,
    live_b: Vec<bool>,
    next_live_a: Vec<bool>,
    next_live_b: Vec<bool>,
    keys_a: Vec<(u128, u32)>,
    keys_b: Vec<(u128, u32)>,
}

/// `overlaps[k]` becomes the clipped overlap of the (k+1)-grams of `a` and `b`.
pub fn clipped_overlaps(a: &[u32], b: &[u32], s: &mut NgramScratch, overlaps: &mut [usize]) {
    overlaps.iter_mut().for_each(|o| *o = 0);
    if a.is_empty() || b.is_empty() || overlaps.is_empty() {
        return;
    }
    overlaps[0] = unigram_overlap(a, b, s);
    for n in 2..=overlaps.len() {
        if overlaps[n - 2] == 0 || a.len() < n || b.len() < n {
            return; // no shared (n-1)-gram: no shared n-gram either
        }
        overlaps[n - 1] = next_order(a, b, n, s);
    }
}

fn unigram_overlap(a: &[u32], b: &[u32], s: &mut NgramScratch) -> usize {
    let size = a.iter().chain(b).max().map_or(0, |&m| m as usize + 1);
    if s.counts_a.len() < size {
        s.counts_a.resize(size, 0);
        s.counts_b.resize(size, 0);
    }
    for &t in a {
        s.counts_a[t as usize] += 1;
    }
    for &t in b {
        s.counts_b[t as usize] += 1;
    }
    s.live_a.clear();
    s.live_a
        .extend(a.iter().map(|&t| s.counts_b[t as usize] > 0));
    s.live_b.clear();
    s.live_b
        .extend(b.iter().map(|&t| s.counts_a[t as usize] > 0));
    let mut overlap = 0;
    for &t in a {
        let count = &mut s.counts_a[t as usize];
        if *count > 0 {
            overlap += (*count).min(s.counts_b[t as usize]) as usize;
            *count = 0; // each distinct token once
        }
    }
    for &t in b {
        s.counts_b[t as usize] = 0;
    }
    overlap
}

fn key(window: &[u32]) -> u128 {
    window
        .iter()
        .fold(0u128, |key, &t| (key << 32) | u128::from(t))
}

/// Candidates of order `n` on one side: n-grams whose two (n-1)-grams are both shared.
fn candidates(tokens: &[u32], n: usize, live: &[bool], keys: &mut Vec<(u128, u32)>) {
    keys.clear();
    for i in 0..=tokens.len() - n {
        if live[i] && live[i + 1] {
            keys.push((key(&tokens[i..i + n]), i as u32));
        }
    }
    keys.sort_unstable();
}

/// The overlap of order `n`, and the liveness of each n-gram for order n + 1.
fn next_order(a: &[u32], b: &[u32], n: usize, s: &mut NgramScratch) -> usize {
    candidates(a, n, &s.live_a, &mut s.keys_a);
    candidates(b, n, &s.live_b, &mut s.keys_b);
    s.next_live_a.clear();
    s.next_live_a.resize(a.len() + 1 - n, false);
    s.next_live_b.clear();
    s.next_live_b.resize(b.len() + 1 - n, false);
    let (ka, kb) = (&s.keys_a, &s.keys_b);
    let (mut i, mut j, mut overlap) = (0, 0, 0);
    while i < ka.len() && j < kb.len() {
        match ka[i].0.cmp(&kb[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let k = ka[i].0;
                let run_a = ka[i..].iter().take_while(|e| e.0 == k).count();
                let run_b = kb[j..].iter().take_while(|e| e.0 == k).count();
                overlap += run_a.min(run_b);
                for e in &ka[i..i + run_a] {
                    s.next_live_a[e.1 as usize] = true;
                }
                for e in &kb[j..j + run_b] {
                    s.next_live_b[e.1 as usize] = true;
                }
                i += run_a;
                j += run_b;
            }
        }
    }
    std::mem::swap(&mut s.live_a, &mut s.next_live_a);
    std::mem::swap(&mut s.live_b, &mut s.next_live_b);
    overlap
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition: sort all n-grams of each side and intersect the multisets.
    fn naive(a: &[u32], b: &[u32], n: usize) -> usize {
        let grams = |t: &[u32]| {
            let mut g: Vec<u128> = if t.len() >= n {
                t.windows(n).map(key).collect()
            } else {
                Vec::new()
            };
            g.sort_unstable();
            g
        };
        crate::clipped_overlap(&grams(a), &grams(b))
    }

    #[test]
    fn counts_repeats_once_per_side() {
        let mut s = NgramScratch::default();
        let mut o = [0; 4];
        clipped_overlaps(&[1, 1, 2, 1, 1], &[1, 1, 1, 2], &mut s, &mut o);
        // Unigrams: min(4, 3) ones + min(1, 1) two = 4. Bigrams: a has 11, 12, 21, 11; b has 11, 11, 12:
        // min(2, 2) + min(1, 1) = 3. Trigrams: a 112, 121, 211; b 111, 112: 1.
        assert_eq!(o, [4, 3, 1, 0]);
    }

    proptest::proptest! {
        #[test]
        fn equals_the_definition(
            a in proptest::collection::vec(0u32..5, 0..60),
            b in proptest::collection::vec(0u32..5, 0..60),
        ) {
            let mut s = NgramScratch::default();
            let mut o = [0; 4];
            clipped_overlaps(&a, &b, &mut s, &mut o);
            for n in 1..=4 {
                proptest::prop_assert_eq!(o[n - 1], naive(&a, &b, n), "order {}", n);
            }
        }
    }
}
