//! JSON rows: one object per line (JSONL), and the object deserialiser the JSON array reuses.
//!
//! Rows are read with a hand-written serde `Visitor` straight into the record's slots: keys and
//! unescaped strings stay borrowed from the line until the final `String` is made, and arrays or
//! objects nobody reads are skipped with `IgnoredAny`. This is what keeps megabytes of judge
//! output to a few milliseconds, where `serde_json::Value` would allocate a map per row.

use super::columns::Lookup;
use super::lines::{Line, LineSplitter, count_newlines};
use super::parser::Output;
use super::record::{Draft, Origin, RecordError, SampleRecord, Value};
use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Reads one JSON object (with nothing after it but whitespace) into a record.
/// `line` is where the object starts; `multi_line` says whether it may span lines, which
/// changes how a syntax error's position is worded.
pub(crate) fn parse_json_row(
    source: &str,
    lookup: &Lookup,
    bytes: &[u8],
    line: u64,
    multi_line: bool,
) -> Result<SampleRecord, RecordError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let draft = deserializer
        .deserialize_map(RowVisitor { lookup })
        .and_then(|draft| deserializer.end().map(|()| draft));
    match draft {
        Ok(draft) => draft
            .finish(line)
            .map_err(|error| RecordError::new(source, line, Some(error.field), error.message)),
        Err(error) => {
            let message = match std::str::from_utf8(bytes) {
                // serde_json calls this an "invalid unicode code point"; say what it is.
                Err(invalid) => utf8_error_message(bytes, invalid.valid_up_to(), line, multi_line),
                Ok(_) => json_error_message(&error, line, multi_line),
            };
            Err(RecordError::new(source, line, None, message))
        }
    }
}

fn utf8_error_message(bytes: &[u8], at: usize, first_line: u64, multi_line: bool) -> String {
    let before = &bytes[..at];
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |i| i + 1);
    let column = at - line_start + 1;
    if multi_line {
        let line = first_line + count_newlines(before);
        format!("invalid UTF-8 at line {line} column {column}")
    } else {
        format!("invalid UTF-8 at column {column}")
    }
}

/// serde_json's message with its position restated for the file: its own line numbers count
/// from the start of the row, not of the file.
fn json_error_message(error: &serde_json::Error, first_line: u64, multi_line: bool) -> String {
    let full = error.to_string();
    let what = match full.rfind(" at line ") {
        Some(at) if error.line() != 0 => &full[..at],
        _ => full.as_str(),
    };
    match error.classify() {
        serde_json::error::Category::Data => {
            // serde's "invalid type: sequence, expected a JSON object", turned around.
            let turned = what
                .strip_prefix("invalid type: ")
                .and_then(|r| r.split_once(", expected "));
            match turned {
                Some((found, expected)) => format!("expected {expected}, found {found}"),
                None => what.to_owned(),
            }
        }
        _ if error.line() == 0 => format!("invalid JSON: {what}"),
        _ if multi_line => format!(
            "invalid JSON: {what} at line {} column {}",
            first_line.saturating_add(error.line() as u64 - 1),
            error.column()
        ),
        _ => format!("invalid JSON: {what} at column {}", error.column()),
    }
}

struct RowVisitor<'l> {
    lookup: &'l Lookup,
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = Draft<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Draft<'de>, A::Error> {
        let mut draft = Draft::new(Origin::Json);
        while let Some(FieldName(name)) = map.next_key()? {
            // A null is the same as a missing field.
            if let FieldValue(Some(value)) = map.next_value()? {
                let role = self.lookup.json_key(&name);
                draft.offer(name, role, value);
            }
        }
        Ok(draft)
    }
}

/// A key, borrowed from the input unless it had escapes.
struct FieldName<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FieldNameVisitor)
    }
}

struct FieldNameVisitor;

impl<'de> Visitor<'de> for FieldNameVisitor {
    type Value = FieldName<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(FieldName(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(FieldName(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(FieldName(Cow::Owned(text)))
    }
}

/// Any JSON value, reduced to what a record can use; `None` for null.
struct FieldValue<'de>(Option<Value<'de>>);

impl<'de> de::Deserialize<'de> for FieldValue<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Bool(value))))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Int(value))))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::UInt(value))))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Float(value))))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Str(Cow::Borrowed(text)))))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Str(Cow::Owned(text.to_owned())))))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(FieldValue(Some(Value::Str(Cow::Owned(text)))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FieldValue(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FieldValue(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue(Some(Value::Array)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FieldValue(Some(Value::Object)))
    }
}

/// JSON Lines: one object per line; blank lines are skipped.
#[derive(Debug)]
pub(crate) struct JsonLinesParser {
    lines: LineSplitter,
    max_line_len: usize,
}

impl JsonLinesParser {
    pub(crate) fn new(first_line: u64, max_line_len: usize) -> Self {
        Self {
            lines: LineSplitter::starting_at(first_line).with_max_line_len(max_line_len),
            max_line_len,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Output<'_>) {
        let max = self.max_line_len;
        self.lines
            .push(chunk, &mut |line| handle_line(line, max, out));
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) {
        let max = self.max_line_len;
        self.lines.finish(&mut |line| handle_line(line, max, out));
    }

    pub(crate) fn newlines(&self) -> u64 {
        self.lines.newlines()
    }
}

fn handle_line(line: Line<'_>, max_line_len: usize, out: &mut Output<'_>) {
    match line {
        Line::Text { number, bytes } => {
            let bytes = bytes.trim_ascii();
            if !bytes.is_empty() {
                let row = parse_json_row(out.source, out.lookup, bytes, number, false);
                out.emit(row);
            }
        }
        Line::TooLong { number, len } => out.error(
            number,
            format!("line is {len} bytes long, over the limit of {max_line_len}; skipped"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{ColumnMap, Role};

    fn row(json: &str) -> Result<SampleRecord, RecordError> {
        parse_json_row(
            "t.jsonl",
            &ColumnMap::default().lookup(),
            json.as_bytes(),
            4,
            false,
        )
    }

    #[test]
    fn reads_a_judge_eval_shaped_row() {
        let record = row(
            r#"{"question_id": 0, "image": "a.jpg", "text": "Q?\n<image>",
            "gpt4_answer": "Ref \"quoted\".", "fig_caption": "Cap.", "question": "Q?",
            "answer": "Ans é.", "result": "5 5 5 6\n\nWhy."}"#,
        )
        .expect("a valid row");
        assert_eq!(record.line, 4);
        assert_eq!(record.question_id.as_deref(), Some("0"));
        assert_eq!(record.image.as_deref(), Some("a.jpg"));
        assert_eq!(record.question.as_deref(), Some("Q?"));
        assert_eq!(record.reference.as_deref(), Some("Ref \"quoted\"."));
        assert_eq!(record.answer.as_deref(), Some("Ans é."));
        assert_eq!(record.judge_text.as_deref(), Some("5 5 5 6\n\nWhy."));
        assert_eq!(
            record.fields,
            [
                ("text".into(), "Q?\n<image>".into()),
                ("fig_caption".into(), "Cap.".into())
            ]
        );
    }

    #[test]
    fn nested_values_and_nulls_are_skipped() {
        let record = row(
            r#"{"id": "q-1", "meta": {"a": [1, {"b": null}]}, "tags": [1, 2],
            "answer": null, "response": "R", "modality": "CT", "n": 3.5, "ok": true,
            "lethal_level": 8}"#,
        )
        .expect("a valid row");
        assert_eq!(record.question_id.as_deref(), Some("q-1"));
        assert_eq!(record.answer.as_deref(), Some("R"));
        assert_eq!(record.judge_columns, [None, None, None, Some(8.0)]);
        assert_eq!(
            record.fields,
            [
                ("modality".into(), "CT".into()),
                ("n".into(), "3.5".into()),
                ("ok".into(), "true".into())
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let error = row(r#"{"question_id": 1, "answer": 5}"#).expect_err("a number answer");
        assert_eq!(
            error.to_string(),
            "t.jsonl:4: field `answer`: expected a string, found a number"
        );
        let error = row(r#"{"question_id": 1.5}"#).expect_err("a float id");
        assert_eq!(error.field.as_deref(), Some("question_id"));
        let error = row(r#"{"split": "both"}"#).expect_err("an unknown split");
        assert_eq!(error.field.as_deref(), Some("split"));
        let mut columns = ColumnMap::default();
        columns.set(Role::Answer, "pred");
        let error = parse_json_row("t.jsonl", &columns.lookup(), br#"{"pred": [1]}"#, 1, false)
            .expect_err("an array answer");
        assert_eq!(
            error.to_string(),
            "t.jsonl:1: field `pred`: expected a string, found an array"
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let error = row(r#"{"answer": "unterminated}"#).expect_err("broken JSON");
        assert_eq!(error.field, None);
        assert!(
            error.message.starts_with("invalid JSON: EOF while parsing"),
            "{error}"
        );
        assert!(error.message.ends_with("at column 25"), "{error}");
        let error = row(r#"{"a": 1} {"b": 2}"#).expect_err("trailing data");
        assert!(error.message.contains("trailing characters"), "{error}");
        let error = row("[1, 2]").expect_err("not an object");
        assert_eq!(error.message, "expected a JSON object, found sequence");
        let error = row("{\"answer\": \"bad \u{0}\"}").expect_err("control character");
        assert!(error.message.starts_with("invalid JSON"), "{error}");
    }

    #[test]
    fn invalid_utf8_in_a_string_is_an_error_not_a_panic() {
        let lookup = ColumnMap::default().lookup();
        let error = parse_json_row(
            "t.jsonl",
            &lookup,
            b"{\"answer\": \"a\xff\xfeb\"}",
            9,
            false,
        )
        .expect_err("invalid UTF-8");
        assert_eq!(error.line, 9);
        assert_eq!(error.message, "invalid UTF-8 at column 14");
    }

    #[test]
    fn escaped_keys_still_match() {
        let record = row(r#"{"ans\u0077er": "A", "question\u005fid": "7"}"#).expect("a valid row");
        assert_eq!(record.answer.as_deref(), Some("A"));
        assert_eq!(record.question_id.as_deref(), Some("7"));
    }
}
