//! What a sample is: its key, and the benchmark's split.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The benchmark's two halves. Positive questions are answerable from the image
/// (non-hallucination); negative questions embed a false premise (hallucination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Positive,
    Negative,
}

impl Split {
    pub const ALL: [Split; 2] = [Split::Positive, Split::Negative];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Positive => "positive",
            Split::Negative => "negative",
        }
    }

    /// Parses a split name as written in a field or on the command line.
    pub fn parse(text: &str) -> Option<Split> {
        match text.trim().to_ascii_lowercase().as_str() {
            "positive" | "pos" | "non-hallucination" => Some(Split::Positive),
            "negative" | "neg" | "hallucination" => Some(Split::Negative),
            _ => None,
        }
    }

    /// The split a file name states, if it states exactly one. The upstream positive judge file
    /// is spelt `...-postive-...`, so that spelling counts too.
    pub fn from_file_name(name: &str) -> Option<Split> {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
        let positive = base.contains("positive") || base.contains("postive");
        let negative = base.contains("negative");
        match (positive, negative) {
            (true, false) => Some(Split::Positive),
            (false, true) => Some(Split::Negative),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sample's identity. `question_id` values collide between the splits, so the split is part
/// of the key. Integer ids are kept as their decimal text so `5` and `"5"` are the same sample.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SampleKey {
    pub split: Split,
    pub question_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_from_file_names() {
        assert_eq!(
            Split::from_file_name("llava-med-prediction-postive-GPT4o-eval-filtered.jsonl"),
            Some(Split::Positive)
        );
        assert_eq!(
            Split::from_file_name("dir/val.negative.references.jsonl"),
            Some(Split::Negative)
        );
        assert_eq!(
            Split::from_file_name("positive/negative.jsonl"),
            Some(Split::Negative)
        );
        assert_eq!(Split::from_file_name("run.jsonl"), None);
        assert_eq!(Split::from_file_name("positive-vs-negative.jsonl"), None);
    }
}
