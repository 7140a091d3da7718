//! Medical VQA scores exactly as LLaVA-Med v1.0's evaluation computes them (microsoft/LLaVA-Med at
//! b9a98a7: `run_eval_batch.py`, `run_eval.py`, `eval_metrics/glossary.py`), written from the
//! description in docs/exactness.md ("Medical VQA"): `normalize_word`, closed-question accuracy
//! under three named rules, open-question recall and open accuracy, per question.
//!
//! Text only: no files, no formats (those are medhall-core's `vqa_data`), no statistics.

use crate::text::{python_lower, python_split};
use std::collections::HashMap;

/// The LLaVA-Med commit whose evaluation this reproduces.
pub const LLAVA_MED_COMMIT: &str = "b9a98a7";

/// How a closed question's hit is decided (docs/exactness.md, "Closed rules").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosedRule {
    /// `run_eval_batch.py` (the paper's numbers): the normalised answer is a substring of the
    /// normalised prediction, so "no" hits "not", "normal" and "nodule".
    RunEvalBatch,
    /// `run_eval.py`: the same substring test, counted only when the prediction contains "yes"
    /// or "no" as substrings.
    RunEval,
    /// Ours, not LLaVA-Med's: whole words in order, and a yes/no answer fails when the
    /// prediction says the other one too.
    WholeWord,
}

impl ClosedRule {
    pub const ALL: [ClosedRule; 3] = [
        ClosedRule::RunEvalBatch,
        ClosedRule::RunEval,
        ClosedRule::WholeWord,
    ];

    /// The name used on the command line, in outputs and in the fixture.
    pub fn name(self) -> &'static str {
        match self {
            ClosedRule::RunEvalBatch => "run_eval_batch",
            ClosedRule::RunEval => "run_eval",
            ClosedRule::WholeWord => "whole-word",
        }
    }

    pub fn parse(name: &str) -> Option<ClosedRule> {
        ClosedRule::ALL.into_iter().find(|rule| rule.name() == name)
    }

    /// The rule as the signature states it.
    fn signature_text(self) -> &'static str {
        match self {
            ClosedRule::RunEvalBatch => "substring(run_eval_batch.py)",
            ClosedRule::RunEval => "yes|no-gate+substring(run_eval.py)",
            ClosedRule::WholeWord => "whole-word(medhall,not-llava-med)",
        }
    }
}

/// The signature part of the VQA scores under `rule`.
pub fn signature_part(rule: ClosedRule) -> String {
    format!(
        "vqa:llava-med={LLAVA_MED_COMMIT},norm=normalize_word,case=str.lower,tok=str.split,\
open=recall(calculate_f1score)+accuracy(substring),closed={}",
        rule.signature_text()
    )
}

/// Whether a question is open or closed: LLaVA-Med's `answer_type`, exactly `OPEN` or `CLOSED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnswerType {
    Open,
    Closed,
}

impl AnswerType {
    /// `None` for every other value, which LLaVA-Med's scripts score as neither.
    pub fn parse(text: &str) -> Option<AnswerType> {
        match text {
            "OPEN" => Some(AnswerType::Open),
            "CLOSED" => Some(AnswerType::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AnswerType::Open => "OPEN",
            AnswerType::Closed => "CLOSED",
        }
    }
}

/// One question's values: both texts as compared, then the scores of its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct VqaScore {
    pub answer_normalized: String,
    pub prediction_normalized: String,
    pub values: VqaValues,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VqaValues {
    Open {
        recall: f64,
        hit: bool,
    },
    /// One hit per rule, in [`ClosedRule::ALL`]'s order.
    Closed {
        hits: [bool; 3],
    },
}

impl VqaValues {
    /// The closed hit under `rule`; `None` for an open question.
    pub fn closed_hit(&self, rule: ClosedRule) -> Option<bool> {
        match self {
            VqaValues::Closed { hits } => ClosedRule::ALL
                .iter()
                .position(|r| *r == rule)
                .map(|at| hits[at]),
            VqaValues::Open { .. } => None,
        }
    }
}

/// Scores one question as the scripts do: both texts lowercased, then `normalize_word`.
pub fn score(answer: &str, prediction: &str, answer_type: AnswerType) -> VqaScore {
    let answer_normalized = normalize_word(&python_lower(answer));
    let prediction_normalized = normalize_word(&python_lower(prediction));
    let values = match answer_type {
        AnswerType::Open => VqaValues::Open {
            recall: open_recall(&answer_normalized, &prediction_normalized),
            hit: prediction_normalized.contains(answer_normalized.as_str()),
        },
        AnswerType::Closed => VqaValues::Closed {
            hits: ClosedRule::ALL
                .map(|rule| closed_hit(rule, &answer_normalized, &prediction_normalized)),
        },
    };
    VqaScore {
        answer_normalized,
        prediction_normalized,
        values,
    }
}

/// A closed question's hit, on texts already normalised.
pub fn closed_hit(rule: ClosedRule, answer: &str, prediction: &str) -> bool {
    match rule {
        ClosedRule::RunEvalBatch => prediction.contains(answer),
        ClosedRule::RunEval => {
            (prediction.contains("yes") || prediction.contains("no")) && prediction.contains(answer)
        }
        ClosedRule::WholeWord => whole_word_hit(answer, prediction),
    }
}

fn whole_word_hit(answer: &str, prediction: &str) -> bool {
    let answer: Vec<&str> = python_split(answer).collect();
    let prediction: Vec<&str> = python_split(prediction).collect();
    if answer.is_empty()
        || !prediction
            .windows(answer.len())
            .any(|w| w == answer.as_slice())
    {
        return false;
    }
    let opposite = match answer.as_slice() {
        ["yes"] => Some("no"),
        ["no"] => Some("yes"),
        _ => None,
    };
    opposite.is_none_or(|word| !prediction.contains(&word))
}

/// Open recall: `calculate_f1score`'s recall. It normalises its inputs once more (the scripts
/// hand it normalised text, and normalising is not idempotent), counts whitespace words, and
/// counts a shared word with the prediction's multiplicity, so repeats raise it.
pub fn open_recall(answer: &str, prediction: &str) -> f64 {
    let prediction = normalize_word(prediction);
    let answer = normalize_word(answer);
    let predicted = word_counts(&prediction);
    let expected = word_counts(&answer);
    if predicted.is_empty() || expected.is_empty() {
        return 0.0;
    }
    let mut true_positives = 0usize;
    for (word, count) in &predicted {
        if expected.contains_key(word) {
            true_positives += count;
        }
    }
    let false_negatives: usize = expected
        .iter()
        .filter(|(word, _)| !predicted.contains_key(*word))
        .map(|(_, count)| count)
        .sum();
    if true_positives == 0 {
        return 0.0;
    }
    true_positives as f64 / (true_positives + false_negatives) as f64
}

/// `split_sentence(text, 1)`: lowercase, split on whitespace, count.
fn word_counts(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in python_split(&python_lower(text)) {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The punctuation `normalize_word` handles, in its order (`.` and `'` are not among them).
const PUNCTUATION: [char; 21] = [
    ';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',',
    '?', '!',
];

/// How many periods the period step deletes at most: `re.UNICODE` (32) passed as `count`.
const PERIOD_LIMIT: usize = 32;

/// LLaVA-Med's `normalize_word` (docs/exactness.md lists the steps). The input is expected
/// lowercased, as the scripts lowercase before calling it; it lowercases again before splitting
/// words.
pub fn normalize_word(text: &str) -> String {
    let spaced = punctuation_step(text);
    let without_periods = period_step(&spaced);
    let lowered = python_lower(&without_periods);
    let mut words: Vec<&str> = Vec::new();
    for word in python_split(&lowered) {
        let word = number_word(word).unwrap_or(word);
        if !matches!(word, "a" | "an" | "the") {
            words.push(word);
        }
    }
    let words: Vec<&str> = words
        .into_iter()
        .map(|word| contraction(word).unwrap_or(word))
        .collect();
    words.join(" ").replace(',', "")
}

/// Each punctuation character is deleted when it touches a space somewhere in the input or the
/// input has digit-comma-digit anywhere; otherwise it becomes a space. The tests read the input,
/// not the text being edited.
fn punctuation_step(text: &str) -> String {
    let digit_comma_digit = has_digit_comma_digit(text);
    let mut out = text.to_owned();
    for mark in PUNCTUATION {
        if !out.contains(mark) {
            continue;
        }
        let touches_space = text
            .char_indices()
            .filter(|&(_, c)| c == mark)
            .any(|(at, _)| {
                text[at + mark.len_utf8()..].starts_with(' ') || text[..at].ends_with(' ')
            });
        let replacement = if touches_space || digit_comma_digit {
            ""
        } else {
            " "
        };
        out = out.replace(mark, replacement);
    }
    out
}

fn has_digit_comma_digit(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(3)
        .any(|w| is_decimal_digit(w[0]) && w[1] == ',' && is_decimal_digit(w[2]))
}

/// Deletes the first 32 periods that are not followed by a decimal digit; later ones stay.
fn period_step(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut deleted = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let followed_by_digit = chars.peek().is_some_and(|&next| is_decimal_digit(next));
        if c == '.' && !followed_by_digit && deleted < PERIOD_LIMIT {
            deleted += 1;
        } else {
            out.push(c);
        }
    }
    out
}

fn number_word(word: &str) -> Option<&'static str> {
    Some(match word {
        "none" | "zero" => "0",
        "one" => "1",
        "two" => "2",
        "three" => "3",
        "four" => "4",
        "five" => "5",
        "six" => "6",
        "seven" => "7",
        "eight" => "8",
        "nine" => "9",
        "ten" => "10",
        _ => return None,
    })
}

fn contraction(word: &str) -> Option<&'static str> {
    CONTRACTIONS
        .binary_search_by(|(key, _)| (*key).cmp(word))
        .ok()
        .map(|at| CONTRACTIONS[at].1)
}

/// Python's `\d` on `str`: Unicode category Nd (Unicode 14.0, as CPython 3.11), as ranges.
fn is_decimal_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    DECIMAL_DIGITS
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Category Nd, printed by CPython 3.11 (`unicodedata.category(c) == 'Nd'`), which is exactly
/// what its `re` matches with `\\d`.
const DECIMAL_DIGITS: [(char, char); 62] = [
    ('\u{30}', '\u{39}'),
    ('\u{660}', '\u{669}'),
    ('\u{6f0}', '\u{6f9}'),
    ('\u{7c0}', '\u{7c9}'),
    ('\u{966}', '\u{96f}'),
    ('\u{9e6}', '\u{9ef}'),
    ('\u{a66}', '\u{a6f}'),
    ('\u{ae6}', '\u{aef}'),
    ('\u{b66}', '\u{b6f}'),
    ('\u{be6}', '\u{bef}'),
    ('\u{c66}', '\u{c6f}'),
    ('\u{ce6}', '\u{cef}'),
    ('\u{d66}', '\u{d6f}'),
    ('\u{de6}', '\u{def}'),
    ('\u{e50}', '\u{e59}'),
    ('\u{ed0}', '\u{ed9}'),
    ('\u{f20}', '\u{f29}'),
    ('\u{1040}', '\u{1049}'),
    ('\u{1090}', '\u{1099}'),
    ('\u{17e0}', '\u{17e9}'),
    ('\u{1810}', '\u{1819}'),
    ('\u{1946}', '\u{194f}'),
    ('\u{19d0}', '\u{19d9}'),
    ('\u{1a80}', '\u{1a89}'),
    ('\u{1a90}', '\u{1a99}'),
    ('\u{1b50}', '\u{1b59}'),
    ('\u{1bb0}', '\u{1bb9}'),
    ('\u{1c40}', '\u{1c49}'),
    ('\u{1c50}', '\u{1c59}'),
    ('\u{a620}', '\u{a629}'),
    ('\u{a8d0}', '\u{a8d9}'),
    ('\u{a900}', '\u{a909}'),
    ('\u{a9d0}', '\u{a9d9}'),
    ('\u{a9f0}', '\u{a9f9}'),
    ('\u{aa50}', '\u{aa59}'),
    ('\u{abf0}', '\u{abf9}'),
    ('\u{ff10}', '\u{ff19}'),
    ('\u{104a0}', '\u{104a9}'),
    ('\u{10d30}', '\u{10d39}'),
    ('\u{11066}', '\u{1106f}'),
    ('\u{110f0}', '\u{110f9}'),
    ('\u{11136}', '\u{1113f}'),
    ('\u{111d0}', '\u{111d9}'),
    ('\u{112f0}', '\u{112f9}'),
    ('\u{11450}', '\u{11459}'),
    ('\u{114d0}', '\u{114d9}'),
    ('\u{11650}', '\u{11659}'),
    ('\u{116c0}', '\u{116c9}'),
    ('\u{11730}', '\u{11739}'),
    ('\u{118e0}', '\u{118e9}'),
    ('\u{11950}', '\u{11959}'),
    ('\u{11c50}', '\u{11c59}'),
    ('\u{11d50}', '\u{11d59}'),
    ('\u{11da0}', '\u{11da9}'),
    ('\u{16a60}', '\u{16a69}'),
    ('\u{16ac0}', '\u{16ac9}'),
    ('\u{16b50}', '\u{16b59}'),
    ('\u{1d7ce}', '\u{1d7ff}'),
    ('\u{1e140}', '\u{1e149}'),
    ('\u{1e2f0}', '\u{1e2f9}'),
    ('\u{1e950}', '\u{1e959}'),
    ('\u{1fbf0}', '\u{1fbf9}'),
];

/// The glossary's contractions table (LLaVA-Med's `glossary.contractions`, from the VQA
/// evaluation toolkit), sorted; keys with capitals (`Im`, `Ive`, `Id've`, `I'dve`) are left out
/// because the words they are looked up with are lowercase. `somebody'd` maps to `somebodyd`, sic.
const CONTRACTIONS: [(&str, &str); 116] = [
    ("'ow'sat", "'ow's'at"),
    ("'ows'at", "'ow's'at"),
    ("aint", "ain't"),
    ("arent", "aren't"),
    ("cant", "can't"),
    ("couldn'tve", "couldn't've"),
    ("couldnt", "couldn't"),
    ("couldnt've", "couldn't've"),
    ("couldve", "could've"),
    ("didnt", "didn't"),
    ("doesnt", "doesn't"),
    ("dont", "don't"),
    ("hadn'tve", "hadn't've"),
    ("hadnt", "hadn't"),
    ("hadnt've", "hadn't've"),
    ("hasnt", "hasn't"),
    ("havent", "haven't"),
    ("he'dve", "he'd've"),
    ("hed", "he'd"),
    ("hed've", "he'd've"),
    ("hes", "he's"),
    ("howd", "how'd"),
    ("howll", "how'll"),
    ("hows", "how's"),
    ("isnt", "isn't"),
    ("it'dve", "it'd've"),
    ("itd", "it'd"),
    ("itd've", "it'd've"),
    ("itll", "it'll"),
    ("let's", "let's"),
    ("maam", "ma'am"),
    ("mightn'tve", "mightn't've"),
    ("mightnt", "mightn't"),
    ("mightnt've", "mightn't've"),
    ("mightve", "might've"),
    ("mustnt", "mustn't"),
    ("mustve", "must've"),
    ("neednt", "needn't"),
    ("notve", "not've"),
    ("oclock", "o'clock"),
    ("oughtnt", "oughtn't"),
    ("ow's'at", "'ow's'at"),
    ("shant", "shan't"),
    ("she'dve", "she'd've"),
    ("she's", "she's"),
    ("shed've", "she'd've"),
    ("shouldn'tve", "shouldn't've"),
    ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"),
    ("shouldve", "should've"),
    ("somebody'd", "somebodyd"),
    ("somebody'dve", "somebody'd've"),
    ("somebodyd've", "somebody'd've"),
    ("somebodyll", "somebody'll"),
    ("somebodys", "somebody's"),
    ("someone'dve", "someone'd've"),
    ("someoned", "someone'd"),
    ("someoned've", "someone'd've"),
    ("someonell", "someone'll"),
    ("someones", "someone's"),
    ("something'dve", "something'd've"),
    ("somethingd", "something'd"),
    ("somethingd've", "something'd've"),
    ("somethingll", "something'll"),
    ("thats", "that's"),
    ("there'dve", "there'd've"),
    ("thered", "there'd"),
    ("thered've", "there'd've"),
    ("therere", "there're"),
    ("theres", "there's"),
    ("they'dve", "they'd've"),
    ("theyd", "they'd"),
    ("theyd've", "they'd've"),
    ("theyll", "they'll"),
    ("theyre", "they're"),
    ("theyve", "they've"),
    ("twas", "'twas"),
    ("wasnt", "wasn't"),
    ("we'dve", "we'd've"),
    ("wed've", "we'd've"),
    ("werent", "weren't"),
    ("weve", "we've"),
    ("whatll", "what'll"),
    ("whatre", "what're"),
    ("whats", "what's"),
    ("whatve", "what've"),
    ("whens", "when's"),
    ("whered", "where'd"),
    ("wheres", "where's"),
    ("whereve", "where've"),
    ("who'dve", "who'd've"),
    ("whod", "who'd"),
    ("whod've", "who'd've"),
    ("wholl", "who'll"),
    ("whos", "who's"),
    ("whove", "who've"),
    ("whyll", "why'll"),
    ("whyre", "why're"),
    ("whys", "why's"),
    ("wont", "won't"),
    ("wouldn'tve", "wouldn't've"),
    ("wouldnt", "wouldn't"),
    ("wouldnt've", "wouldn't've"),
    ("wouldve", "would've"),
    ("y'all'dve", "y'all'd've"),
    ("y'alld've", "y'all'd've"),
    ("y'allll", "y'all'll"),
    ("yall", "y'all"),
    ("yall'd've", "y'all'd've"),
    ("yall'll", "y'all'll"),
    ("you'dve", "you'd've"),
    ("youd", "you'd"),
    ("youd've", "you'd've"),
    ("youll", "you'll"),
    ("youre", "you're"),
    ("youve", "you've"),
];

#[cfg(test)]
mod tests {
    use super::*;

    // Each expectation below was printed by LLaVA-Med's own normalize_word / calculate_f1score
    // (b9a98a7) in the fixture venv; tests/vqa.rs checks 1,200 more (fixtures/vqa.json).
    #[test]
    fn normalize_word_quirks() {
        assert_eq!(normalize_word("left-sided"), "left sided");
        assert_eq!(normalize_word("left - sided"), "left sided");
        // digit-comma-digit anywhere deletes every punctuation mark instead of spacing it
        assert_eq!(normalize_word("1,000 left-sided"), "1000 leftsided");
        assert_eq!(normalize_word("no, not 1,000 (a)"), "no not 1000");
        assert_eq!(normalize_word("3.5 cm. end."), "3.5 cm end");
        assert_eq!(normalize_word("x.5"), "x.5");
        assert_eq!(normalize_word("u.s."), "us");
        // only 32 periods go
        assert_eq!(
            normalize_word(&"a.".repeat(40)),
            format!("{}{}", "a".repeat(33), ".a".repeat(7) + ".")
        );
        assert_eq!(
            normalize_word("dont isnt im somebody'd none one"),
            "don't isn't im somebodyd 0 1"
        );
        // U+001C splits words in Python; "a" is then an article
        assert_eq!(normalize_word("a\u{1c}b"), "b");
        assert_eq!(normalize_word("the"), "");
        assert_eq!(normalize_word("?"), "");
    }

    #[test]
    fn unicode_digits_are_python_digits() {
        assert!(is_decimal_digit('٣') && is_decimal_digit('１') && is_decimal_digit('7'));
        assert!(!is_decimal_digit('²') && !is_decimal_digit('Ⅻ') && !is_decimal_digit('a'));
        assert_eq!(normalize_word("left-sided ٣,٤"), "leftsided ٣٤");
        assert_eq!(normalize_word("left-sided ²,³"), "left sided ² ³");
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(CONTRACTIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(DECIMAL_DIGITS.windows(2).all(|w| w[0].1 < w[1].0));
        assert_eq!(contraction("couldnt've"), Some("couldn't've"));
        assert_eq!(contraction("Im"), None);
    }

    #[test]
    fn recall_counts_the_predictions_repeats() {
        assert_eq!(open_recall("left lung", "lung lung lung"), 0.75);
        assert_eq!(open_recall("yes no", "yes yes yes"), 0.75);
        assert_eq!(open_recall("x", ""), 0.0);
        assert_eq!(open_recall("", "x"), 0.0);
    }

    #[test]
    fn closed_rules_differ_as_documented() {
        let hits = |answer: &str, prediction: &str| {
            let scored = score(answer, prediction, AnswerType::Closed);
            ClosedRule::ALL.map(|rule| scored.values.closed_hit(rule) == Some(true))
        };
        assert_eq!(hits("no", "The nodule is normal."), [true, true, false]);
        assert_eq!(hits("yes", "eyes"), [true, true, false]);
        assert_eq!(hits("no", "yes or no"), [true, true, false]);
        assert_eq!(hits("left", "left"), [true, false, true]);
        assert_eq!(hits("left", "not the left one"), [true, true, true]);
        assert_eq!(hits("the", "anything"), [true, false, false]);
        assert_eq!(hits("yes", "Yes."), [true, true, true]);
    }

    #[test]
    fn signature_names_the_rule() {
        let parts = ClosedRule::ALL.map(signature_part);
        assert!(parts[0].contains("closed=substring(run_eval_batch.py)"));
        assert!(parts[2].contains("not-llava-med"));
        assert_ne!(parts[0], parts[1]);
        assert_eq!(ClosedRule::parse("run_eval"), Some(ClosedRule::RunEval));
    }

    proptest::proptest! {
        /// Any text, hostile characters weighted in: a value, never a panic; the normalised text
        /// has single spaces and no outer ones, and recall is a fraction.
        #[test]
        fn any_text_scores(
            answer in "[ a-z0-9.,;/\\-?!()'\t\n\u{1c}\u{a0}\u{660}-\u{669}İΣé]{0,40}",
            prediction in ".{0,60}",
        ) {
            for kind in [AnswerType::Open, AnswerType::Closed] {
                let scored = score(&answer, &prediction, kind);
                for text in [&scored.answer_normalized, &scored.prediction_normalized] {
                    proptest::prop_assert!(!text.starts_with(' ') && !text.ends_with(' '));
                    proptest::prop_assert!(!text.contains("  "));
                }
                if let VqaValues::Open { recall, .. } = scored.values {
                    proptest::prop_assert!((0.0..=1.0).contains(&recall));
                }
            }
        }
    }
}
