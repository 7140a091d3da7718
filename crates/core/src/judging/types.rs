//! Hallucination types from an LLM, for shards that carry none (the public validation split).
//!
//! The benchmark's paper sorts its negative (hallucination) instructions into three types; the
//! published files do not say which question is which. This asks the judge's endpoint to pick one
//! per negative question, with a prompt of ours written from the paper's definitions (it is not
//! the benchmark's). Each label is kept with the model that gave it (`labelled_by`), and a type
//! map holding such labels marks them wherever they are shown (see
//! [`crate::dataset::add_type_record`]), so they never pass for the benchmark's own.

use super::messages::ChatMessage;
use super::plan::FIG_CAPTION_FIELD;
use crate::dataset::{Issue, IssueKind, ReferenceSet, TypeMap, reference_type};
// Defined with the type map that reads them (which must not import this module); kept here too.
pub use crate::dataset::{LABELLED_BY_FIELD, labelled_type};
use crate::sample::{SampleKey, Split};
use serde::Serialize;

/// Names this prompt's wording; it goes into the labels' provenance.
pub const TYPE_PROMPT_VERSION: &str = "medhall-types-1";

/// The paper's three types of hallucination instruction, as our type maps name them.
pub const HALLUCINATION_TYPES: [&str; 3] = [
    "nonexistent object",
    "object manipulation",
    "knowledge distortion",
];

pub const TYPE_SYSTEM_PROMPT: &str =
    "You are a careful annotator of medical visual question answering data.";

/// Our instruction, from the MedHallTune paper's definitions of its three types of
/// hallucination (negative) instruction.
pub const TYPE_INSTRUCTION: &str = "The question below was written to test whether a vision-language model hallucinates: it contains a false premise about a medical image. The figure caption describes the image, and the reference answer explains what is wrong with the question.

Classify the question's false premise as exactly one of these types:
1. nonexistent object: the question asks about a medical object, structure, device or finding that is not present in the image.
2. object manipulation: the object is present, but the question misstates its attributes, such as its location, size, shape, number, colour, orientation or appearance.
3. knowledge distortion: the question states incorrect clinical or medical knowledge, such as a wrong diagnosis, mechanism, treatment, association or fact, rather than misdescribing what the image shows.

Answer with the type's name alone on the first line (nonexistent object, object manipulation or knowledge distortion). You may explain briefly on the next line.";

/// The messages asking for one question's type.
pub fn type_messages(
    question: &str,
    gpt4_answer: &str,
    fig_caption: Option<&str>,
) -> Vec<ChatMessage> {
    let question = question.trim_end().trim_end_matches("<image>").trim_end();
    let user = format!(
        "Figure caption: {}\n\nQuestion: {question}\n\nReference answer: {gpt4_answer}\n\n{TYPE_INSTRUCTION}",
        fig_caption.unwrap_or("(none)")
    );
    vec![
        ChatMessage {
            role: "system".into(),
            content: TYPE_SYSTEM_PROMPT.into(),
        },
        ChatMessage {
            role: "user".into(),
            content: user,
        },
    ]
}

/// One negative question to label: where it was read, its messages, and whether it has a type
/// already (a shard field or a type map).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeRequest {
    pub key: SampleKey,
    pub source: String,
    pub line: u64,
    pub question: String,
    pub messages: Vec<ChatMessage>,
    pub typed: bool,
}

/// The requests labelling every negative reference question, and an issue for each that has no
/// question text. Shared by `medhall judge --label-types` and the page (`Session::type_plan`).
pub fn type_requests(
    references: &ReferenceSet,
    types: &TypeMap,
    issues: &mut Vec<Issue>,
) -> Vec<TypeRequest> {
    let mut requests = Vec::new();
    for reference in references.iter().filter(|r| r.key.split == Split::Negative) {
        let Some(question) = reference.question.as_deref() else {
            issues.push(Issue {
                kind: IssueKind::MissingField,
                source: reference.source.to_string(),
                line: reference.line,
                field: Some("text".to_owned()),
                message: "no question to label with a hallucination type".to_owned(),
            });
            continue;
        };
        let caption = reference
            .fields
            .iter()
            .find(|(n, _)| n == FIG_CAPTION_FIELD)
            .map(|(_, v)| v.as_str());
        requests.push(TypeRequest {
            key: reference.key.clone(),
            source: reference.source.to_string(),
            line: reference.line,
            question: question.to_owned(),
            messages: type_messages(question, &reference.text, caption),
            typed: reference_type(reference, types).is_some(),
        });
    }
    requests
}

/// The type a reply names on its first line: one of [`HALLUCINATION_TYPES`] (case, surrounding
/// punctuation and markdown ignored; the number 1–3 also counts), or `None`.
pub fn parse_type_reply(reply: &str) -> Option<&'static str> {
    let first = reply.lines().find(|line| !line.trim().is_empty())?;
    let cleaned: String = first
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let text = words.join(" ");
    let text = text.strip_prefix("type ").unwrap_or(&text);
    let found: Vec<&'static str> = HALLUCINATION_TYPES
        .iter()
        .copied()
        .filter(|name| text.contains(name))
        .collect();
    match found.as_slice() {
        [one] => Some(one),
        [] => match text {
            "1" => Some(HALLUCINATION_TYPES[0]),
            "2" => Some(HALLUCINATION_TYPES[1]),
            "3" => Some(HALLUCINATION_TYPES[2]),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Serialize)]
struct TypeLine<'a> {
    split: &'a str,
    question_id: serde_json::Value,
    #[serde(rename = "type")]
    label: Option<&'a str>,
    labelled_by: &'a str,
    prompt: &'a str,
    reply: &'a str,
}

/// One line of the type map `medhall judge --label-types` writes (JSONL, which `--type-map`
/// and the page read): the type (`null` when the reply names none; the reply is kept).
pub fn type_line(key: &SampleKey, label: Option<&str>, labelled_by: &str, reply: &str) -> String {
    let line = TypeLine {
        split: key.split.as_str(),
        question_id: super::rows::question_id_from_text(&key.question_id),
        label,
        labelled_by,
        prompt: TYPE_PROMPT_VERSION,
        reply,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_one_type_or_none() {
        assert_eq!(
            parse_type_reply("Object manipulation\nThe size is wrong."),
            Some("object manipulation")
        );
        assert_eq!(
            parse_type_reply("**Nonexistent object**"),
            Some("nonexistent object")
        );
        assert_eq!(
            parse_type_reply("\n3. knowledge distortion"),
            Some("knowledge distortion")
        );
        assert_eq!(parse_type_reply("2"), Some("object manipulation"));
        assert_eq!(parse_type_reply("Type: 1"), Some("nonexistent object"));
        assert_eq!(
            parse_type_reply("nonexistent object or object manipulation"),
            None
        );
        assert_eq!(parse_type_reply("I am not sure."), None);
        assert_eq!(parse_type_reply(""), None);
    }

    #[test]
    fn messages_and_lines() {
        let messages = type_messages("Where is the mass?\n<image>", "There is no mass.", None);
        assert_eq!(messages.len(), 2);
        assert!(
            messages[1]
                .content
                .contains("Question: Where is the mass?\n\n")
        );
        assert!(messages[1].content.contains("Figure caption: (none)"));
        let key = SampleKey {
            split: Split::Negative,
            question_id: "4".into(),
        };
        assert_eq!(
            type_line(
                &key,
                Some("object manipulation"),
                "gpt-4o",
                "Object manipulation"
            ),
            r#"{"split":"negative","question_id":4,"type":"object manipulation","labelled_by":"gpt-4o","prompt":"medhall-types-1","reply":"Object manipulation"}"#
        );
        assert!(type_line(&key, None, "m", "?").contains(r#""type":null"#));
    }
}
