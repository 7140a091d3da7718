//! One parsed row, one row that could not be parsed, and the assembly shared by all formats.

use super::columns::Role;
use crate::sample::Split;
use std::borrow::Cow;
use std::fmt;

/// One row of a results or reference file, with the fields the scorer knows pulled out.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRecord {
    /// 1-based line where the row starts.
    pub line: u64,
    /// Integer ids are kept as their decimal text, so `5` and `"5"` are the same sample.
    pub question_id: Option<String>,
    /// Whether the id was a JSON integer (so outputs can write it back as one).
    pub question_id_is_integer: bool,
    pub split: Option<Split>,
    pub image: Option<String>,
    pub question: Option<String>,
    pub answer: Option<String>,
    pub reference: Option<String>,
    pub judge_text: Option<String>,
    /// Clinical accuracy, clinical relevance, detail level, risk level, when given as columns.
    pub judge_columns: [Option<f64>; 4],
    /// Every other scalar field as text, in file order: the categorical fields
    /// (hallucination_type, modality, fig_caption…).
    pub fields: Vec<(String, String)>,
}

impl SampleRecord {
    fn empty(line: u64) -> Self {
        Self {
            line,
            question_id: None,
            question_id_is_integer: false,
            split: None,
            image: None,
            question: None,
            answer: None,
            reference: None,
            judge_text: None,
            judge_columns: [None; 4],
            fields: Vec::new(),
        }
    }

    /// The value of an ordinary field, by name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A row that could not be read. The rest of the file still loads.
///
/// Display and Error are written by hand: thiserror takes any field named `source` for the
/// underlying error, and here it is the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The file (or URL) the row came from, as the caller named it.
    pub source: String,
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl RecordError {
    pub(crate) fn new(source: &str, line: u64, field: Option<String>, message: String) -> Self {
        Self {
            source: source.to_owned(),
            line,
            field,
            message,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RecordError {}

/// A field's value as the file gave it. Arrays and objects are only noted: nothing reads them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Array,
    Object,
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Array => "an array",
            Value::Object => "an object",
        }
    }

    /// The text kept in `SampleRecord::fields`; `None` for what is not kept there.
    fn into_field_text(self) -> Option<String> {
        match self {
            Value::Str(text) if text.is_empty() => None,
            Value::Str(text) => Some(text.into_owned()),
            Value::Int(value) => Some(value.to_string()),
            Value::UInt(value) => Some(value.to_string()),
            // serde_json's own rendering, so the text is valid JSON for the number.
            Value::Float(value) => serde_json::Number::from_f64(value).map(|n| n.to_string()),
            Value::Bool(value) => Some(value.to_string()),
            Value::Array | Value::Object => None,
        }
    }
}

/// Where CSV and JSON rows differ in reading a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Json,
    Csv,
}

struct Candidate<'a> {
    rank: u8,
    ordinal: u32,
    name: Cow<'a, str>,
    value: Value<'a>,
}

/// A row being assembled: role candidates by rank, other fields in file order.
pub(crate) struct Draft<'a> {
    origin: Origin,
    slots: [Option<Candidate<'a>>; 11],
    fields: Vec<(String, String)>,
    /// File position of each entry of `fields`, so a displaced candidate goes back in its place.
    ordinals: Vec<u32>,
    next_ordinal: u32,
}

impl<'a> Draft<'a> {
    pub(crate) fn new(origin: Origin) -> Self {
        Self {
            origin,
            slots: Default::default(),
            fields: Vec::new(),
            ordinals: Vec::new(),
            next_ordinal: 0,
        }
    }

    /// Takes one field of the row, with the role its name has (see `Lookup`). Null values and
    /// empty CSV cells are not offered at all, so a lower-ranked name can stand in for them.
    pub(crate) fn offer(&mut self, name: Cow<'a, str>, role: Option<(Role, u8)>, value: Value<'a>) {
        let ordinal = self.next_ordinal;
        self.next_ordinal = self.next_ordinal.saturating_add(1);
        let Some((role, rank)) = role else {
            self.push_field(ordinal, name, value);
            return;
        };
        let candidate = Candidate {
            rank,
            ordinal,
            name,
            value,
        };
        let slot = &mut self.slots[role.index()];
        match slot {
            Some(held) if held.rank < rank => {
                self.push_field(ordinal, candidate.name, candidate.value)
            }
            // Same name twice: the later one wins, as with Python's json.loads.
            Some(held) if held.rank == rank => *held = candidate,
            Some(_) => {
                if let Some(displaced) = slot.replace(candidate) {
                    self.push_field(displaced.ordinal, displaced.name, displaced.value);
                }
            }
            None => *slot = Some(candidate),
        }
    }

    fn push_field(&mut self, ordinal: u32, name: Cow<'a, str>, value: Value<'a>) {
        let Some(text) = value.into_field_text() else {
            return;
        };
        let at = self
            .ordinals
            .partition_point(|&existing| existing < ordinal);
        self.ordinals.insert(at, ordinal);
        self.fields.insert(at, (name.into_owned(), text));
    }

    /// The finished row, or the first field (in role order) whose value is unusable.
    pub(crate) fn finish(self, line: u64) -> Result<SampleRecord, FieldError> {
        let origin = self.origin;
        let mut record = SampleRecord::empty(line);
        record.fields = self.fields;
        for (role, slot) in Role::ALL.into_iter().zip(self.slots) {
            let Some(candidate) = slot else { continue };
            let name = candidate.name;
            let fail = |message: String| FieldError {
                field: name.to_string(),
                message,
            };
            match role {
                Role::QuestionId => {
                    record.question_id_is_integer =
                        matches!(candidate.value, Value::Int(_) | Value::UInt(_));
                    record.question_id = Some(question_id(candidate.value, origin).map_err(fail)?)
                }
                Role::Split => record.split = Some(split(candidate.value).map_err(fail)?),
                Role::Image => record.image = Some(text(candidate.value).map_err(fail)?),
                Role::Question => record.question = Some(text(candidate.value).map_err(fail)?),
                Role::Answer => record.answer = Some(text(candidate.value).map_err(fail)?),
                Role::Reference => record.reference = Some(text(candidate.value).map_err(fail)?),
                Role::JudgeText => record.judge_text = Some(text(candidate.value).map_err(fail)?),
                Role::ClinicalAccuracy
                | Role::ClinicalRelevance
                | Role::DetailLevel
                | Role::RiskLevel => {
                    if let Some(column) = role.judge_column() {
                        record.judge_columns[column] = Some(score(candidate.value).map_err(fail)?);
                    }
                }
            }
        }
        Ok(record)
    }
}

/// Why one field of an otherwise readable row is unusable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

fn question_id(value: Value<'_>, origin: Origin) -> Result<String, String> {
    match value {
        Value::Str(id) if origin == Origin::Csv => Ok(id.trim().to_owned()),
        Value::Str(id) => Ok(id.into_owned()),
        Value::Int(id) => Ok(id.to_string()),
        Value::UInt(id) => Ok(id.to_string()),
        Value::Float(id) => Err(format!(
            "expected an integer or a string, found the number {id}"
        )),
        other => Err(format!(
            "expected an integer or a string, found {}",
            other.kind()
        )),
    }
}

fn split(value: Value<'_>) -> Result<Split, String> {
    match value {
        Value::Str(name) => Split::parse(&name)
            .ok_or_else(|| format!("unknown split {name:?}: expected positive or negative")),
        other => Err(format!("expected a string, found {}", other.kind())),
    }
}

fn text(value: Value<'_>) -> Result<String, String> {
    match value {
        Value::Str(text) => Ok(text.into_owned()),
        other => Err(format!("expected a string, found {}", other.kind())),
    }
}

/// Judge scores are numbers; numeric strings are accepted because spreadsheets and some
/// tools write every cell as text.
fn score(value: Value<'_>) -> Result<f64, String> {
    let number = match value {
        Value::Int(number) => number as f64,
        Value::UInt(number) => number as f64,
        Value::Float(number) => number,
        Value::Str(text) => match text.trim().parse::<f64>() {
            Ok(number) => number,
            Err(_) => return Err(format!("expected a number, found {text:?}")),
        },
        other => return Err(format!("expected a number, found {}", other.kind())),
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err(format!("expected a finite number, found {number}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::ColumnMap;

    fn draft_of(fields: &[(&'static str, Value<'static>)]) -> Result<SampleRecord, FieldError> {
        let lookup = ColumnMap::default().lookup();
        let mut draft = Draft::new(Origin::Json);
        for (name, value) in fields {
            draft.offer(Cow::Borrowed(name), lookup.json_key(name), value.clone());
        }
        draft.finish(1)
    }

    #[test]
    fn displaced_candidates_keep_their_file_position() {
        let record = draft_of(&[
            ("text", Value::Str("Q?\n<image>".into())),
            ("fig_caption", Value::Str("caption".into())),
            ("question", Value::Str("Q?".into())),
            ("extra", Value::Bool(true)),
        ])
        .expect("a valid row");
        assert_eq!(record.question.as_deref(), Some("Q?"));
        let names: Vec<&str> = record
            .fields
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["text", "fig_caption", "extra"]);
        assert_eq!(record.field("text"), Some("Q?\n<image>"));
        assert_eq!(record.field("extra"), Some("true"));
    }

    #[test]
    fn question_id_accepts_integers_and_strings_only() {
        let id = |value| draft_of(&[("question_id", value)]).map(|record| record.question_id);
        assert_eq!(id(Value::Int(-3)), Ok(Some("-3".to_owned())));
        assert_eq!(id(Value::UInt(u64::MAX)), Ok(Some(u64::MAX.to_string())));
        assert_eq!(id(Value::Str(" 7 ".into())), Ok(Some(" 7 ".to_owned())));
        let error = id(Value::Float(1.5)).expect_err("a float id is an error");
        assert_eq!(error.field, "question_id");
        assert!(id(Value::Bool(true)).is_err());
        assert!(id(Value::Object).is_err());
    }

    #[test]
    fn field_text_renders_scalars_and_drops_the_rest() {
        let record = draft_of(&[
            ("a", Value::Float(0.25)),
            ("b", Value::Int(12)),
            ("c", Value::Str("".into())),
            ("d", Value::Array),
            ("e", Value::Bool(false)),
        ])
        .expect("a valid row");
        assert_eq!(
            record.fields,
            [
                ("a".into(), "0.25".into()),
                ("b".into(), "12".into()),
                ("e".into(), "false".into())
            ]
        );
    }

    #[test]
    fn scores_must_be_finite_numbers() {
        let score_of = |value| draft_of(&[("risk_level", value)]).map(|r| r.judge_columns[3]);
        assert_eq!(score_of(Value::Int(7)), Ok(Some(7.0)));
        assert_eq!(score_of(Value::Str(" 6.5 ".into())), Ok(Some(6.5)));
        assert!(score_of(Value::Str("NaN".into())).is_err());
        assert!(score_of(Value::Str("high".into())).is_err());
    }

    #[test]
    fn display_names_file_line_and_field() {
        let error = RecordError::new(
            "results.jsonl",
            17,
            Some("answer".into()),
            "expected a string, found a number".into(),
        );
        assert_eq!(
            error.to_string(),
            "results.jsonl:17: field `answer`: expected a string, found a number"
        );
        let error = RecordError::new("results.jsonl", 3, None, "invalid JSON: x".into());
        assert_eq!(error.to_string(), "results.jsonl:3: invalid JSON: x");
    }
}
