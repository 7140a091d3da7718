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

use crate::text::python_lower;
use std::sync::OnceLock;

/// A string's position in the table; equal ids mean equal strings.
pub type WordId = u32;

const MAGIC: &[u8; 8] = b"MHWN\x01\0\0\0";
const BLOCK: usize = 16;
const HEADER: usize = 20;

/// NLTK's `MORPHOLOGICAL_SUBSTITUTIONS`, in its order, for n, v, a, r.
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
    bytes: std::borrow::Cow<'static, [u8]>,
    strings: usize,
    blocks: usize,
}

/// A found entry: its id and where its flags byte is.
#[derive(Clone, Copy)]
struct Entry {
    id: WordId,
    record: usize,
}

fn varint(data: &[u8], pos: &mut usize) -> Option<usize> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]) as usize)
}

impl WordNet {
    /// The WordNet 3.0 table built into the binary, parsed on first use (which costs nothing).
    pub fn embedded() -> &'static WordNet {
        static TABLE: OnceLock<WordNet> = OnceLock::new();
        TABLE.get_or_init(|| {
            let bytes: &'static [u8] = include_bytes!("../../data/wordnet-3.0.bin");
            // The committed table is checked by the tests; an empty table only disables synonyms.
            WordNet::from_static(bytes).unwrap_or(WordNet {
                bytes: std::borrow::Cow::Borrowed(&[]),
                strings: 0,
                blocks: 0,
            })
        })
    }

    pub fn from_static(bytes: &'static [u8]) -> Result<WordNet, WordNetError> {
        Self::validate(std::borrow::Cow::Borrowed(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<WordNet, WordNetError> {
        Self::validate(std::borrow::Cow::Owned(bytes))
    }

    fn validate(bytes: std::borrow::Cow<'static, [u8]>) -> Result<WordNet, WordNetError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(WordNetError::BadMagic);
        }
        let strings = read_u32(&bytes, 8).ok_or(WordNetError::Corrupt)?;
        let blocks = read_u32(&bytes, 12).ok_or(WordNetError::Corrupt)?;
        let data_len = read_u32(&bytes, 16).ok_or(WordNetError::Corrupt)?;
        let expected = HEADER
            .checked_add(blocks.checked_mul(4).ok_or(WordNetError::Corrupt)?)
            .and_then(|n| n.checked_add(data_len));
        if expected != Some(bytes.len()) || blocks != strings.div_ceil(BLOCK) {
            return Err(WordNetError::Corrupt);
        }
        Ok(WordNet {
            bytes,
            strings,
            blocks,
        })
    }

    fn data(&self) -> &[u8] {
        self.bytes.get(HEADER + self.blocks * 4..).unwrap_or(&[])
    }

    fn block_start(&self, block: usize) -> Option<usize> {
        read_u32(&self.bytes, HEADER + block * 4)
    }

    /// Skips an entry's record (flags and lists), returning the position after it.
    fn skip_record(data: &[u8], mut pos: usize) -> Option<usize> {
        let flags = *data.get(pos)?;
        pos += 1;
        for _ in 0..flags.count_ones() {
            let count = varint(data, &mut pos)?;
            for _ in 0..count {
                varint(data, &mut pos)?;
            }
        }
        Some(pos)
    }

    /// The first string of a block (stored whole).
    fn block_first<'a>(&self, data: &'a [u8], block: usize) -> Option<&'a [u8]> {
        let mut pos = self.block_start(block)?;
        let _shared = varint(data, &mut pos)?;
        let len = varint(data, &mut pos)?;
        data.get(pos..pos.checked_add(len)?)
    }

    /// Walks the entries of one block, calling `visit(id, string, record)` until it returns true.
    fn walk_block(
        &self,
        block: usize,
        mut visit: impl FnMut(WordId, &[u8], usize) -> bool,
    ) -> Option<()> {
        let data = self.data();
        let mut pos = self.block_start(block)?;
        let mut text: Vec<u8> = Vec::with_capacity(32);
        let first = block * BLOCK;
        for id in first..(first + BLOCK).min(self.strings) {
            let shared = varint(data, &mut pos)?;
            let len = varint(data, &mut pos)?;
            if shared > text.len() {
                return None;
            }
            text.truncate(shared);
            text.extend_from_slice(data.get(pos..pos.checked_add(len)?)?);
            pos += len;
            if visit(WordId::try_from(id).ok()?, &text, pos) {
                return Some(());
            }
            pos = Self::skip_record(data, pos)?;
        }
        Some(())
    }

    fn find(&self, word: &str) -> Option<Entry> {
        let data = self.data();
        let target = word.as_bytes();
        // The last block whose first string is <= target.
        let (mut low, mut high) = (0usize, self.blocks);
        while low < high {
            let mid = (low + high) / 2;
            if self.block_first(data, mid)? <= target {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let block = low.checked_sub(1)?;
        let mut found = None;
        self.walk_block(block, |id, text, record| {
            if text == target {
                found = Some(Entry { id, record });
            }
            text >= target
        })?;
        found
    }

    /// The id of exactly this string (no lowercasing), if the table has it.
    pub fn id(&self, word: &str) -> Option<WordId> {
        self.find(word).map(|e| e.id)
    }

    /// The string with this id (for tests and diagnostics).
    pub fn word(&self, id: WordId) -> Option<String> {
        let id = id as usize;
        if id >= self.strings {
            return None;
        }
        let mut out = None;
        self.walk_block(id / BLOCK, |current, text, _| {
            if current as usize == id {
                out = Some(String::from_utf8_lossy(text).into_owned());
                true
            } else {
                false
            }
        })?;
        out
    }

    /// Decodes one of an entry's lists: `index` counts set flag bits in order.
    fn list(&self, entry: Entry, bit: u8, out: &mut Vec<WordId>) -> Option<()> {
        let data = self.data();
        let flags = *data.get(entry.record)?;
        if flags & (1 << bit) == 0 {
            return Some(());
        }
        let mut pos = entry.record + 1;
        let before = (flags & ((1u8 << bit) - 1)).count_ones();
        for _ in 0..before {
            let count = varint(data, &mut pos)?;
            for _ in 0..count {
                varint(data, &mut pos)?;
            }
        }
        let count = varint(data, &mut pos)?;
        let mut value = 0usize;
        for _ in 0..count {
            value = value.checked_add(varint(data, &mut pos)?)?;
            out.push(WordId::try_from(value).ok()?);
        }
        Some(())
    }

    fn flags(&self, entry: Entry) -> u8 {
        self.data().get(entry.record).copied().unwrap_or(0)
    }

    /// Fills `out` with the sorted, distinct ids of NLTK's synonym names for `word` (the word
    /// itself is not added unless WordNet lists it).
    pub fn synonyms(&self, word: &str, out: &mut Vec<WordId>) {
        out.clear();
        let word = python_lower(word);
        let found = self.find(&word);
        let mut bases = Vec::new();
        for (pos, rules) in RULES.iter().enumerate() {
            let pos = pos as u8;
            let indexed = |entry: Entry| self.flags(entry) & (1 << pos) != 0;
            if let Some(entry) = found.filter(|&e| indexed(e)) {
                let _ = self.list(entry, pos, out);
            }
            if let Some(entry) = found.filter(|&e| self.flags(e) & (1 << (4 + pos)) != 0) {
                // An exception form: its bases replace the rules (bases are indexed under pos).
                bases.clear();
                let _ = self.list(entry, 4 + pos, &mut bases);
                for &base in &bases {
                    if let Some(text) = self.word(base)
                        && let Some(base_entry) = self.find(&text)
                    {
                        let _ = self.list(base_entry, pos, out);
                    }
                }
                continue;
            }
            for (old, new) in rules.iter() {
                if let Some(stem) = word.strip_suffix(old) {
                    let form = format!("{stem}{new}");
                    if let Some(entry) = self.find(&form).filter(|&e| indexed(e)) {
                        let _ = self.list(entry, pos, out);
                    }
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

    fn names(word: &str) -> Vec<String> {
        let wordnet = WordNet::embedded();
        let mut ids = Vec::new();
        wordnet.synonyms(word, &mut ids);
        let mut out: Vec<String> = ids.iter().filter_map(|&id| wordnet.word(id)).collect();
        out.sort();
        out
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
    }

    #[test]
    fn synonyms_follow_morphy() {
        // Values printed by NLTK 3.10.4 for these words (uppercase names removed).
        assert!(names("dogs").contains(&"dog".to_owned()));
        assert!(names("geese").contains(&"goose".to_owned()));
        assert!(names("tumor").contains(&"neoplasm".to_owned()));
        assert!(names("ran").contains(&"run".to_owned()));
        assert!(names("x-ray").contains(&"x-ray".to_owned()));
        assert!(names("").is_empty());
        assert!(names("µm").is_empty());
        assert_eq!(names("Tumor"), names("tumor"));
    }

    #[test]
    fn corrupt_tables_never_panic() {
        let real: &'static [u8] = include_bytes!("../../data/wordnet-3.0.bin");
        assert_eq!(
            WordNet::from_bytes(b"nope".to_vec()).err(),
            Some(WordNetError::BadMagic)
        );
        for cut in [0, 8, 19, 20, 100, 40_000, real.len() / 2, real.len() - 1] {
            assert!(
                WordNet::from_bytes(real[..cut].to_vec()).is_err(),
                "truncated at {cut}"
            );
        }
        // Flipped bytes in the data area: lookups may fail but must not panic.
        let mut rng = crate::stats::SplitMix64::new(7);
        let mut out = Vec::new();
        for _ in 0..40 {
            let mut bytes = real.to_vec();
            for _ in 0..200 {
                let i = HEADER + rng.below(bytes.len() - HEADER);
                bytes[i] = rng.next_u64() as u8;
            }
            if let Ok(wordnet) = WordNet::from_bytes(bytes) {
                for word in ["dog", "running", "geese", "zebra", "abaci", "x-ray", "the"] {
                    wordnet.synonyms(word, &mut out);
                    let _ = wordnet.id(word);
                }
            }
        }
    }
}

/// Live comparison with NLTK over the whole vocabulary: every index lemma, every exception form,
/// inflected and capitalised variants, and the Porter stems of all of those (METEOR looks up
/// stems). Runs when the reference stack and Debian's WordNet files are installed.
#[cfg(test)]
mod live {
    use super::*;
    use std::path::{Path, PathBuf};

    fn skip_or_fail(reason: &str) {
        if std::env::var("MEDHALL_REQUIRE_REFERENCE").as_deref() == Ok("1") {
            panic!("reference required but unavailable: {reason}");
        }
        eprintln!("SKIPPED: {reason}");
    }

    fn vocabulary(wordnet_dir: &Path) -> Vec<String> {
        let mut words = std::collections::BTreeSet::new();
        for pos in ["noun", "verb", "adj", "adv"] {
            for file in [format!("index.{pos}"), format!("{pos}.exc")] {
                let text = std::fs::read_to_string(wordnet_dir.join(file)).unwrap_or_default();
                for line in text.lines().filter(|l| !l.starts_with(' ')) {
                    if let Some(word) = line.split(' ').next() {
                        words.insert(word.to_owned());
                    }
                }
            }
        }
        let base: Vec<String> = words.iter().cloned().collect();
        for word in base.iter().step_by(3) {
            for suffix in ["s", "es", "ed", "ing", "er", "est", "ies"] {
                words.insert(format!("{word}{suffix}"));
            }
            let mut capital = word.clone();
            capital[..1].make_ascii_uppercase();
            words.insert(capital);
        }
        let stems: Vec<String> = words
            .iter()
            .map(|w| crate::metrics::porter::stem(w))
            .collect();
        words.extend(stems);
        words.extend(["", "s", "ses", "men", "ies", "µm", "İs", "\u{212a}ing"].map(str::to_owned));
        words.into_iter().filter(|w| !w.contains('\n')).collect()
    }

    #[test]
    fn wordnet_synonyms_match_nltk_on_vocabulary() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("MEDHALL_REFERENCE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/pyref/venv/bin/python"));
        let wordnet_dir = Path::new("/usr/share/wordnet");
        if !python.exists() || !wordnet_dir.join("index.noun").exists() {
            return skip_or_fail(
                "no reference python or no /usr/share/wordnet (scripts/setup-reference.sh)",
            );
        }
        let words = vocabulary(wordnet_dir);
        let dir = std::env::temp_dir().join(format!("medhall-wordnet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("words.txt"), words.join("\n") + "\n").expect("write words");
        let script = "import sys\nfrom nltk.corpus import wordnet as wn\n\
            out = open(sys.argv[2], 'w', encoding='utf-8')\n\
            for w in open(sys.argv[1], encoding='utf-8').read().split('\\n')[:-1]:\n\
            \x20   names = sorted({l.name() for s in wn.synsets(w) for l in s.lemmas() if '_' not in l.name() and l.name() == l.name().lower()})\n\
            \x20   out.write(' '.join(names) + '\\n')\n";
        let nltk_data = std::env::var_os("NLTK_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/pyref/nltk_data"));
        let status = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(dir.join("words.txt"))
            .arg(dir.join("names.txt"))
            .env("NLTK_DATA", nltk_data)
            .status()
            .expect("python runs");
        assert!(status.success());
        let expected = std::fs::read_to_string(dir.join("names.txt")).expect("python output");
        let expected: Vec<&str> = expected.split('\n').collect();
        assert_eq!(expected.len(), words.len() + 1);
        let wordnet = WordNet::embedded();
        let mut ids = Vec::new();
        let mut differences = Vec::new();
        for (word, theirs) in words.iter().zip(&expected) {
            wordnet.synonyms(word, &mut ids);
            let mut ours: Vec<String> = ids.iter().filter_map(|&id| wordnet.word(id)).collect();
            ours.sort();
            if ours.join(" ") != *theirs {
                differences.push(format!(
                    "{word:?}: ours [{}] nltk [{theirs}]",
                    ours.join(" ")
                ));
            }
        }
        eprintln!("wordnet: {} words compared with NLTK", words.len());
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            differences.is_empty(),
            "{} differences:\n{}",
            differences.len(),
            differences[..differences.len().min(20)].join("\n")
        );
    }

    #[test]
    fn table_is_up_to_date() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        if !Path::new("/usr/share/wordnet/index.noun").exists() {
            return skip_or_fail("no /usr/share/wordnet (apt-get install wordnet-base)");
        }
        let out = std::env::temp_dir().join(format!("medhall-wordnet-{}.bin", std::process::id()));
        let status = std::process::Command::new("python3")
            .arg(root.join("scripts/gen_wordnet_table.py"))
            .arg("/usr/share/wordnet")
            .arg(&out)
            .status()
            .expect("python3 runs");
        assert!(status.success());
        let fresh = std::fs::read(&out).expect("generated table");
        let _ = std::fs::remove_file(&out);
        let committed: &[u8] = include_bytes!("../../data/wordnet-3.0.bin");
        assert!(
            fresh == committed,
            "crates/core/data/wordnet-3.0.bin is stale: rerun scripts/gen_wordnet_table.py"
        );
    }
}
