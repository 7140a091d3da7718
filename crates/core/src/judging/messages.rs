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
    }
}
