//! Type plans: hallucination types asked of a model for the loaded negative questions, and the
//! labels given back (always marked as the model's, and named in the signature).

use super::rows::preview;
use super::{IssueReport, JudgePlan, JudgeRequestItem, Session};
use medhall_core::dataset::{Issue, IssueKind, TYPE_FIELD, labelled_type};
use medhall_core::identity::questions_identity;
use medhall_core::judging::types::{parse_type_reply, type_requests};
use medhall_core::sample::SampleKey;
use std::cell::OnceCell;
use std::collections::HashMap;

/// The `run` of a [`JudgePlan`] that asks for hallucination types (of the loaded negative
/// reference questions) rather than a run's verdicts.
pub const TYPE_PLAN_RUN: u32 = u32::MAX;

impl Session {
    /// What labelling the loaded negative questions with hallucination types asks
    /// (`medhall judge --label-types` in the page): one item per negative reference question,
    /// `judged` when it already has a type (a shard field or a type map). The identity covers the
    /// questions, so labels kept in the browser apply to the same shard loaded again.
    pub fn type_plan(&self) -> Result<JudgePlan, String> {
        let mut found = Vec::new();
        let requests = type_requests(&self.references, &self.types, &mut found);
        let mut issues = IssueReport::default();
        issues.extend(found);
        let identity = questions_identity(requests.iter().map(|r| (&r.key, r.question.as_str())));
        let items: Vec<JudgeRequestItem> = requests
            .into_iter()
            .map(|request| JudgeRequestItem {
                key: request.key,
                messages: request.messages,
                reply_chars: 0,
                judged: request.typed,
            })
            .collect();
        if items.is_empty() {
            return Err(
                "no negative reference question is loaded: load the negative reference shard"
                    .to_owned(),
            );
        }
        Ok(JudgePlan {
            run: TYPE_PLAN_RUN,
            run_name: "the hallucination types of the negative questions".to_owned(),
            identity: format!("types-{identity}"),
            calibration: Vec::new(),
            items,
            issues,
        })
    }

    /// Hallucination types from the replies to [`Session::type_plan`]'s requests, each with the
    /// model that gave it: kept like a type map's rows, shown as the model's (never as the
    /// benchmark's) and named in the signature. A reply that names no type is reported and gives
    /// none. Returns how many questions received a type.
    pub fn apply_type_labels(&mut self, labels: Vec<(SampleKey, String, String)>) -> usize {
        let mut applied = 0;
        let mut given: HashMap<SampleKey, String> = HashMap::new();
        for (key, reply, model) in labels {
            match parse_type_reply(&reply) {
                Some(label) => {
                    let label = labelled_type(label, &model);
                    given.insert(key.clone(), label.clone());
                    self.types.insert(key, label);
                    if !self.type_labellers.contains(&model) {
                        self.type_labellers.push(model);
                    }
                    applied += 1;
                }
                None => self.source_issues.add(Issue {
                    kind: IssueKind::MissingField,
                    source: format!("hallucination types from {model}"),
                    line: 0,
                    field: Some("type".to_owned()),
                    message: format!(
                        "the reply for {} question {} names no type: {}",
                        key.split,
                        key.question_id,
                        preview(&reply)
                    ),
                }),
            }
        }
        // Samples already scored take their type in place (the type map wins over a field, as
        // in `join_one`); no score changes, so nothing is scored again.
        if applied > 0 {
            for state in &mut self.runs {
                let mut changed = false;
                for sample in &mut state.scored {
                    if let Some(label) = given.get(&sample.key) {
                        sample.fields.retain(|(name, _)| name != TYPE_FIELD);
                        sample.fields.push((TYPE_FIELD.to_owned(), label.clone()));
                        changed = true;
                    }
                }
                if changed {
                    state.summary = OnceCell::new();
                }
            }
            self.rows_cache = None;
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::load;
    use medhall_core::sample::Split;

    #[test]
    fn model_labelled_types_are_marked_and_named_in_the_signature() {
        let mut session = Session::default();
        let plain = session.signature();
        assert!(!plain.contains("labelled_by"));
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "val.negative.jsonl",
            "{\"question_id\": 1, \"text\": \"Q?\", \"gpt4_answer\": \"A.\", \"image\": \"n1.jpg\"}\n",
        );
        load(
            &mut session,
            2,
            LoadTarget::TypeMap,
            "types.jsonl",
            "{\"split\": \"negative\", \"question_id\": 1, \"type\": \"object manipulation\", \"labelled_by\": \"gpt-4o\"}\n",
        );
        let signature = session.signature();
        assert!(signature.starts_with(&plain));
        assert!(signature.ends_with("|types:labelled_by=gpt-4o,prompt=medhall-types-1"));
        let questions = session.questions(10, 1, Some(Split::Negative), None);
        assert_eq!(questions.len(), 1);
        assert_eq!(
            session
                .questions(
                    10,
                    1,
                    None,
                    Some("object manipulation (labelled by gpt-4o)")
                )
                .len(),
            1
        );
        session.clear();
        assert_eq!(session.signature(), plain);
    }

    #[test]
    fn type_plan_and_labels_from_a_model() {
        let mut session = Session::default();
        assert!(session.type_plan().is_err(), "no negative questions yet");
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "val.negative.jsonl",
            "{\"question_id\": 1, \"text\": \"Where is the stent?\\n<image>\", \"gpt4_answer\": \"There is none.\", \"fig_caption\": \"CT\", \"image\": \"a.jpg\"}\n{\"question_id\": 2, \"text\": \"Q2?\", \"gpt4_answer\": \"A.\", \"hallucination_type\": \"object manipulation\", \"image\": \"b.jpg\"}\n",
        );
        let plan = session.type_plan().expect("a plan");
        assert_eq!(plan.run, TYPE_PLAN_RUN);
        assert_eq!(plan.items.len(), 2);
        assert!(
            !plan.items[0].judged && plan.items[1].judged,
            "2 has a type already"
        );
        assert!(
            plan.items[0].messages[1]
                .content
                .contains("Question: Where is the stent?\n")
        );
        assert!(plan.identity.starts_with("types-"));
        assert_eq!(
            session.type_plan().map(|p| p.identity),
            Ok(plan.identity.clone())
        );
        let key = plan.items[0].key.clone();
        let applied = session.apply_type_labels(vec![
            (
                key.clone(),
                "Nonexistent object\nNo stent.".into(),
                "gpt-4o".into(),
            ),
            (
                plan.items[1].key.clone(),
                "not sure".into(),
                "gpt-4o".into(),
            ),
        ]);
        assert_eq!(applied, 1);
        assert_eq!(
            session.source_issues().total(),
            1,
            "the unreadable reply is reported"
        );
        assert!(session.signature().contains("types:labelled_by=gpt-4o"));
        assert_eq!(
            session
                .questions(10, 1, None, Some("nonexistent object (labelled by gpt-4o)"))
                .len(),
            1
        );
        assert!(
            session
                .type_plan()
                .expect("a plan")
                .items
                .iter()
                .all(|i| i.judged)
        );
    }
}
