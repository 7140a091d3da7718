//! One question at a time: its detail with every run's answer side by side, and questions picked
//! for the model check.

use super::Session;
use super::rows::metric_values;
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::judging::provenance::verdict_by;
use medhall_core::sample::{SampleKey, Split};
use serde::{Deserialize, Serialize};

/// A question for the model check: its key, text (as the shard has it) and image file name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuestionItem {
    pub key: SampleKey,
    pub question: String,
    pub image: String,
}

/// Everything known about one question, with every run's answer side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleDetail {
    pub key: SampleKey,
    pub question: Option<String>,
    pub reference: Option<String>,
    pub image: Option<String>,
    pub type_value: Option<String>,
    pub answers: Vec<RunAnswer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunAnswer {
    pub run: u32,
    pub run_name: String,
    pub answer: String,
    pub metrics: Vec<Option<f64>>,
    pub judge_text: Option<String>,
    /// Who gave the verdict (`provenance::verdict_by`), when there is one.
    #[serde(default)]
    pub judge_by: Option<String>,
}

impl Session {
    pub fn detail(&self, key: &SampleKey) -> Option<SampleDetail> {
        let shard = self.references.get(key);
        let mut detail = SampleDetail {
            key: key.clone(),
            question: shard.and_then(|r| r.question.clone()),
            reference: shard.map(|r| r.text.clone()),
            image: shard.and_then(|r| r.image.clone()),
            type_value: self.types.get(key).cloned(),
            answers: Vec::new(),
        };
        for state in &self.runs {
            let Some(prediction) = state.run.get(key) else {
                continue;
            };
            let index = state.run.predictions().iter().position(|p| p.key == *key);
            let sample = index.and_then(|i| state.scored.get(i));
            detail.question = detail.question.or_else(|| prediction.question.clone());
            detail.reference = detail
                .reference
                .or_else(|| prediction.inline_reference.clone());
            detail.image = detail.image.or_else(|| prediction.image.clone());
            if detail.type_value.is_none() {
                detail.type_value = sample.and_then(|s| s.field(TYPE_FIELD)).map(str::to_owned);
            }
            detail.answers.push(RunAnswer {
                run: state.id,
                run_name: state.name.clone(),
                answer: prediction.answer.clone(),
                metrics: metric_values(sample),
                judge_text: prediction.judge_text.clone(),
                judge_by: prediction
                    .judge_text
                    .as_ref()
                    .map(|_| verdict_by(&prediction.fields)),
            });
        }
        if detail.answers.is_empty() && shard.is_none() {
            return None;
        }
        Some(detail)
    }

    /// `count` loaded reference questions that have an image, picked at random with `seed`
    /// (the same seed and shards give the same questions), optionally from one split only; for
    /// the model check.
    pub fn questions(
        &self,
        count: usize,
        seed: u64,
        split: Option<Split>,
        type_value: Option<&str>,
    ) -> Vec<QuestionItem> {
        let mut pool: Vec<&medhall_core::dataset::Reference> = self
            .references
            .iter()
            .filter(|r| split.is_none_or(|s| r.key.split == s))
            .filter(|r| {
                type_value.is_none_or(|t| {
                    medhall_core::dataset::reference_type(r, &self.types) == Some(t)
                })
            })
            .filter(|r| r.image.is_some() && r.question.is_some())
            .collect();
        let mut rng = medhall_core::stats::SplitMix64::new(seed);
        let take = count.min(pool.len());
        for i in 0..take {
            let j = i + rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        pool[..take]
            .iter()
            .map(|r| QuestionItem {
                key: r.key.clone(),
                question: r.question.clone().unwrap_or_default(),
                image: r.image.clone().unwrap_or_default(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::load;

    #[test]
    fn model_check_questions_are_seeded_and_need_an_image() {
        let mut session = Session::default();
        let refs: String = (1..=30)
            .map(|i| {
                let image = if i % 10 == 0 {
                    String::new()
                } else {
                    format!(r#", "image": "img{i}.jpg""#)
                };
                format!(
                    "{{\"question_id\": {i}, \"text\": \"Q{i}?\\n<image>\", \"gpt4_answer\": \"A{i}.\"{image}}}\n"
                )
            })
            .collect();
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "val.positive.jsonl",
            &refs,
        );
        let picked = session.questions(5, 42, None, None);
        assert_eq!(picked.len(), 5);
        assert_eq!(
            picked,
            session.questions(5, 42, None, None),
            "same seed, same questions"
        );
        assert_ne!(picked, session.questions(5, 43, None, None));
        let all = session.questions(100, 1, Some(Split::Positive), None);
        assert_eq!(
            all.len(),
            27,
            "the three questions without an image are left out"
        );
        assert!(
            all.iter()
                .all(|q| q.image.starts_with("img") && q.question.starts_with('Q'))
        );
        assert!(
            session
                .questions(3, 1, Some(Split::Negative), None)
                .is_empty()
        );
        // By hallucination type: a shard field, overridden by a type map.
        let negatives: String = (1..=6)
            .map(|i| {
                let kind = if i % 2 == 0 { "object" } else { "knowledge" };
                format!(
                    "{{\"question_id\": {i}, \"text\": \"Q{i}?\", \"gpt4_answer\": \"A.\", \"image\": \"n{i}.jpg\", \"hallucination_type\": \"{kind}\"}}\n"
                )
            })
            .collect();
        load(
            &mut session,
            2,
            LoadTarget::Shard,
            "val.negative.jsonl",
            &negatives,
        );
        let ids = |items: Vec<QuestionItem>| {
            let mut ids: Vec<String> = items.into_iter().map(|q| q.key.question_id).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(session.questions(10, 1, None, Some("object"))),
            ["2", "4", "6"]
        );
        load(
            &mut session,
            3,
            LoadTarget::TypeMap,
            "types.jsonl",
            "{\"split\": \"negative\", \"question_id\": 2, \"type\": \"knowledge\"}\n",
        );
        assert_eq!(
            ids(session.questions(10, 1, None, Some("object"))),
            ["4", "6"]
        );
        assert_eq!(
            ids(session.questions(10, 1, Some(Split::Negative), Some("knowledge"))),
            ["1", "2", "3", "5"]
        );
        assert!(
            session
                .questions(10, 1, Some(Split::Positive), Some("object"))
                .is_empty()
        );
    }
}
