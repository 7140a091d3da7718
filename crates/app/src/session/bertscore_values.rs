//! B.Score values a run holds: given under one signature, each counting only while its sample's
//! texts are the ones it was computed for; else the results file's own `bertscore` field.

use super::{RunBertScore, Session};
use medhall_core::dataset::{Prediction, join_one};
use medhall_core::identity::pair_hash;
use medhall_core::sample::SampleKey;
use std::cell::OnceCell;
use std::collections::HashMap;

/// A results record's own B.Score: its `bertscore` field, when that is a finite number.
pub(super) fn bertscore_field(prediction: &Prediction) -> Option<f64> {
    prediction
        .fields
        .iter()
        .find(|(name, _)| name == "bertscore")
        .and_then(|(_, value)| value.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

impl RunBertScore {
    pub(super) fn value(&self, key: &SampleKey, reference: &str, answer: &str) -> Option<f64> {
        self.values
            .get(key)
            .filter(|(pair, _)| *pair == pair_hash(reference, answer))
            .map(|(_, f1)| *f1)
    }
}

impl Session {
    /// Gives run `run` B.Score values (F1 by sample, each with the [`pair_hash`] of the texts it
    /// was computed for) under `signature`. A value counts only while the sample's texts are
    /// the ones it was computed for (so values kept in the browser can be given before the
    /// reference shards have loaded); unknown keys are skipped; values under another signature
    /// than the run's replace them, never mix with them. Returns how many samples of the run
    /// show a value now.
    pub fn apply_bertscore(
        &mut self,
        run: u32,
        signature: &str,
        scores: Vec<(SampleKey, String, f64)>,
    ) -> Result<usize, String> {
        let state = self
            .runs
            .iter_mut()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        if state.bertscore.signature.as_deref() != Some(signature) {
            state.bertscore = RunBertScore {
                signature: Some(signature.to_owned()),
                values: HashMap::new(),
                from_files: state.bertscore.from_files,
                waiting: Vec::new(),
            };
            // Back to what the files carry, if anything.
            for scored in &mut state.scored {
                scored.bertscore = state.run.get(&scored.key).and_then(bertscore_field);
            }
        }
        let positions: HashMap<&SampleKey, usize> = state
            .scored
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.key, i))
            .collect();
        let mut updates = Vec::new();
        let mut applied = 0;
        for (key, pair, f1) in scores {
            let Some(prediction) = state.run.get(&key) else {
                continue;
            };
            let (reference, _) = join_one(prediction, &self.references, &self.types);
            let current = reference.is_some_and(|r| pair_hash(r, &prediction.answer) == pair);
            if current {
                if let Some(&i) = positions.get(&key) {
                    updates.push((i, f1));
                }
                applied += 1;
            }
            state.bertscore.values.insert(key, (pair, f1));
        }
        for (i, f1) in updates {
            state.scored[i].bertscore = Some(f1);
        }
        if applied > 0 {
            state.summary = OnceCell::new();
            self.rows_cache = None;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_support::{REFS, load, scored_session};
    use crate::session::{ExportKind, LoadTarget, RowQuery};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;
    use medhall_core::summary::Metric;

    #[test]
    fn bertscore_values_join_the_run_and_follow_their_texts() {
        let mut session = scored_session();
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert_eq!(plan.without_reference, 1);
        assert_eq!(plan.splits.len(), 1);
        let items = &plan.splits[0].items;
        // The run's order; the reference answer is bert_score's candidate.
        assert_eq!(
            items
                .iter()
                .map(|i| i.key.question_id.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(items[0].candidate, "No mass is seen.");
        assert_eq!(items[0].reference, "A mass is seen.");
        assert!(items.iter().all(|i| !i.done));
        let no_bertscore = session.summaries(false)[0].groups[0]
            .metrics
            .iter()
            .all(|m| m.metric != "bertscore");
        assert!(no_bertscore);
        // A value for another pair (stale texts) is skipped.
        let scores = vec![
            (items[0].key.clone(), items[0].pair.clone(), 0.5),
            (items[1].key.clone(), pair_hash("old", "texts"), 0.9),
        ];
        assert_eq!(session.apply_bertscore(7, "bertscore:a", scores), Ok(1));
        let summary = &session.summaries(true)[0].groups[0];
        let bert = summary
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("bertscore mean");
        assert_eq!((bert.n, bert.mean), (1, 0.5));
        assert!(session.signature().ends_with("|bertscore:a"));
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert_eq!(
            plan.splits[0]
                .items
                .iter()
                .map(|i| i.done)
                .collect::<Vec<_>>(),
            [true, false]
        );
        // Another signature: nothing is done under it, and its values replace the old ones.
        let plan = session.bertscore_plan(7, "bertscore:b").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| !i.done));
        let items = plan.splits[0].items.clone();
        let scores = vec![(items[1].key.clone(), items[1].pair.clone(), 0.25)];
        assert_eq!(session.apply_bertscore(7, "bertscore:b", scores), Ok(1));
        let export = session
            .export(ExportKind::PerSample, Some(7))
            .expect("export");
        let lines: Vec<serde_json::Value> = export
            .text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0].get("bertscore"), None);
        assert_eq!(lines[1]["bertscore"], 0.25);
        assert!(!session.signature().contains("bertscore:a"));
        // A rescore (new references) keeps the values whose texts did not change.
        load(
            &mut session,
            3,
            LoadTarget::Shard,
            "more.jsonl",
            "{\"question_id\": 5, \"text\": \"q\", \"gpt4_answer\": \"a\"}\n",
        );
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 2) > 0 {}
        let rows = session.rows(&RowQuery {
            limit: 10,
            ..RowQuery::default()
        });
        let position = Metric::ALL
            .iter()
            .position(|m| *m == Metric::BertScore)
            .expect("listed");
        let values: Vec<Option<f64>> = rows.rows.iter().map(|r| r.metrics[position]).collect();
        assert!(values.contains(&Some(0.25)), "{values:?}");
        assert_eq!(
            session.apply_bertscore(99, "x", Vec::new()),
            Err("no run with id 99".to_owned())
        );
    }

    #[test]
    fn a_results_file_can_carry_its_own_bertscore() {
        let mut session = Session::default();
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let run = LoadTarget::Run {
            run: 3,
            name: "carried.negative.jsonl".to_owned(),
        };
        let text = concat!(
            r#"{"question_id": 1, "answer": "A mass is seen.", "bertscore": 0.75}"#,
            "\n",
            r#"{"question_id": 2, "answer": "The lung is clear.", "bertscore": "0.25"}"#,
            "\n"
        );
        load(&mut session, 2, run, "carried.negative.jsonl", text);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        let summary = &session.summaries(true)[0].groups[0];
        let bert = summary
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("the file's values");
        assert_eq!((bert.n, bert.mean), (2, 0.5));
        assert!(
            session
                .signature()
                .contains("bertscore:from the results files")
        );
        // A computed value wins over the file's.
        let plan = session.bertscore_plan(3, "bertscore:x").expect("plan");
        let item = &plan.splits[0].items[0];
        let scores = vec![(item.key.clone(), item.pair.clone(), 0.25)];
        assert_eq!(session.apply_bertscore(3, "bertscore:x", scores), Ok(1));
        let bert = session.summaries(true)[0].groups[0]
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("values")
            .clone();
        assert_eq!((bert.n, bert.mean), (2, 0.25));
    }
}
