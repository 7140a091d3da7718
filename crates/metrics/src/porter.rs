//! NLTK 3.10.4's `PorterStemmer()` (mode `NLTK_EXTENSIONS`), `.stem(word)` with `to_lowercase=True`.
//!
//! Python indexes strings by code point, so ASCII words run on bytes (the hot path) and anything else
//! on `Vec<char>`; every code point other than a, e, i, o, u (and a vowel-like 'y') is a consonant.

use crate::text::python_lower;

/// Stems `word` exactly as `nltk.stem.PorterStemmer().stem(word)` does.
pub fn stem(word: &str) -> String {
    if word.is_ascii() {
        // Step 1b may add one 'e'; no other rule lengthens the word.
        let mut w = Vec::with_capacity(word.len() + 1);
        w.extend(word.bytes().map(|b| b.to_ascii_lowercase()));
        if let Some(base) = irregular(&w) {
            return base.to_owned();
        }
        if w.len() > 2 {
            stem_units(&mut w);
        }
        // Every byte is ASCII: the input's own bytes or the ASCII rule replacements.
        return String::from_utf8(w).unwrap_or_default();
    }
    let lower = python_lower(word);
    // 'K' (U+212A) lowercases to plain 'k', so the pool may still apply.
    if let Some(base) = irregular(lower.as_bytes()) {
        return base.to_owned();
    }
    let mut w: Vec<char> = lower.chars().collect();
    // NLTK tests the length of the word as given, before lowercasing ('İ' lowercases to two code points).
    if word.chars().count() > 2 {
        stem_units(&mut w);
    }
    w.into_iter().collect()
}

/// NLTK's pool of irregular forms, looked up with the lowercased word.
fn irregular(word: &[u8]) -> Option<&'static str> {
    Some(match word {
        b"sky" | b"skies" => "sky",
        b"dying" => "die",
        b"lying" => "lie",
        b"tying" => "tie",
        b"news" => "news",
        b"innings" | b"inning" => "inning",
        b"outings" | b"outing" => "outing",
        b"cannings" | b"canning" => "canning",
        b"howe" => "howe",
        b"proceed" => "proceed",
        b"exceed" => "exceed",
        b"succeed" => "succeed",
        _ => return None,
    })
}

/// One code point of the word: a byte for ASCII words, a `char` otherwise.
trait Unit: Copy + Eq {
    /// The ASCII byte, or 0xFF (never equal to a rule letter) for a non-ASCII code point.
    fn ascii(self) -> u8;
    fn from_ascii(b: u8) -> Self;
}

impl Unit for u8 {
    #[inline]
    fn ascii(self) -> u8 {
        self
    }
    #[inline]
    fn from_ascii(b: u8) -> Self {
        b
    }
}

impl Unit for char {
    #[inline]
    fn ascii(self) -> u8 {
        if self.is_ascii() { self as u8 } else { 0xFF }
    }
    #[inline]
    fn from_ascii(b: u8) -> Self {
        char::from(b)
    }
}

#[inline]
fn is_vowel<T: Unit>(c: T) -> bool {
    matches!(c.ascii(), b'a' | b'e' | b'i' | b'o' | b'u')
}

#[inline]
fn ends<T: Unit>(w: &[T], suffix: &[u8]) -> bool {
    w.len() >= suffix.len()
        && w[w.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(&c, &b)| c.ascii() == b)
}

/// Replaces the last `cut` units with `with`.
#[inline]
fn replace<T: Unit>(w: &mut Vec<T>, cut: usize, with: &[u8]) {
    w.truncate(w.len() - cut);
    w.extend(with.iter().map(|&b| T::from_ascii(b)));
}

/// `_is_consonant`: a 'y' is a consonant at the start or after a vowel, a vowel after a consonant.
fn is_consonant<T: Unit>(w: &[T], mut i: usize) -> bool {
    if is_vowel(w[i]) {
        return false;
    }
    let mut negate = false;
    while i > 0 && w[i].ascii() == b'y' {
        negate = !negate;
        i -= 1;
    }
    // Python's `(word[i] not in vowels) != negate`.
    is_vowel(w[i]) == negate
}

/// `_measure`: the number of vowel→consonant transitions.
fn measure<T: Unit>(w: &[T]) -> usize {
    let mut m = 0;
    let mut prev_cons = true;
    for (i, &c) in w.iter().enumerate() {
        let cons = if is_vowel(c) {
            false
        } else if c.ascii() == b'y' {
            i == 0 || !prev_cons
        } else {
            true
        };
        if cons && !prev_cons {
            m += 1;
        }
        prev_cons = cons;
    }
    m
}

fn contains_vowel<T: Unit>(w: &[T]) -> bool {
    // Everything before the first vowel is a consonant, so a 'y' there is a vowel unless it leads.
    w.iter()
        .enumerate()
        .any(|(i, &c)| is_vowel(c) || (i > 0 && c.ascii() == b'y'))
}

/// `*d`: ends with a double consonant.
fn ends_double_consonant<T: Unit>(w: &[T]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// `*o`: ends consonant-vowel-consonant, the last not w/x/y; NLTK also accepts a two-unit vowel-consonant.
fn ends_cvc<T: Unit>(w: &[T]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1].ascii(), b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

#[derive(Clone, Copy)]
enum Cond {
    /// m(stem) > 0
    M0,
    /// m(stem) > 1
    M1,
    /// m(stem) > 1 and the stem ends in 's' or 't' (step 4 'ion').
    Ion,
    /// m(word[:-3]) > 0: the 'l' of 'logi' stays with the stem.
    Logi,
}

impl Cond {
    fn holds<T: Unit>(self, w: &[T], stem_len: usize) -> bool {
        let stem = &w[..stem_len];
        match self {
            Cond::M0 => measure(stem) > 0,
            Cond::M1 => measure(stem) > 1,
            Cond::Ion => {
                measure(stem) > 1 && matches!(stem.last().map(|c| c.ascii()), Some(b's' | b't'))
            }
            Cond::Logi => measure(&w[..w.len() - 3]) > 0,
        }
    }
}

type Rule = (&'static [u8], &'static [u8], Cond);

/// `_apply_rule_list`: the first rule whose suffix matches decides, whether or not its condition holds.
fn apply_rules<T: Unit>(w: &mut Vec<T>, rules: &[Rule]) {
    for &(suffix, with, cond) in rules {
        if ends(w, suffix) {
            let stem_len = w.len() - suffix.len();
            if cond.holds(w, stem_len) {
                replace(w, suffix.len(), with);
            }
            return;
        }
    }
}

fn stem_units<T: Unit>(w: &mut Vec<T>) {
    step1a(w);
    step1b(w);
    step1c(w);
    step2(w);
    apply_rules(w, STEP3);
    apply_rules(w, STEP4);
    step5a(w);
    // Step 5b: (m > 1 and *d and *L) -> single letter, with m taken over word[:-1].
    if ends(w, b"ll") && measure(&w[..w.len() - 1]) > 1 {
        w.pop();
    }
}

fn step1a<T: Unit>(w: &mut Vec<T>) {
    if ends(w, b"ies") && w.len() == 4 {
        // NLTK: 'dies' -> 'die' but 'flies' -> 'fli'.
        replace(w, 3, b"ie");
    } else if ends(w, b"sses") {
        replace(w, 4, b"ss");
    } else if ends(w, b"ies") {
        replace(w, 3, b"i");
    } else if ends(w, b"ss") {
    } else if ends(w, b"s") {
        w.pop();
    }
}

fn step1b<T: Unit>(w: &mut Vec<T>) {
    if ends(w, b"ied") {
        // NLTK: 'died' -> 'die' but 'spied' -> 'spi'.
        let with: &[u8] = if w.len() == 4 { b"ie" } else { b"i" };
        replace(w, 3, with);
        return;
    }
    if ends(w, b"eed") {
        if measure(&w[..w.len() - 3]) > 0 {
            w.pop();
        }
        return;
    }
    let cut = if ends(w, b"ed") {
        2
    } else if ends(w, b"ing") {
        3
    } else {
        return;
    };
    if !contains_vowel(&w[..w.len() - cut]) {
        return;
    }
    w.truncate(w.len() - cut);
    if ends(w, b"at") || ends(w, b"bl") || ends(w, b"iz") {
        w.push(T::from_ascii(b'e'));
    } else if ends_double_consonant(w) {
        if !matches!(w[w.len() - 1].ascii(), b'l' | b's' | b'z') {
            w.pop();
        }
    } else if ends(w, b"*d") {
        // NLTK's rule list spells the double-consonant rule as the suffix "*d", which a literal "*d"
        // then matches: it is replaced by the stem's last letter, 'd'.
        replace(w, 2, b"d");
    } else if measure(w) == 1 && ends_cvc(w) {
        w.push(T::from_ascii(b'e'));
    }
}

fn step1c<T: Unit>(w: &mut [T]) {
    // NLTK: (*c and not c) Y -> I, so 'happy' -> 'happi' but 'enjoy' and 'by' stay.
    let n = w.len();
    // len(stem) > 1, with stem = word[:-1].
    if ends(w, b"y") && n > 2 && is_consonant(w, n - 2) {
        w[n - 1] = T::from_ascii(b'i');
    }
}

const STEP2: &[Rule] = &[
    (b"ational", b"ate", Cond::M0),
    (b"tional", b"tion", Cond::M0),
    (b"enci", b"ence", Cond::M0),
    (b"anci", b"ance", Cond::M0),
    (b"izer", b"ize", Cond::M0),
    (b"bli", b"ble", Cond::M0),
    (b"alli", b"al", Cond::M0),
    (b"entli", b"ent", Cond::M0),
    (b"eli", b"e", Cond::M0),
    (b"ousli", b"ous", Cond::M0),
    (b"ization", b"ize", Cond::M0),
    (b"ation", b"ate", Cond::M0),
    (b"ator", b"ate", Cond::M0),
    (b"alism", b"al", Cond::M0),
    (b"iveness", b"ive", Cond::M0),
    (b"fulness", b"ful", Cond::M0),
    (b"ousness", b"ous", Cond::M0),
    (b"aliti", b"al", Cond::M0),
    (b"iviti", b"ive", Cond::M0),
    (b"biliti", b"ble", Cond::M0),
    (b"fulli", b"ful", Cond::M0),
    (b"logi", b"log", Cond::Logi),
];

fn step2<T: Unit>(w: &mut Vec<T>) {
    // NLTK applies ALLI -> AL first and reruns step 2 on the result; that ends in "al", so the rerun
    // is just the rule list.
    if ends(w, b"alli") && measure(&w[..w.len() - 4]) > 0 {
        replace(w, 4, b"al");
    }
    apply_rules(w, STEP2);
}

const STEP3: &[Rule] = &[
    (b"icate", b"ic", Cond::M0),
    (b"ative", b"", Cond::M0),
    (b"alize", b"al", Cond::M0),
    (b"iciti", b"ic", Cond::M0),
    (b"ical", b"ic", Cond::M0),
    (b"ful", b"", Cond::M0),
    (b"ness", b"", Cond::M0),
];

const STEP4: &[Rule] = &[
    (b"al", b"", Cond::M1),
    (b"ance", b"", Cond::M1),
    (b"ence", b"", Cond::M1),
    (b"er", b"", Cond::M1),
    (b"ic", b"", Cond::M1),
    (b"able", b"", Cond::M1),
    (b"ible", b"", Cond::M1),
    (b"ant", b"", Cond::M1),
    (b"ement", b"", Cond::M1),
    (b"ment", b"", Cond::M1),
    (b"ent", b"", Cond::M1),
    (b"ion", b"", Cond::Ion),
    (b"ou", b"", Cond::M1),
    (b"ism", b"", Cond::M1),
    (b"ate", b"", Cond::M1),
    (b"iti", b"", Cond::M1),
    (b"ous", b"", Cond::M1),
    (b"ive", b"", Cond::M1),
    (b"ize", b"", Cond::M1),
];

fn step5a<T: Unit>(w: &mut Vec<T>) {
    if ends(w, b"e") {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            w.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medhall_reference_stack::{ReferenceStack, skip_or_fail as skip};

    const FIXTURE: &str = include_str!("../tests/fixtures/porter_nltk.tsv");

    #[test]
    fn porter_matches_nltk_fixture() {
        // Written by scripts/gen_porter_fixture.py; no trailing text after the last newline.
        let lines: Vec<&str> = FIXTURE
            .strip_suffix('\n')
            .unwrap_or(FIXTURE)
            .split('\n')
            .collect();
        assert!(
            lines.len() > 4000,
            "fixture too small: {} lines",
            lines.len()
        );
        let mut mismatches = Vec::new();
        for line in &lines {
            let (word, expected) = line.split_once('\t').expect("fixture line has a tab");
            let got = stem(word);
            if got != expected {
                mismatches.push(format!("{word:?}: nltk {expected:?}, ours {got:?}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} of {} differ; first ones:\n{}",
            mismatches.len(),
            lines.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
    }

    #[test]
    fn porter_known_stems() {
        for (word, expected) in [
            ("caresses", "caress"),
            ("flies", "fli"),
            ("dies", "die"),
            ("SKIES", "sky"),
            ("generalizations", "gener"),
            ("a*ded", "ad"),
            ("İ", "i\u{307}"),
            ("\u{212a}ies", "kie"),
            ("", ""),
        ] {
            assert_eq!(stem(word), expected, "{word:?}");
        }
    }

    /// A deterministic mix of letters, 'y' runs, rule suffixes, digits, punctuation and non-ASCII.
    fn random_words(count: usize) -> Vec<String> {
        const PIECES: &[&str] = &[
            "a", "e", "i", "o", "u", "y", "y", "yy", "b", "c", "d", "l", "s", "t", "z", "w", "x",
            "r", "n", "m", "ll", "ss", "at", "bl", "iz", "ed", "ing", "eed", "ied", "ies", "sses",
            "s", "ational", "tional", "enci", "anci", "izer", "bli", "alli", "entli", "eli",
            "ousli", "ization", "ation", "ator", "alism", "iveness", "fulness", "ousness", "aliti",
            "iviti", "biliti", "fulli", "logi", "icate", "ative", "alize", "iciti", "ical", "ful",
            "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment",
            "ent", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "*d", "*", "-", ".", ",",
            "'", "(", ")", "0", "1", "9", "µ", "é", "ï", "ß", "β", "Σ", "İ", "\u{212a}",
            "\u{2082}", "\u{301}", "😀", "中", "A", "E", "Y", "S", "ING", "ED",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        (0..count)
            .map(|_| {
                let pieces = 1 + (next() % 6) as usize;
                (0..pieces)
                    .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    const NLTK_SNIPPET: &str = "
import sys
from nltk.stem.porter import PorterStemmer
stemmer = PorterStemmer()
with open(sys.argv[1], encoding='utf-8', newline='\\n') as f:
    words = f.read().split('\\n')
with open(sys.argv[2], 'w', encoding='utf-8', newline='\\n') as f:
    f.write('\\n'.join(stemmer.stem(w) for w in words))
";

    #[test]
    fn porter_matches_nltk_on_vocabulary() {
        let reference = match ReferenceStack::locate() {
            Ok(reference) => reference,
            Err(reason) => return skip(&reason),
        };
        let mut words = Vec::new();
        for pos in ["noun", "verb", "adj", "adv"] {
            let path = format!("/usr/share/wordnet/index.{pos}");
            let Ok(text) = std::fs::read_to_string(&path) else {
                return skip(&format!("cannot read {path}"));
            };
            for line in text.lines().filter(|l| !l.starts_with(' ')) {
                let lemma = line.split(' ').next().unwrap_or_default();
                if !lemma.contains('_') {
                    words.push(lemma.to_owned());
                }
            }
        }
        words.sort();
        words.dedup();
        let lemmas = words.len();
        for i in 0..lemmas {
            let upper = words[i].to_uppercase();
            let mut chars = words[i].chars();
            let capitalized: String = chars
                .next()
                .into_iter()
                .flat_map(char::to_uppercase)
                .chain(chars)
                .collect();
            words.push(upper);
            words.push(capitalized);
        }
        words.extend(random_words(20_000));
        assert!(words.iter().all(|w| !w.contains(['\n', '\r'])));

        let dir = std::env::temp_dir();
        let input = dir.join(format!("medhall-porter-{}-words.txt", std::process::id()));
        let output = dir.join(format!("medhall-porter-{}-stems.txt", std::process::id()));
        std::fs::write(&input, words.join("\n")).expect("write word list");
        let run = reference
            .command()
            .arg("-c")
            .arg(NLTK_SNIPPET)
            .arg(&input)
            .arg(&output)
            .output()
            .expect("start reference python");
        let stems = std::fs::read_to_string(&output);
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&output);
        assert!(
            run.status.success(),
            "reference python failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let stems = stems.expect("read reference stems");
        let expected: Vec<&str> = stems.split('\n').collect();
        assert_eq!(
            expected.len(),
            words.len(),
            "reference returned a different count"
        );

        let mismatches: Vec<String> = words
            .iter()
            .zip(&expected)
            .filter_map(|(word, &want)| {
                let got = stem(word);
                (got != want).then(|| format!("{word:?}: nltk {want:?}, ours {got:?}"))
            })
            .collect();
        eprintln!(
            "porter: compared {} words ({lemmas} WordNet lemmas)",
            words.len()
        );
        assert!(
            mismatches.is_empty(),
            "{} of {} differ; first ones:\n{}",
            mismatches.len(),
            words.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
    }
}
