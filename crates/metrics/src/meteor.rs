//! METEOR as NLTK 3.10.4 computes it with
//! `single_meteor_score(reference.split(), answer.split())`: tokens lowercased with `str.lower`,
//! aligned in three stages (exact, Porter stem, WordNet 3.0 synonym), each stage greedily from
//! the last hypothesis word to the first, taking the last remaining reference position;
//! alpha = 0.9, beta = 3, gamma = 0.5. As in NLTK, the synonym stage sees the stemmed words
//! ("vas" is looked up as "va"), which is what makes its numbers what they are.

use crate::fast_hash::{FastMap, VOCABULARY_HINT, fast_map_with_capacity};
use crate::porter;
use crate::text::python_lower;
use crate::wordnet::{WordId, WordNet};

const ALPHA: f64 = 0.9;
const BETA: f64 = 3.0;
const GAMMA: f64 = 0.5;

struct Word {
    text: Box<str>,
    /// Identity used by the synonym stage: the WordNet id when WordNet knows the string,
    /// otherwise a value outside WordNet's id space, unique to this string. Looked up only when
    /// the synonym stage needs it: most words are matched exactly before.
    key: Option<u64>,
    /// The word that is this word's Porter stem.
    stem: Option<u32>,
    synonyms: Option<Box<[WordId]>>,
}

/// METEOR with caches: each distinct word is lowercased, stemmed and looked up in WordNet once.
pub struct MeteorScorer<'w> {
    wordnet: &'w WordNet,
    /// Lowercased text to word.
    lowered_ids: FastMap<Box<str>, u32>,
    words: Vec<Word>,
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    hypothesis: Vec<u32>,
    reference: Vec<u32>,
    hyp_free: Vec<usize>,
    ref_free: Vec<usize>,
    matches: Vec<(usize, usize)>,
    hyp_stems: Vec<u32>,
    ref_stems: Vec<u32>,
    synonyms: Vec<WordId>,
    ref_keys: Vec<(u64, usize)>,
    taken: Vec<bool>,
    head: Vec<u32>,
    next: Vec<u32>,
}

const NONE: u32 = u32::MAX;
const MATCHED: u32 = u32::MAX - 1;

#[derive(Clone, Copy)]
enum Keys {
    Words,
    Stems,
}

impl<'w> MeteorScorer<'w> {
    pub fn new(wordnet: &'w WordNet) -> Self {
        Self {
            wordnet,
            lowered_ids: fast_map_with_capacity(VOCABULARY_HINT),
            words: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// The word of `token` lowercased ("CT" and "ct" are one word).
    fn lowered_word(&mut self, token: &str) -> u32 {
        let lowered = python_lower(token);
        if let Some(&id) = self.lowered_ids.get(lowered.as_ref()) {
            return id;
        }
        let id = u32::try_from(self.words.len()).unwrap_or(u32::MAX);
        self.words.push(Word {
            text: lowered.as_ref().into(),
            key: None,
            stem: None,
            synonyms: None,
        });
        self.lowered_ids.insert(lowered.as_ref().into(), id);
        id
    }

    /// The word of this word's Porter stem (stems are words too: the synonym stage looks them up).
    fn stem(&mut self, word: u32) -> u32 {
        if let Some(stem) = self.words[word as usize].stem {
            return stem;
        }
        let stemmed = porter::stem(&self.words[word as usize].text);
        let stem = self.lowered_word(&stemmed);
        self.words[word as usize].stem = Some(stem);
        stem
    }

    fn ensure_key(&mut self, word: u32) {
        let entry = &mut self.words[word as usize];
        if entry.key.is_none() {
            entry.key = Some(match self.wordnet.id(&entry.text) {
                Some(wordnet_id) => u64::from(wordnet_id),
                None => (1 << 32) | u64::from(word),
            });
        }
    }

    fn ensure_synonyms(&mut self, word: u32, buffer: &mut Vec<WordId>) {
        self.ensure_key(word);
        let entry = &mut self.words[word as usize];
        if entry.synonyms.is_none() {
            self.wordnet.synonyms(&entry.text, buffer);
            entry.synonyms = Some(buffer.as_slice().into());
        }
    }

    /// The word id of a whitespace token, for [`MeteorScorer::score_words`]. Callers cache it
    /// per token themselves, so the token is not remembered here.
    pub fn word(&mut self, token: &str) -> u32 {
        self.lowered_word(token)
    }

    /// `single_meteor_score(reference.split(), hypothesis.split())` (for tests; the scorer
    /// proper gets word ids from `LexicalScorer`).
    #[cfg(test)]
    pub fn score(&mut self, reference: &str, hypothesis: &str) -> f64 {
        let words = |scorer: &mut Self, text: &str| -> Vec<u32> {
            crate::text::python_split(text)
                .map(|t| scorer.word(t))
                .collect()
        };
        let (reference, hypothesis) = (words(self, reference), words(self, hypothesis));
        self.score_words(&reference, &hypothesis)
    }

    /// `single_meteor_score` on tokens turned into ids by [`MeteorScorer::word`].
    pub fn score_words(&mut self, reference: &[u32], hypothesis: &[u32]) -> f64 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.hypothesis.clear();
        scratch.hypothesis.extend_from_slice(hypothesis);
        scratch.reference.clear();
        scratch.reference.extend_from_slice(reference);
        let score = self.align_and_score(&mut scratch);
        self.scratch = scratch;
        score
    }

    /// NLTK's `_match_enums`: hypothesis words from last to first, each taking the last remaining
    /// reference position with the same key. Keys are word ids, so the last free position per
    /// key is kept in `head` (indexed by word id) with `next` chaining to earlier ones: linear
    /// time instead of a scan per word. Matched positions leave both free lists.
    fn match_stage(&mut self, s: &mut Scratch, keys: Keys) {
        let (hyp_keys, ref_keys) = match keys {
            Keys::Words => (&s.hypothesis, &s.reference),
            Keys::Stems => (&s.hyp_stems, &s.ref_stems),
        };
        if s.head.len() < self.words.len() {
            s.head.resize(self.words.len(), NONE);
        }
        s.next.clear();
        s.next.resize(ref_keys.len(), NONE);
        for &r in &s.ref_free {
            let key = ref_keys[r] as usize;
            s.next[r] = s.head[key];
            s.head[key] = r as u32;
        }
        let mut matched_ref = false;
        s.hyp_free.retain(|&h| h != usize::MAX);
        let mut i = s.hyp_free.len();
        while i > 0 {
            i -= 1;
            let h = s.hyp_free[i];
            let key = hyp_keys[h] as usize;
            let r = s.head[key];
            if r != NONE {
                s.head[key] = s.next[r as usize];
                s.matches.push((h, r as usize));
                s.hyp_free[i] = usize::MAX;
                s.next[r as usize] = MATCHED;
                matched_ref = true;
            }
        }
        // Reset the heads this stage touched, and drop matched positions.
        for &r in &s.ref_free {
            s.head[ref_keys[r] as usize] = NONE;
        }
        s.hyp_free.retain(|&h| h != usize::MAX);
        if matched_ref {
            let next = &s.next;
            s.ref_free.retain(|&r| next[r] != MATCHED);
        }
    }

    fn align_and_score(&mut self, s: &mut Scratch) -> f64 {
        let translation_length = s.hypothesis.len();
        let reference_length = s.reference.len();
        if translation_length == 0 || reference_length == 0 {
            return 0.0;
        }
        s.matches.clear();
        s.hyp_free.clear();
        s.hyp_free.extend(0..translation_length);
        s.ref_free.clear();
        s.ref_free.extend(0..reference_length);

        // Stage 1: exact, on the lowercased words.
        self.match_stage(s, Keys::Words);

        // Stage 2: Porter stems of what is left.
        s.hyp_stems.clear();
        s.hyp_stems.resize(translation_length, u32::MAX);
        s.ref_stems.clear();
        s.ref_stems.resize(reference_length, u32::MAX);
        for k in 0..s.hyp_free.len() {
            let h = s.hyp_free[k];
            s.hyp_stems[h] = self.stem(s.hypothesis[h]);
        }
        for k in 0..s.ref_free.len() {
            let r = s.ref_free[k];
            s.ref_stems[r] = self.stem(s.reference[r]);
        }
        self.match_stage(s, Keys::Stems);

        // Stage 3: WordNet synonyms. NLTK runs it on what stage 2 left, and stage 2 leaves the
        // *stemmed* words: synonyms of stem(h) (stem(h) included) against stem(r).
        if !s.hyp_free.is_empty() && !s.ref_free.is_empty() {
            for k in 0..s.ref_free.len() {
                self.ensure_key(s.ref_stems[s.ref_free[k]]);
            }
            // The free reference stems by key, sorted (key, position): a hypothesis word's
            // synonym list (sorted too) is intersected with it by merging, not by a binary
            // search per reference word.
            s.ref_keys.clear();
            for &r in &s.ref_free {
                let key = self.words[s.ref_stems[r] as usize].key.unwrap_or(u64::MAX);
                s.ref_keys.push((key, r));
            }
            s.ref_keys.sort_unstable();
            s.taken.clear();
            s.taken.resize(reference_length, false);
            let mut i = s.hyp_free.len();
            while i > 0 {
                i -= 1;
                let h = s.hyp_free[i];
                let word = s.hyp_stems[h];
                self.ensure_synonyms(word, &mut s.synonyms);
                let entry = &self.words[word as usize];
                let synonyms = entry.synonyms.as_deref().unwrap_or(&[]);
                // The last remaining reference position whose word is this one or a synonym.
                let mut best: Option<usize> = None;
                let mut consider = |start: usize, keys: &[(u64, usize)], taken: &[bool]| {
                    let key = keys[start].0;
                    let run = keys[start..].iter().take_while(|e| e.0 == key);
                    if let Some(&(_, r)) = run.filter(|e| !taken[e.1]).last() {
                        best = Some(best.map_or(r, |b| b.max(r)));
                    }
                };
                if let Some(own) = entry.key {
                    let start = s.ref_keys.partition_point(|e| e.0 < own);
                    if s.ref_keys.get(start).is_some_and(|e| e.0 == own) {
                        consider(start, &s.ref_keys, &s.taken);
                    }
                }
                let (mut a, mut b) = (0, 0);
                while a < synonyms.len() && b < s.ref_keys.len() {
                    let synonym = u64::from(synonyms[a]);
                    let key = s.ref_keys[b].0;
                    if key >> 32 != 0 {
                        break; // the rest are words WordNet does not know
                    }
                    match synonym.cmp(&key) {
                        std::cmp::Ordering::Less => a += 1,
                        std::cmp::Ordering::Greater => b += 1,
                        std::cmp::Ordering::Equal => {
                            consider(b, &s.ref_keys, &s.taken);
                            a += 1;
                            while b < s.ref_keys.len() && s.ref_keys[b].0 == key {
                                b += 1;
                            }
                        }
                    }
                }
                if let Some(r) = best {
                    s.taken[r] = true;
                    s.matches.push((h, r));
                    s.hyp_free.remove(i);
                }
            }
        }

        let matches_count = s.matches.len();
        if matches_count == 0 {
            return 0.0;
        }
        s.matches.sort_unstable_by_key(|&(h, _)| h);
        let chunks = count_chunks(&s.matches);
        let precision = matches_count as f64 / translation_length as f64;
        let recall = matches_count as f64 / reference_length as f64;
        let fmean = (precision * recall) / (ALPHA * precision + (1.0 - ALPHA) * recall);
        let fragmentation = chunks as f64 / matches_count as f64;
        let penalty = GAMMA * fragmentation.powf(BETA);
        (1.0 - penalty) * fmean
    }
}

/// `_count_chunks` over matches sorted by hypothesis position.
fn count_chunks(matches: &[(usize, usize)]) -> usize {
    1 + matches
        .windows(2)
        .filter(|w| !(w[1].0 == w[0].0 + 1 && w[1].1 == w[0].1 + 1))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meteor(reference: &str, hypothesis: &str) -> f64 {
        MeteorScorer::new(WordNet::embedded()).score(reference, hypothesis)
    }

    #[test]
    fn nltk_doctest_values() {
        // NLTK's own doctests for single_meteor_score.
        let hypothesis = "It is a guide to action which ensures that the military always obeys the commands of the party";
        let reference = "It is a guide to action that ensures that the military will forever heed Party commands";
        assert_eq!((meteor(reference, hypothesis) * 1e4).round() / 1e4, 0.6944);
        assert_eq!(meteor("this is a cat", "non matching hypothesis"), 0.0);
    }

    #[test]
    fn chunks() {
        assert_eq!(count_chunks(&[(0, 0), (1, 1), (2, 5), (3, 6), (5, 7)]), 3);
        assert_eq!(count_chunks(&[(0, 3)]), 1);
    }

    #[test]
    fn empty_sides() {
        assert_eq!(meteor("", "a b"), 0.0);
        assert_eq!(meteor("a b", " \u{1f} "), 0.0);
    }
}
