//! The judge's chat messages for one sample, exactly as the benchmark's code builds them.
//!
//! agent.py sends three messages per sample: the system prompt; a user message made with
//! `USER_TEMPLATE.format(fig_caption=…, question=…, answer=…, gpt4_answer=…,
//! instruction=INSTRUCTION_PROMPT)`; and a second user message made with
//! `CALIBRATION_TEMPLATE.format(reference_answers=…, reference_scores=…)`. Python's `str.format`
//! inserts each value's `str()` once, without rescanning it, and turns `{{`/`}}` into braces.
//! The values we insert are text, except a missing figure caption, which Python renders as
//! `None` (agent.py reads it with `.get`).

use super::prompt::{CALIBRATION_TEMPLATE, INSTRUCTION, SYSTEM_PROMPT, USER_TEMPLATE};
use serde::{Deserialize, Serialize};

/// One chat message as the OpenAI chat-completions API takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    fn new(role: &str, content: String) -> Self {
        Self {
            role: role.to_owned(),
            content,
        }
    }
}

/// What goes into one sample's messages (see `protocol.json`'s `fields`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JudgeFields<'a> {
    /// The reference shard's figure caption; `None` is written as Python writes it: `None`.
    pub fig_caption: Option<&'a str>,
    /// The prediction row's question, verbatim.
    pub question: &'a str,
    /// The model's answer.
    pub answer: &'a str,
    /// The ground truth (the reference shard's `gpt4_answer`).
    pub gpt4_answer: &'a str,
    /// The calibration sample's answer (LLaVA-Med's, for the same split and question).
    pub reference_answers: &'a str,
    /// The calibration sample's verdict: the judge's whole text for LLaVA-Med's answer.
    pub reference_scores: &'a str,
}

/// A template that asks for something `format_template` does not do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template names `{0}`, which has no value")]
    UnknownField(String),
    #[error("the template has an unmatched brace at byte {0}")]
    UnmatchedBrace(usize),
}

/// Python's `str.format` for templates whose replacement fields are plain names (`{name}`):
/// no format specs, conversions, indices or attributes (ours have none; anything else is an
/// error rather than a guess).
pub fn format_template<'v>(
    template: &str,
    value_of: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() * 2);
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                out.push_str(&template[literal_start..i]);
                out.push('{');
                i += 2;
                literal_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                out.push_str(&template[literal_start..i]);
                out.push('}');
                i += 2;
                literal_start = i;
            }
            b'{' => {
                out.push_str(&template[literal_start..i]);
                let close = template[i + 1..]
                    .find('}')
                    .map(|offset| i + 1 + offset)
                    .ok_or(TemplateError::UnmatchedBrace(i))?;
                let name = &template[i + 1..close];
                let plain = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !plain {
                    return Err(TemplateError::UnknownField(name.to_owned()));
                }
                let value =
                    value_of(name).ok_or_else(|| TemplateError::UnknownField(name.into()))?;
                out.push_str(value);
                i = close + 1;
                literal_start = i;
            }
            b'}' => return Err(TemplateError::UnmatchedBrace(i)),
            _ => i += 1,
        }
    }
    out.push_str(&template[literal_start..]);
    Ok(out)
}

/// Python's `str()` of a missing value.
const PYTHON_NONE: &str = "None";

/// The three messages agent.py sends for one sample.
pub fn build_messages(fields: &JudgeFields<'_>) -> Result<Vec<ChatMessage>, TemplateError> {
    let user = format_template(USER_TEMPLATE, |name| match name {
        "fig_caption" => Some(fields.fig_caption.unwrap_or(PYTHON_NONE)),
        "question" => Some(fields.question),
        "answer" => Some(fields.answer),
        "gpt4_answer" => Some(fields.gpt4_answer),
        "instruction" => Some(INSTRUCTION),
        _ => None,
    })?;
    let calibration = format_template(CALIBRATION_TEMPLATE, |name| match name {
        "reference_answers" => Some(fields.reference_answers),
        "reference_scores" => Some(fields.reference_scores),
        _ => None,
    })?;
    Ok(vec![
        ChatMessage::new("system", SYSTEM_PROMPT.to_owned()),
        ChatMessage::new("user", user),
        ChatMessage::new("user", calibration),
    ])
}

/// The fields read back out of a sample's messages (a Batch API request file holds nothing else).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredFields {
    /// `None` when the caption reads `None`, which is what a missing caption becomes.
    pub fig_caption: Option<String>,
    pub question: String,
    pub answer: String,
    pub gpt4_answer: String,
    pub reference_answers: String,
    pub reference_scores: String,
}

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// A template as literal text and field names, with the fields in `known` written in.
fn pieces<'a>(template: &'a str, known: &[(&str, &'a str)]) -> Option<Vec<Piece<'a>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        if rest[..close].contains("{{") || rest[open..=close].contains("}}") {
            return None;
        }
        out.push(Piece::Text(&rest[..open]));
        let name = &rest[open + 1..close];
        match known.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push(Piece::Text(value)),
            None => out.push(Piece::Field(name)),
        }
        rest = &rest[close + 1..];
    }
    out.push(Piece::Text(rest));
    Some(out)
}

/// The inverse of `format_template` for one text: each field's value, when the literal text
/// between the fields occurs exactly once where it must (otherwise the split is ambiguous and
/// `None` is returned rather than a guess).
fn unformat(template: &str, known: &[(&str, &str)], text: &str) -> Option<Vec<(String, String)>> {
    // Merge adjacent literal pieces; two fields in a row cannot be told apart.
    let mut merged: Vec<Piece<'_>> = Vec::new();
    let mut literal = String::new();
    let mut literals: Vec<String> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for piece in pieces(template, known)? {
        match piece {
            Piece::Text(text) => literal.push_str(text),
            Piece::Field(name) => {
                literals.push(std::mem::take(&mut literal));
                names.push(name);
                merged.push(Piece::Field(name));
            }
        }
    }
    literals.push(literal);
    if literals[1..literals.len() - 1].iter().any(String::is_empty) {
        return None;
    }
    let body = text.strip_prefix(literals[0].as_str())?;
    let last = literals.last()?;
    let body = body.strip_suffix(last.as_str())?;
    let mut values = Vec::with_capacity(names.len());
    let mut rest = body;
    for (name, separator) in names.iter().zip(&literals[1..]) {
        if std::ptr::eq(separator, last) {
            values.push(((*name).to_owned(), rest.to_owned()));
            break;
        }
        let at = rest.find(separator.as_str())?;
        if rest[at + 1..].contains(separator.as_str()) {
            return None;
        }
        values.push(((*name).to_owned(), rest[..at].to_owned()));
        rest = &rest[at + separator.len()..];
    }
    Some(values)
}

/// Reads a sample's fields back out of the three messages `build_messages` makes, and checks
/// that building them again gives the same messages byte for byte.
pub fn parse_messages(messages: &[ChatMessage]) -> Option<RecoveredFields> {
    let [system, user, calibration] = messages else {
        return None;
    };
    if system.role != "system" || system.content != SYSTEM_PROMPT {
        return None;
    }
    if user.role != "user" || calibration.role != "user" {
        return None;
    }
    let first = unformat(
        USER_TEMPLATE,
        &[("instruction", INSTRUCTION)],
        &user.content,
    )?;
    let second = unformat(CALIBRATION_TEMPLATE, &[], &calibration.content)?;
    let value = |name: &str| {
        first
            .iter()
            .chain(&second)
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let caption = value("fig_caption")?;
    let recovered = RecoveredFields {
        fig_caption: (caption != PYTHON_NONE).then_some(caption),
        question: value("question")?,
        answer: value("answer")?,
        gpt4_answer: value("gpt4_answer")?,
        reference_answers: value("reference_answers")?,
        reference_scores: value("reference_scores")?,
    };
    let again = build_messages(&JudgeFields {
        fig_caption: recovered.fig_caption.as_deref(),
        question: &recovered.question,
        answer: &recovered.answer,
        gpt4_answer: &recovered.gpt4_answer,
        reference_answers: &recovered.reference_answers,
        reference_scores: &recovered.reference_scores,
    })
    .ok()?;
    (again == messages).then_some(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<&'static str> {
        match name {
            "a" => Some("{b}"),
            "b" => Some("B"),
            _ => None,
        }
    }

    #[test]
    fn format_inserts_values_once_and_unescapes_braces() {
        assert_eq!(
            format_template("x{a}y{{b}}z{b}", values),
            Ok("x{b}y{b}zB".to_owned())
        );
        assert_eq!(format_template("", values), Ok(String::new()));
        assert_eq!(
            format_template("{c}", values),
            Err(TemplateError::UnknownField("c".into()))
        );
        assert_eq!(
            format_template("{a!r}", values),
            Err(TemplateError::UnknownField("a!r".into()))
        );
        assert_eq!(
            format_template("a}b", values),
            Err(TemplateError::UnmatchedBrace(1))
        );
        assert_eq!(
            format_template("a{b", values),
            Err(TemplateError::UnmatchedBrace(1))
        );
    }

    #[test]
    fn messages_follow_the_templates() {
        let fields = JudgeFields {
            fig_caption: None,
            question: "Q {x}?",
            answer: "A",
            gpt4_answer: "G",
            reference_answers: "R",
            reference_scores: "7 7 7 7\nok",
        };
        let messages = build_messages(&fields).expect("our templates are valid");
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].role, "system");
        assert_eq!(messages[0].content, SYSTEM_PROMPT);
        assert!(
            messages[1]
                .content
                .starts_with("Figure Caption: None\n\n[Question]: Q {x}?\n\n[Answer]: A\n")
        );
        assert!(messages[1].content.ends_with(&format!("{INSTRUCTION}\n\n")));
        assert_eq!(
            messages[2].content,
            "Sample Answer: R\n\nSample Scores: 7 7 7 7\nok\n\n"
        );
        let recovered = parse_messages(&messages).expect("our own messages read back");
        assert_eq!(recovered.fig_caption, None);
        assert_eq!(recovered.question, "Q {x}?");
        assert_eq!(recovered.reference_scores, "7 7 7 7\nok");
    }

    #[test]
    fn ambiguous_or_foreign_messages_are_not_read_back() {
        let fields = JudgeFields {
            fig_caption: Some("a caption"),
            // The separator after the question, inside the answer: two readings are possible.
            question: "Q",
            answer: "A\n\n[Answer]: B",
            gpt4_answer: "G",
            reference_answers: "R",
            reference_scores: "S",
        };
        let messages = build_messages(&fields).expect("valid");
        assert_eq!(parse_messages(&messages), None);
        let plain = JudgeFields {
            answer: "A",
            ..fields
        };
        let mut messages = build_messages(&plain).expect("valid");
        assert_eq!(
            parse_messages(&messages).map(|r| r.fig_caption),
            Some(Some("a caption".to_owned()))
        );
        messages[0].content.push('!');
        assert_eq!(parse_messages(&messages), None);
        assert_eq!(parse_messages(&messages[..2]), None);
    }
}
