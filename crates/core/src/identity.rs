//! Stable names and content hashes that several modules share: the model a run file belongs to,
//! a run's identity, and the hashes that tie kept B.Score values to their texts. They live here,
//! below every module that uses them, so none of those reaches up into another for them (the
//! CLI's B.Score cache, the page's kept chunks and the session all file values under them).

use crate::dataset::Run;
use crate::fast_hash::ContentHash;
use crate::sample::SampleKey;

/// `x.positive.gpt4o-eval.jsonl` → `x.gpt4o-eval`: the name without split words and extension.
pub fn model_name(run_name: &str) -> String {
    let base = run_name.rsplit(['/', '\\']).next().unwrap_or(run_name);
    let stem = [".jsonl", ".json", ".csv", ".tsv", ".txt"]
        .iter()
        .find_map(|ext| {
            base.len()
                .checked_sub(ext.len())
                .filter(|&at| base.is_char_boundary(at) && base[at..].eq_ignore_ascii_case(ext))
                .map(|at| &base[..at])
        })
        .unwrap_or(base);
    let parts: Vec<&str> = stem
        .split(['.', '_', '-', ' '])
        .filter(|p| {
            let lower = p.to_ascii_lowercase();
            !p.is_empty() && !matches!(lower.as_str(), "positive" | "postive" | "negative")
        })
        .collect();
    if parts.is_empty() {
        stem.to_owned()
    } else {
        parts.join("-")
    }
}

/// 16 hex digits of FNV-1a over a B.Score pair's two texts: a kept value applies only to the
/// texts it was computed for.
pub fn pair_hash(candidate: &str, reference: &str) -> String {
    let mut hash = Fnv1a::default();
    hash.eat(candidate.as_bytes());
    hash.eat(&[0x1f]);
    hash.eat(reference.as_bytes());
    hash.hex()
}

/// 32 hex digits over the texts of one chunk of B.Score pairs, in order: bert_score pads a
/// chunk's sentences to its longest, so a pair's F1 depends on its neighbours, and a kept
/// chunk's values apply only to a chunk of exactly the same pairs.
pub fn bertscore_chunk_hash<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hash = ContentHash::default();
    for (candidate, reference) in pairs {
        hash.field(candidate.as_bytes());
        hash.field(reference.as_bytes());
    }
    hash.hex()
}

/// FNV-1a over every prediction's split, question id and answer, in order: stable across
/// versions and platforms (unlike the std hashers), for keys kept in the browser.
pub fn run_identity(run: &Run) -> String {
    let mut hash = Fnv1a::default();
    for prediction in run.predictions() {
        hash.record(&prediction.key, [prediction.answer.as_str()].into_iter());
    }
    hash.hex()
}

/// FNV-1a over questions (split, question id and text), in order: the identity of a set of
/// reference questions (the type plan's), so labels kept in the browser apply to the same shard
/// loaded again.
pub fn questions_identity<'a>(
    questions: impl IntoIterator<Item = (&'a SampleKey, &'a str)>,
) -> String {
    let mut hash = Fnv1a::default();
    for (key, question) in questions {
        hash.record(key, [question].into_iter());
    }
    hash.hex()
}

/// 64-bit FNV-1a over records of text fields (0x1f between fields, 0x1e after a record).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn eat(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn record<'a>(&mut self, key: &SampleKey, fields: impl Iterator<Item = &'a str>) {
        self.eat(key.split.as_str().as_bytes());
        self.eat(&[0x1f]);
        self.eat(key.question_id.as_bytes());
        for field in fields {
            self.eat(&[0x1f]);
            self.eat(field.as_bytes());
        }
        self.eat(&[0x1e]);
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_hash_follows_every_pair_and_their_order() {
        let chunk = bertscore_chunk_hash([("a", "b"), ("c", "d")]);
        assert_eq!(chunk, bertscore_chunk_hash([("a", "b"), ("c", "d")]));
        assert_ne!(chunk, bertscore_chunk_hash([("c", "d"), ("a", "b")]));
        assert_ne!(chunk, bertscore_chunk_hash([("a", "b"), ("c", "e")]));
        assert_ne!(chunk, bertscore_chunk_hash([("a", "b")]));
        assert_ne!(
            bertscore_chunk_hash([("ab", "")]),
            bertscore_chunk_hash([("a", "b")])
        );
    }

    #[test]
    fn model_names_drop_split_words() {
        assert_eq!(
            model_name("llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"),
            "llava-med-v1-5-7b-gpt4o-eval"
        );
        assert_eq!(
            model_name("llava-med-prediction-postive-GPT4o-eval-filtered.jsonl"),
            model_name("llava-med-prediction-negative-GPT4o-eval-filtered.jsonl")
        );
        assert_eq!(model_name("negative.csv"), "negative");
    }

    #[test]
    fn kept_keys_keep_their_values() {
        // Values kept in the browser and the CLI's cache are filed under these: they must not
        // change (computed independently with a few lines of Python's FNV-1a).
        assert_eq!(
            pair_hash("No mass is seen.", "A mass is seen."),
            "4ffb1261c155d202"
        );
        let key = |id: &str| SampleKey {
            split: crate::sample::Split::Negative,
            question_id: id.to_owned(),
        };
        let (one, two) = (key("1"), key("2"));
        assert_eq!(
            questions_identity([(&one, "Where is the stent?"), (&two, "Q2?")]),
            "6e2243b2e6961531"
        );
    }
}
