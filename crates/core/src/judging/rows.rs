//! The judged output: one judge-eval line per finished sample, in the official row format (the
//! prediction row plus `gpt4_answer`, `fig_caption`, `reference_answers`, `reference_scores` and
//! `result`) plus `split`, so `medhall score` and the page read it like the benchmark's files.
//!
//! A JSON prediction row is kept as it was written: its fields in their order, every value's
//! JSON untouched (an integer `question_id` stays an integer); fields the judge sets replace
//! their old value in place, as assigning to a Python dict does, and the others are appended.

use super::openai::ChatReply;
use super::plan::JudgeItem;
use super::provenance::{JUDGE_REFUSAL_FIELD, JudgeIdentity};
use crate::dataset::Prediction;
use crate::summary::question_id_json;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// A JSON object's members in file order, values as their raw JSON text.
#[derive(Debug)]
pub struct OrderedObject(pub Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    // A repeated name: the later value wins in the first one's place (json.loads).
                    match members.iter_mut().find(|(k, _)| *k == key) {
                        Some(member) => member.1 = value,
                        None => members.push((key, value)),
                    }
                }
                Ok(OrderedObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

impl OrderedObject {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Sets a member to a JSON value: in place when present, else at the end.
    pub fn set(&mut self, key: &str, value: &impl serde::Serialize) {
        let Ok(text) = serde_json::to_string(value) else {
            return;
        };
        let Ok(raw) = RawValue::from_string(text) else {
            return;
        };
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(member) => member.1 = raw,
            None => self.0.push((key.to_owned(), raw)),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The object as one line of compact JSON.
    pub fn to_line(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).unwrap_or_default());
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}

/// A question id's JSON when only its text is known (a Batch API `custom_id`): an integer when
/// the text is one exactly as an integer prints (the official files use integers), else a string.
pub fn question_id_from_text(id: &str) -> serde_json::Value {
    match id.parse::<i64>() {
        Ok(number) if number.to_string() == id => serde_json::Value::from(number),
        _ => serde_json::Value::from(id),
    }
}

/// The prediction row rebuilt from what was read, for inputs that were not JSON objects (CSV).
fn rebuilt_row(prediction: &Prediction) -> OrderedObject {
    let mut row = OrderedObject(Vec::new());
    row.set(
        "question_id",
        &question_id_json(
            &prediction.key.question_id,
            prediction.question_id_is_integer,
        ),
    );
    if let Some(image) = &prediction.image {
        row.set("image", image);
    }
    if let Some(question) = &prediction.question {
        row.set("question", question);
    }
    row.set("answer", &prediction.answer);
    for (name, value) in &prediction.fields {
        if !row.contains(name) {
            row.set(name, value);
        }
    }
    row
}

/// The judged line for one sample. `raw_row` is the prediction's own JSON object text when
/// its file had one (JSONL); otherwise the row is rebuilt from the prediction. The reply is
/// written whatever it holds (a refusal or an empty text is an unreadable verdict, kept with
/// its text), followed by the judge that gave it.
pub fn judged_line(
    raw_row: Option<&str>,
    prediction: &Prediction,
    item: &JudgeItem,
    reply: &ChatReply,
    judge: &JudgeIdentity,
) -> String {
    let mut row = raw_row
        .and_then(|text| OrderedObject::parse(text).ok())
        .unwrap_or_else(|| rebuilt_row(prediction));
    row.set("gpt4_answer", &item.gpt4_answer);
    row.set("fig_caption", &item.fig_caption);
    row.set("reference_answers", &item.reference_answers);
    row.set("reference_scores", &item.reference_scores);
    row.set("result", &reply.content);
    row.set("split", &item.key.split.as_str());
    for (name, value) in judge.fields(reply.model.as_deref()) {
        row.set(name, &value);
    }
    if let Some(refusal) = &reply.refusal {
        row.set(JUDGE_REFUSAL_FIELD, refusal);
    }
    row.to_line()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_objects_keep_order_and_raw_values() {
        let mut row = OrderedObject::parse(
            r#"{"question_id": 7, "answer": "x\u00e9", "n": 1.50, "answer": "y", "z": null}"#,
        )
        .expect("an object");
        row.set("z", &"set");
        row.set("new", &[1, 2]);
        assert_eq!(
            row.to_line(),
            r#"{"question_id":7,"answer":"y","n":1.50,"z":"set","new":[1,2]}"#
        );
        assert!(OrderedObject::parse("[1]").is_err());
    }

    #[test]
    fn question_ids_keep_integers_as_integers() {
        assert_eq!(question_id_from_text("12"), serde_json::json!(12));
        assert_eq!(question_id_from_text("-3"), serde_json::json!(-3));
        assert_eq!(question_id_from_text("007"), serde_json::json!("007"));
        assert_eq!(question_id_from_text("q1"), serde_json::json!("q1"));
    }
}
