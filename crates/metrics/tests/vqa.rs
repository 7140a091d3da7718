//! The medical VQA scores against LLaVA-Med v1.0's own code (scripts/gen_vqa_fixture.py ran
//! their `run_eval_batch.evaluate`, `run_eval.evaluate` and `normalize_word` at b9a98a7 on 1,200
//! synthetic questions with hostile text). Every value must be equal, not close: the normalised
//! texts as strings, the hits as 0/1, and open recall as the same f64 bit pattern (it is one
//! division of two small integers, correctly rounded in both languages).

use medhall_metrics::vqa::{AnswerType, ClosedRule, VqaValues, normalize_word, score};
use serde_json::Value;

fn cases() -> Vec<Vec<Value>> {
    let text = include_str!("fixtures/vqa.json");
    let fixture: Value = serde_json::from_str(text).expect("the fixture is JSON");
    let cases = fixture["cases"].as_array().expect("a cases array");
    cases
        .iter()
        .map(|case| case.as_array().expect("each case is an array").clone())
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

fn integer(value: &Value) -> u64 {
    value.as_u64().expect("a non-negative integer")
}

#[test]
fn every_question_equals_llava_med() {
    let cases = cases();
    assert!(cases.len() >= 1000, "{} cases", cases.len());
    let mut mismatches = Vec::new();
    let (mut open, mut closed) = (0, 0);
    for (at, case) in cases.iter().enumerate() {
        let answer_type = AnswerType::parse(text(&case[0])).expect("OPEN or CLOSED");
        let (answer, prediction) = (text(&case[1]), text(&case[2]));
        let ours = score(answer, prediction, answer_type);
        let mut differs = |what: &str, ours: String, theirs: String| {
            if ours != theirs {
                mismatches.push(format!(
                    "case {at} ({answer:?} / {prediction:?}): {what} ours {ours}, theirs {theirs}"
                ));
            }
        };
        differs(
            "answer_normalized",
            format!("{:?}", ours.answer_normalized),
            format!("{:?}", text(&case[3])),
        );
        differs(
            "prediction_normalized",
            format!("{:?}", ours.prediction_normalized),
            format!("{:?}", text(&case[4])),
        );
        match ours.values {
            VqaValues::Open { recall, hit } => {
                open += 1;
                differs(
                    "open_recall bits",
                    recall.to_bits().to_string(),
                    integer(&case[6]).to_string(),
                );
                differs(
                    "open_recall",
                    format!("{recall}"),
                    format!("{}", case[5].as_f64().unwrap_or(f64::NAN)),
                );
                differs(
                    "open_hit",
                    u8::from(hit).to_string(),
                    integer(&case[7]).to_string(),
                );
            }
            VqaValues::Closed { .. } => {
                closed += 1;
                let hits = case[5].as_array().expect("hits per rule");
                for (rule, theirs) in ClosedRule::ALL.iter().zip(hits) {
                    let hit = ours.values.closed_hit(*rule).unwrap_or(false);
                    differs(
                        &format!("closed hit ({})", rule.name()),
                        u8::from(hit).to_string(),
                        integer(theirs).to_string(),
                    );
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} differences from LLaVA-Med's values:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(15)].join("\n")
    );
    assert!(open > 400 && closed > 400, "{open} open, {closed} closed");
}

/// Open recall normalises its (already normalised) inputs once more, as `calculate_f1score`
/// does; the fixture holds texts where the second pass changes the words.
#[test]
fn normalising_twice_differs_on_the_fixture() {
    let changed = cases()
        .iter()
        .filter(|case| {
            let normalized = text(&case[4]);
            normalize_word(normalized) != normalized
        })
        .count();
    assert!(changed > 0, "no case exercises the second normalisation");
}
