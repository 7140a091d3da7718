//! WordNet 3.0 synonyms exactly as METEOR's synonym stage sees them through NLTK 3.10.4:
//! `{l.name() for s in wordnet.synsets(word) for l in s.lemmas() if '_' not in l.name()}`.
//!
//! `synsets` lowercases the word, then for each POS (n, v, a, r) runs `_morphy`: the word's
//! exception-list bases if it is an exception form, else each suffix rule applied once; the word
//! itself and those forms are kept when indexed under that POS. The table
//! (`data/wordnet-3.0.bin`, made by `scripts/gen_wordnet_table.py`) stores per (lemma, POS) the
//! flattened names of all its synsets, so a lookup is a binary search and a varint walk, with
//! nothing to build at start-up. Names with uppercase letters are left out of the table: they can
//! never equal a `str.lower()`ed reference token, so METEOR's result is unchanged.
//!
//! Table layout (little-endian): magic, u32 string count, u32 block count, u32 data length,
//! u32 block offsets, data. Strings (all index lemmas and exception forms, ASCII, sorted
//! bytewise; id = position) are front-coded in blocks of 16. After each string: a flags byte
//! (bit p: indexed under POS p; bit 4+p: exception form for POS p), then per indexed POS a
//! varint count and delta-coded name ids, then per exception POS the same for its indexed bases.

use crate::text::python_lower;
use std::borrow::Cow;
use std::sync::OnceLock;

/// A string's position in the table; equal ids mean equal strings.
pub type WordId = u32;

const MAGIC: &[u8; 8] = b"MHWN\x01\0\0\0";
const BLOCK: usize = 16;
const HEADER: usize = 20;
/// Candidate forms up to this length are built on the stack (WordNet's longest lemma has 71).
const STACK_FORM: usize = 96;

/// NLTK's `MORPHOLOGICAL_SUBSTITUTIONS` for n, v, a, r. Order is irrelevant here: the results
/// are unioned.
const RULES: [&[(&str, &str)]; 4] = [
    &[
        ("s", ""),
        ("ses", "s"),
        ("ves", "f"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ],
    &[
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ],
    &[("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    &[],
];
const MAX_CANDIDATES: usize = 21;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WordNetError {
    #[error("not a MedHall WordNet table (bad magic or version)")]
    BadMagic,
    #[error("the WordNet table is truncated or inconsistent")]
    Corrupt,
}

/// The table, over its bytes. Every read is bounds-checked: corrupt bytes give `None`/empty
/// results, never a panic.
pub struct WordNet {
    bytes: Cow<'static, [u8]>,
    strings: usize,
    blocks: usize,
    /// `prefix_blocks[k]`: the first block whose head's two-byte prefix is at least `k`. Built on
    /// first lookup (one pass over the block heads); narrows each binary search to the blocks
    /// that share the target's first two bytes.
    prefix_blocks: OnceLock<Box<[u32]>>,
}

/// The first two bytes of a string as a sort key (a missing byte counts as 0, below any byte
/// a word contains).
fn prefix_key(text: &[u8]) -> usize {
    let byte = |i: usize| text.get(i).map_or(0, |&b| usize::from(b));
    (byte(0) << 8) | byte(1)
}

/// Where an entry's flags byte is, in `data()`.
#[derive(Clone, Copy)]
struct Record(usize);

fn varint(data: &[u8], pos: &mut usize) -> Option<u32> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).ok();
        }
    }
    None
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let slice = bytes.get(at..at.checked_add(4)?)?;
    let word: [u8; 4] = slice.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

/// Reads one entry's string part: (shared prefix length, suffix), advancing `pos` to the flags.
fn string_part<'a>(data: &'a [u8], pos: &mut usize) -> Option<(usize, &'a [u8])> {
    let shared = varint(data, pos)? as usize;
    let len = varint(data, pos)? as usize;
    let end = pos.checked_add(len)?;
    let suffix = data.get(*pos..end)?;
    *pos = end;
    Some((shared, suffix))
}

/// Skips an entry's flags and lists, returning the position of the next entry.
fn skip_record(data: &[u8], mut pos: usize) -> Option<usize> {
    let flags = *data.get(pos)?;
    pos += 1;
    for _ in 0..flags.count_ones() {
        skip_list(data, &mut pos)?;
    }
    Some(pos)
}

fn skip_list(data: &[u8], pos: &mut usize) -> Option<()> {
    let count = varint(data, pos)?;
    for _ in 0..count {
        // Continuation bytes have the top bit set; the last byte of each varint does not.
        let rest = data.get(*pos..)?;
        let len = rest.iter().position(|&b| b & 0x80 == 0)?;
        *pos += len + 1;
    }
    Some(())
}

impl WordNet {
    /// The WordNet 3.0 table built into the binary. Validating it reads 20 bytes, on first use.
    pub fn embedded() -> &'static WordNet {
        static TABLE: OnceLock<WordNet> = OnceLock::new();
        TABLE.get_or_init(|| {
            let bytes: &'static [u8] = include_bytes!("../data/wordnet-3.0.bin");
            // The committed table is checked by the tests; an empty table only disables synonyms.
            WordNet::from_static(bytes).unwrap_or(WordNet {
                bytes: Cow::Borrowed(&[]),
                strings: 0,
                blocks: 0,
                prefix_blocks: OnceLock::new(),
            })
        })
    }

    pub fn from_static(bytes: &'static [u8]) -> Result<WordNet, WordNetError> {
        Self::validate(Cow::Borrowed(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<WordNet, WordNetError> {
        Self::validate(Cow::Owned(bytes))
    }

    /// Checks the header and lengths only: the rest is bounds-checked as it is read.
    fn validate(bytes: Cow<'static, [u8]>) -> Result<WordNet, WordNetError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(WordNetError::BadMagic);
        }
        let strings = read_u32(&bytes, 8).ok_or(WordNetError::Corrupt)?;
        let blocks = read_u32(&bytes, 12).ok_or(WordNetError::Corrupt)?;
        let data_len = read_u32(&bytes, 16).ok_or(WordNetError::Corrupt)?;
        let expected = blocks
            .checked_mul(4)
            .and_then(|n| n.checked_add(HEADER))
            .and_then(|n| n.checked_add(data_len));
        // Ids must fit a WordId, and the first block must start the data.
        if expected != Some(bytes.len())
            || blocks != strings.div_ceil(BLOCK)
            || WordId::try_from(strings).is_err()
            || (blocks > 0 && read_u32(&bytes, HEADER) != Some(0))
        {
            return Err(WordNetError::Corrupt);
        }
        Ok(WordNet {
            bytes,
            strings,
            blocks,
            prefix_blocks: OnceLock::new(),
        })
    }

    fn prefix_blocks(&self) -> &[u32] {
        self.prefix_blocks.get_or_init(|| {
            let data = self.data();
            let mut first = vec![0u32; (1 << 16) + 1];
            let mut next_key = 0;
            for block in 0..self.blocks {
                let head = self
                    .block_start(block)
                    .and_then(|mut pos| string_part(data, &mut pos));
                // A corrupt head cannot be placed: no index, every search spans all blocks.
                let Some((_, head)) = head else {
                    return Box::default();
                };
                let key = prefix_key(head);
                while next_key <= key {
                    first[next_key] = block as u32;
                    next_key += 1;
                }
            }
            for slot in &mut first[next_key..] {
                *slot = self.blocks as u32;
            }
            first.into_boxed_slice()
        })
    }

    fn data(&self) -> &[u8] {
        self.bytes.get(HEADER + self.blocks * 4..).unwrap_or(&[])
    }

    fn block_start(&self, block: usize) -> Option<usize> {
        read_u32(&self.bytes, HEADER + block.checked_mul(4)?)
    }

    /// Finds exactly this byte string. The binary search compares block heads (stored whole);
    /// the block scan tracks how much of the target the previous string matched, so front-coded
    /// entries are compared without rebuilding them.
    fn find(&self, target: &[u8]) -> Option<(WordId, Record)> {
        let data = self.data();
        // Heads with a smaller two-byte prefix are below the target, heads with a larger one
        // above it: only the blocks in between need comparing.
        let key = prefix_key(target);
        let index = self.prefix_blocks();
        let (mut low, mut high) = match (index.get(key), index.get(key + 1)) {
            (Some(&low), Some(&high)) => (low as usize, high as usize),
            _ => (0, self.blocks),
        };
        while low < high {
            let mid = low + (high - low) / 2;
            let mut pos = self.block_start(mid)?;
            let (_, head) = string_part(data, &mut pos)?;
            if head <= target {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let block = low.checked_sub(1)?;
        let mut pos = self.block_start(block)?;
        // Invariant: the previous string is below the target and shares `matched` bytes with it.
        let mut matched = 0usize;
        let first = block * BLOCK;
        for id in first..(first + BLOCK).min(self.strings) {
            let (shared, suffix) = string_part(data, &mut pos)?;
            if id == first && shared != 0 {
                return None;
            }
            if shared < matched {
                // Differs from the previous string, hence from the target, where they agreed:
                // being larger than the previous string, it is larger than the target.
                return None;
            }
            if shared == matched {
                let rest = target.get(matched..)?;
                let common = suffix.iter().zip(rest).take_while(|(a, b)| a == b).count();
                match (suffix.get(common), rest.get(common)) {
                    (None, None) => return Some((WordId::try_from(id).ok()?, Record(pos))),
                    (Some(_), None) => return None,
                    (Some(a), Some(b)) if a > b => return None,
                    _ => matched += common,
                }
            }
            // shared > matched: equal to the previous string up to where that one was below.
            pos = skip_record(data, pos)?;
        }
        None
    }

    /// The record of the string with this id, walking its block without rebuilding strings.
    fn record(&self, id: WordId) -> Option<Record> {
        let id = id as usize;
        if id >= self.strings {
            return None;
        }
        let data = self.data();
        let mut pos = self.block_start(id / BLOCK)?;
        for _ in 0..id % BLOCK {
            string_part(data, &mut pos)?;
            pos = skip_record(data, pos)?;
        }
        string_part(data, &mut pos)?;
        Some(Record(pos))
    }

    /// The id of exactly this string (no lowercasing), if the table has it.
    pub fn id(&self, word: &str) -> Option<WordId> {
        self.find(word.as_bytes()).map(|(id, _)| id)
    }

    /// The string with this id (for tests and diagnostics).
    pub fn word(&self, id: WordId) -> Option<String> {
        let id = id as usize;
        if id >= self.strings {
            return None;
        }
        let data = self.data();
        let mut pos = self.block_start(id / BLOCK)?;
        let mut text = Vec::new();
        for _ in 0..=id % BLOCK {
            let (shared, suffix) = string_part(data, &mut pos)?;
            if shared > text.len() {
                return None;
            }
            text.truncate(shared);
            text.extend_from_slice(suffix);
            pos = skip_record(data, pos)?;
        }
        String::from_utf8(text).ok()
    }

    fn flags(&self, record: Record) -> u8 {
        self.data().get(record.0).copied().unwrap_or(0)
    }

    /// Appends the list behind flag `bit` (nothing if the bit is clear). Ids outside the table
    /// end the list: only a corrupt table has them.
    fn push_list(&self, record: Record, bit: u8, out: &mut Vec<WordId>) -> Option<()> {
        let data = self.data();
        let flags = *data.get(record.0)?;
        if flags & (1 << bit) == 0 {
            return Some(());
        }
        let mut pos = record.0 + 1;
        for _ in 0..(flags & ((1u8 << bit) - 1)).count_ones() {
            skip_list(data, &mut pos)?;
        }
        let count = varint(data, &mut pos)?;
        let mut value: WordId = 0;
        for _ in 0..count {
            value = value.checked_add(varint(data, &mut pos)?)?;
            if value as usize >= self.strings {
                return None;
            }
            out.push(value);
        }
        Some(())
    }

    /// Fills `out` with the sorted, distinct ids of NLTK's synonym names for `word` (the word
    /// itself is not added unless WordNet lists it).
    pub fn synonyms(&self, word: &str, out: &mut Vec<WordId>) {
        out.clear();
        let lowered = python_lower(word);
        let form = lowered.as_bytes();
        let found = self.find(form).map(|(_, record)| record);
        let flags = found.map_or(0, |record| self.flags(record));
        // POSes whose morphy candidates come from the suffix rules.
        let mut by_rules = 0u8;
        for pos in 0..4u8 {
            if let Some(record) = found {
                // Corrupt lists are cut short; results stay well-formed.
                let _ = self.push_list(record, pos, out);
            }
            if flags & (1 << (4 + pos)) == 0 {
                by_rules |= 1 << pos;
                continue;
            }
            // An exception form: its bases replace the rules for this POS.
            let Some(record) = found else { continue };
            let start = out.len();
            let _ = self.push_list(record, 4 + pos, out);
            let bases: Vec<WordId> = out.drain(start..).collect();
            for base in bases {
                if let Some(base) = self.record(base) {
                    let _ = self.push_list(base, pos, out);
                }
            }
        }
        // Rule outputs as (stem length, ending, POS mask), merged so each distinct form is looked
        // up once ("dogs" -> "dog" for both n and v).
        let mut candidates = [(0usize, "", 0u8); MAX_CANDIDATES];
        let mut count = 0;
        for (pos, rules) in RULES.iter().enumerate() {
            if by_rules & (1 << pos) == 0 {
                continue;
            }
            for &(old, new) in rules.iter() {
                // Python's form.endswith(old) and form[:-len(old)]: "s" -> "" for the noun rule.
                let Some(stem) = form.strip_suffix(old.as_bytes()) else {
                    continue;
                };
                let same = |&(len, ending, _): &(usize, &str, u8)| {
                    len + ending.len() == stem.len() + new.len()
                        && form[..len]
                            .iter()
                            .chain(ending.as_bytes())
                            .eq(stem.iter().chain(new.as_bytes()))
                };
                match candidates[..count].iter_mut().find(|c| same(c)) {
                    Some(candidate) => candidate.2 |= 1 << pos,
                    None if count < MAX_CANDIDATES => {
                        candidates[count] = (stem.len(), new, 1 << pos);
                        count += 1;
                    }
                    None => {}
                }
            }
        }
        let mut stack = [0u8; STACK_FORM];
        let mut heap = Vec::new();
        for &(len, ending, mask) in &candidates[..count] {
            let total = len + ending.len();
            let candidate: &[u8] = if total <= STACK_FORM {
                stack[..len].copy_from_slice(&form[..len]);
                stack[len..total].copy_from_slice(ending.as_bytes());
                &stack[..total]
            } else {
                heap.clear();
                heap.extend_from_slice(&form[..len]);
                heap.extend_from_slice(ending.as_bytes());
                &heap
            };
            if let Some((_, record)) = self.find(candidate) {
                let indexed = self.flags(record) & mask;
                for pos in (0..4u8).filter(|pos| indexed & (1 << pos) != 0) {
                    let _ = self.push_list(record, pos, out);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../data/wordnet-3.0.bin");

    fn names(wordnet: &WordNet, word: &str) -> Vec<String> {
        let mut ids = Vec::new();
        wordnet.synonyms(word, &mut ids);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        ids.iter()
            .map(|&id| wordnet.word(id).expect("ids of synonyms are strings"))
            .collect()
    }

    #[test]
    fn embedded_table_loads() {
        let wordnet = WordNet::embedded();
        assert!(wordnet.strings > 150_000, "{}", wordnet.strings);
        let id = wordnet.id("dog").expect("dog is a lemma");
        assert_eq!(wordnet.word(id).as_deref(), Some("dog"));
        assert_eq!(wordnet.id("Dog"), None);
        assert_eq!(wordnet.id("zzzzqqq"), None);
        assert_eq!(wordnet.id(""), None);
        assert_eq!(wordnet.word(u32::MAX), None);
        // First and last strings, and every string of a few blocks, round-trip through id().
        let last = WordId::try_from(wordnet.strings - 1).expect("fits");
        for id in (0..40).chain(77_000..77_040).chain(last - 40..=last) {
            let text = wordnet.word(id).expect("in range");
            assert_eq!(wordnet.id(&text), Some(id), "{text}");
            // Neighbours that are not in the table are not found.
            assert_eq!(wordnet.id(&format!("{text}\u{1}")), None);
        }
    }

    #[test]
    fn synonyms_follow_morphy() {
        let wordnet = WordNet::embedded();
        let has = |word: &str, name: &str| names(wordnet, word).iter().any(|n| n == name);
        assert!(has("dogs", "dog"));
        assert!(has("geese", "goose"));
        assert!(has("tumor", "neoplasm"));
        assert!(has("ran", "run"));
        assert!(has("x-ray", "x-ray"));
        // The exception list replaces the rules: noun "axes" gives ax/axis, not "axe" (which
        // comes from the verb rule "s" -> "").
        assert!(has("axes", "axis") && has("axes", "axe"));
        assert!(names(wordnet, "").is_empty());
        assert!(names(wordnet, "µm").is_empty());
        assert_eq!(names(wordnet, "Tumor"), names(wordnet, "tumor"));
        // No uppercase and no '_' names.
        let all = names(wordnet, "dogs");
        assert!(
            all.iter()
                .all(|n| !n.contains('_') && !n.bytes().any(|b| b.is_ascii_uppercase()))
        );
    }

    /// NLTK's sets from `scripts/gen_wordnet_fixture.py`, minus names with uppercase letters.
    #[test]
    fn synonyms_match_nltk_fixture() {
        let text = include_str!("../tests/fixtures/wordnet_nltk.jsonl");
        let wordnet = WordNet::embedded();
        let mut compared = 0;
        let mut differences = Vec::new();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
            let word = row["word"].as_str().expect("word");
            let mut theirs: Vec<String> = row["synonyms"]
                .as_array()
                .expect("synonyms")
                .iter()
                .map(|n| n.as_str().expect("name").to_owned())
                .filter(|n| !n.bytes().any(|b| b.is_ascii_uppercase()))
                .collect();
            theirs.sort();
            let mut ours = names(wordnet, word);
            ours.sort();
            if ours != theirs {
                differences.push(format!("{word:?}: ours {ours:?} nltk {theirs:?}"));
            }
            compared += 1;
        }
        assert!(compared >= 1500, "{compared}");
        assert!(
            differences.is_empty(),
            "{} differences:\n{}",
            differences.len(),
            differences[..differences.len().min(20)].join("\n")
        );
    }

    #[test]
    fn corrupt_tables_never_panic() {
        assert_eq!(
            WordNet::from_bytes(b"nope".to_vec()).err(),
            Some(WordNetError::BadMagic)
        );
        assert_eq!(
            WordNet::from_bytes(Vec::new()).err(),
            Some(WordNetError::BadMagic)
        );
        let words = [
            "dog",
            "dogs",
            "running",
            "geese",
            "zebra",
            "abaci",
            "x-ray",
            "the",
            "axes",
            "a",
            "zyzzyva",
            "",
            "best",
            "leaves",
            "aardwolves",
            "offer",
            "lying",
            "mice",
        ];
        let mut out = Vec::new();
        let exercise = |wordnet: &WordNet, out: &mut Vec<WordId>| {
            for word in words {
                wordnet.synonyms(word, out);
                assert!(out.windows(2).all(|w| w[0] < w[1]));
                let _ = wordnet.id(word);
            }
            for id in (0..wordnet.strings as u32 + 20).step_by(4099) {
                let _ = wordnet.word(id);
            }
        };
        let blocks = read_u32(REAL, 12).expect("header");
        let data_start = HEADER + blocks * 4;
        let mut cuts: Vec<usize> = (0..200).collect();
        cuts.extend((200..REAL.len()).step_by(9973));
        cuts.extend(REAL.len() - 200..REAL.len());
        for cut in cuts {
            let mut bytes = REAL[..cut].to_vec();
            assert!(WordNet::from_bytes(bytes.clone()).is_err(), "cut at {cut}");
            // Same cut with the data length patched to agree: lookups run into the end.
            if cut >= data_start {
                let len = u32::try_from(cut - data_start).expect("fits");
                bytes[16..20].copy_from_slice(&len.to_le_bytes());
                let wordnet = WordNet::from_bytes(bytes).expect("lengths agree");
                exercise(&wordnet, &mut out);
            }
        }
        // Random bytes anywhere after the magic, header and block offsets included.
        let mut rng = crate::stats::SplitMix64::new(7);
        for round in 0..60 {
            let mut bytes = REAL.to_vec();
            let flips = [1, 10, 1000][round % 3];
            for _ in 0..flips {
                let i = 8 + rng.below(if round % 2 == 0 { 64 } else { bytes.len() - 8 });
                bytes[i] = rng.next_u64() as u8;
            }
            if let Ok(wordnet) = WordNet::from_bytes(bytes) {
                exercise(&wordnet, &mut out);
            }
        }
        // All 0xff data: varints never end.
        let mut bytes = REAL.to_vec();
        bytes[data_start..].fill(0xff);
        let wordnet = WordNet::from_bytes(bytes).expect("header intact");
        exercise(&wordnet, &mut out);
        assert!(out.is_empty());
    }

    /// Timing, not correctness: `cargo test --release -p medhall-metrics wordnet_speed -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn wordnet_speed() {
        let text = "the lungs are clear there is no pleural effusion or pneumothorax heart size is \
            normal mediastinal contours are within normal limits no focal consolidation lesion \
            lesions showed shows larger better best running ran lying children mice geese enlarged \
            opacity opacities seen noted likely small large left right lower upper lobe chest \
            radiograph findings impression stable unchanged compared prior study mild moderate \
            severe bilateral atelectasis edema fracture bones intact";
        let words: Vec<&str> = text.split_whitespace().collect();
        let wordnet = WordNet::embedded();
        let mut out = Vec::new();
        let rounds = 5000;
        let mut names = 0usize;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for word in &words {
                wordnet.synonyms(word, &mut out);
                names += out.len();
            }
        }
        let synonyms = start.elapsed().as_nanos() as f64 / (rounds * words.len()) as f64;
        let start = std::time::Instant::now();
        let mut found = 0usize;
        for _ in 0..rounds {
            for word in &words {
                found += usize::from(wordnet.id(word).is_some());
            }
        }
        let id = start.elapsed().as_nanos() as f64 / (rounds * words.len()) as f64;
        eprintln!(
            "wordnet: synonyms {synonyms:.0} ns/word, id {id:.0} ns/word ({} words, {} names, {} found)",
            words.len(),
            names / rounds,
            found / rounds
        );
        // Every string of the table once (lemmas and exception forms, cold caches).
        let all: Vec<String> = (0..wordnet.strings)
            .filter_map(|id| wordnet.word(id as WordId))
            .collect();
        let start = std::time::Instant::now();
        let mut all_names = 0usize;
        for word in &all {
            wordnet.synonyms(word, &mut out);
            all_names += out.len();
        }
        let per = start.elapsed().as_nanos() as f64 / all.len() as f64;
        eprintln!(
            "wordnet: synonyms {per:.0} ns/word over all {} strings ({all_names} names)",
            all.len()
        );
    }
}

/// Live comparison with NLTK over the whole vocabulary: every index lemma and exception form,
/// their inflected and capitalised variants, and the Porter stems of all of those (METEOR looks
/// up stems). Runs when the reference stack and Debian's WordNet files are installed.
#[cfg(test)]
mod live {
    use super::*;
    use medhall_reference_stack::{ReferenceStack, skip_or_fail, workspace_root as workspace};
    use std::path::Path;

    const WORDNET_DIR: &str = "/usr/share/wordnet";

    fn vocabulary(wordnet_dir: &Path) -> Vec<String> {
        let mut words = std::collections::BTreeSet::new();
        for pos in ["noun", "verb", "adj", "adv"] {
            for file in [format!("index.{pos}"), format!("{pos}.exc")] {
                let text = std::fs::read_to_string(wordnet_dir.join(&file)).expect("WordNet file");
                for line in text.lines().filter(|l| !l.starts_with(' ')) {
                    if let Some(word) = line.split(' ').next() {
                        words.insert(word.to_owned());
                    }
                }
            }
        }
        let base: Vec<String> = words.iter().cloned().collect();
        for word in &base {
            for suffix in ["s", "es", "ed", "ing", "er", "est", "ies"] {
                words.insert(format!("{word}{suffix}"));
            }
            let mut capital = word.clone();
            capital[..1].make_ascii_uppercase();
            words.insert(capital);
        }
        let stems: Vec<String> = words.iter().map(|w| crate::porter::stem(w)).collect();
        words.extend(stems);
        words.extend(["", "s", "ses", "men", "ies", "µm", "İs", "\u{212a}ing"].map(str::to_owned));
        words.into_iter().filter(|w| !w.contains('\n')).collect()
    }

    #[test]
    fn wordnet_synonyms_match_nltk_on_vocabulary() {
        let wordnet_dir = Path::new(WORDNET_DIR);
        let reference = match ReferenceStack::locate() {
            Ok(reference) => reference,
            Err(reason) => return skip_or_fail(&reason),
        };
        if !wordnet_dir.join("index.noun").exists() {
            return skip_or_fail("no /usr/share/wordnet (apt-get install wordnet-base)");
        }
        let words = vocabulary(wordnet_dir);
        let dir = std::env::temp_dir().join(format!("medhall-wordnet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("words.txt"), words.join("\n") + "\n").expect("write words");
        // METEOR's exact expression; uppercase names are dropped on our side, below.
        let script = "import sys\nfrom nltk.corpus import wordnet as wn\n\
            out = open(sys.argv[2], 'w', encoding='utf-8')\n\
            for w in open(sys.argv[1], encoding='utf-8').read().split('\\n')[:-1]:\n\
            \x20   names = sorted({l.name() for s in wn.synsets(w) for l in s.lemmas() if '_' not in l.name()})\n\
            \x20   out.write(' '.join(names) + '\\n')\n";
        // NLTK works while we compute our side.
        let mut child = reference
            .command()
            .args(["-c", script])
            .arg(dir.join("words.txt"))
            .arg(dir.join("names.txt"))
            .spawn()
            .expect("python runs");
        let wordnet = WordNet::embedded();
        let strings: Vec<String> = (0..wordnet.strings)
            .map(|id| wordnet.word(id as WordId).expect("every id has a string"))
            .collect();
        // Threads, so that an unoptimised build keeps pace with Python.
        let threads = std::thread::available_parallelism().map_or(4, usize::from);
        let ours: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = words
                .chunks(words.len().div_ceil(threads))
                .map(|chunk| {
                    let strings = &strings;
                    scope.spawn(move || {
                        let mut ids = Vec::new();
                        let mut lines = Vec::with_capacity(chunk.len());
                        for word in chunk {
                            wordnet.synonyms(word, &mut ids);
                            // Ids sort like their strings, as Python sorts ASCII names.
                            let names: Vec<&str> = ids
                                .iter()
                                .map(|&id| strings[id as usize].as_str())
                                .collect();
                            lines.push(names.join(" "));
                        }
                        lines
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("worker finishes"))
                .collect()
        });
        let status = child.wait().expect("python finishes");
        assert!(status.success(), "reference python failed");
        let expected = std::fs::read_to_string(dir.join("names.txt")).expect("python output");
        let _ = std::fs::remove_dir_all(&dir);
        let expected: Vec<&str> = expected.split('\n').collect();
        assert_eq!(expected.len(), words.len() + 1);

        let mut differences = Vec::new();
        let mut dropped = 0usize;
        for ((word, ours), theirs) in words.iter().zip(&ours).zip(&expected) {
            let theirs: Vec<&str> = theirs
                .split(' ')
                .filter(|n| !n.is_empty())
                .inspect(|n| assert!(n.is_ascii(), "non-ASCII WordNet name {n:?}"))
                .filter(|n| {
                    let upper = n.bytes().any(|b| b.is_ascii_uppercase());
                    dropped += usize::from(upper);
                    !upper
                })
                .collect();
            let theirs = theirs.join(" ");
            if *ours != theirs {
                differences.push(format!("{word:?}: ours [{ours}] nltk [{theirs}]"));
            }
        }
        eprintln!(
            "wordnet: {} words compared with NLTK ({dropped} uppercase names set aside)",
            words.len()
        );
        assert!(
            differences.is_empty(),
            "{} differences:\n{}",
            differences.len(),
            differences[..differences.len().min(20)].join("\n")
        );
    }

    #[test]
    fn table_is_up_to_date() {
        let root = workspace();
        if !Path::new(WORDNET_DIR).join("index.noun").exists() {
            return skip_or_fail("no /usr/share/wordnet (apt-get install wordnet-base)");
        }
        let dir = std::env::temp_dir().join(format!("medhall-wordnet-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("wordnet-3.0.bin");
        let status = std::process::Command::new("python3")
            .arg(root.join("scripts/gen_wordnet_table.py"))
            .arg(WORDNET_DIR)
            .arg(&out)
            .status();
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return skip_or_fail(&format!("python3 does not run: {error}"));
            }
        };
        assert!(status.success(), "scripts/gen_wordnet_table.py failed");
        let fresh = std::fs::read(&out).expect("generated table");
        let licence = std::fs::read(dir.join("WORDNET-LICENSE")).expect("generated licence");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            fresh == include_bytes!("../data/wordnet-3.0.bin"),
            "crates/metrics/data/wordnet-3.0.bin is stale: rerun scripts/gen_wordnet_table.py"
        );
        assert!(
            licence == include_bytes!("../data/WORDNET-LICENSE"),
            "crates/metrics/data/WORDNET-LICENSE differs from what the generator writes"
        );
    }
}
