//! A judge's verdicts given back to a run: read by eval.py's rule (a tolerated variant, or
//! unreadable, is kept and reported), filed with the judge that gave them.

use super::Session;
use medhall_core::dataset::{Issue, IssueKind};
use medhall_core::judge::{VerdictRule, parse_verdict};
use medhall_core::judging::provenance::{JUDGE_FIELDS, JudgeIdentity, SampleReply};
use std::cell::OnceCell;

impl Session {
    /// Gives run `run` the judge's verdicts (the reply texts, kept whole), as if its file had
    /// carried them as `result`, each with its judge's fields (what was asked, and the model
    /// and refusal the reply named): the judge columns, summaries, charts and exports use
    /// them. A verdict
    /// whose first line is not four numbers is kept and reported, as on import. Returns how
    /// many samples of the run received one (unknown keys are skipped).
    pub fn apply_verdicts(
        &mut self,
        run: u32,
        verdicts: Vec<SampleReply>,
        judge: &JudgeIdentity,
    ) -> Result<usize, String> {
        let state = self
            .runs
            .iter_mut()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        let mut applied = 0;
        for reply in verdicts {
            let fields = reply.fields(judge);
            let SampleReply { key, text, .. } = reply;
            let Some(prediction) = state.run.get(&key) else {
                continue;
            };
            let (source, line) = (prediction.source.to_string(), prediction.line);
            let located = |kind, message: String| Issue {
                kind,
                source: source.clone(),
                line,
                field: Some("result".to_owned()),
                message: format!(
                    "the judge's reply for {} question {}: {message}",
                    key.split, key.question_id
                ),
            };
            let scores = match parse_verdict(&text) {
                Ok((scores, VerdictRule::Official)) => Some(scores),
                Ok((scores, VerdictRule::Variant)) => {
                    state.load_issues.add(located(
                        IssueKind::VerdictVariant,
                        "judge scores read with a tolerated variant of eval.py's rule".to_owned(),
                    ));
                    Some(scores)
                }
                Err(error) => {
                    state
                        .load_issues
                        .add(located(IssueKind::UnreadableVerdict, error.to_string()));
                    None
                }
            };
            if let Some(position) = state
                .run
                .set_judge(&key, scores, text, fields, &JUDGE_FIELDS)
            {
                if let Some(scored) = state.scored.get_mut(position) {
                    scored.judge = scores;
                }
                applied += 1;
            }
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
    use crate::session::LoadTarget;
    use crate::session::test_support::{REFS, RUN, judge_session, key, load};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn applied_verdicts_fill_the_judge_columns_and_unreadable_ones_are_reported() {
        let mut session = judge_session();
        let judged = |s: &Session| {
            s.summaries(true)
                .into_iter()
                .find(|r| r.run == 7)
                .and_then(|r| {
                    r.groups[0]
                        .metrics
                        .iter()
                        .find(|m| m.metric == "clinical_accuracy")
                        .map(|m| (m.mean, m.n))
                })
        };
        assert_eq!(judged(&session), None);
        let applied = session
            .apply_verdicts(
                7,
                vec![
                    SampleReply::text(key("1"), "6 7 8 9\nClose enough."),
                    SampleReply::text(key("2"), "I cannot rate this."),
                    SampleReply::text(key("404"), "1 2 3 4"),
                ],
                &JudgeIdentity::current("judge-a", "127.0.0.1:8000"),
            )
            .expect("the run exists");
        assert_eq!(applied, 2);
        assert_eq!(judged(&session), Some((6.0, 1)));
        let info = session
            .run_infos()
            .into_iter()
            .find(|r| r.id == 7)
            .expect("run");
        assert_eq!(info.with_judge, 1);
        let label = "judge-a @ 127.0.0.1:8000 (api-defaults, medhalltune-agent.py/1)";
        assert_eq!(info.judges.judges, [(label.to_owned(), 1)]);
        assert!(
            session.signature().contains(&format!("judge_by:{label}")),
            "{}",
            session.signature()
        );
        assert_eq!(
            info.issues.counts.get(&IssueKind::UnreadableVerdict),
            Some(&1)
        );
        let detail = session.detail(&key("2")).expect("sample");
        let answer = detail.answers.iter().find(|a| a.run == 7).expect("run 7");
        assert_eq!(answer.judge_text.as_deref(), Some("I cannot rate this."));
        // Judged samples are not asked again.
        let plan = session.judge_plan(7, None, false).expect("a plan");
        assert!(plan.items.iter().all(|i| i.judged));
        // Unless asked to: then a sample whose verdict is unreadable is asked again, alone.
        let judge_a = JudgeIdentity::current("judge-a", "127.0.0.1:8000");
        let unreadable = vec![SampleReply::text(key("1"), "No scores here.")];
        assert_eq!(session.apply_verdicts(7, unreadable, &judge_a), Ok(1));
        let retry = session.judge_plan(7, None, true).expect("a plan");
        let again: Vec<&str> = retry
            .items
            .iter()
            .filter(|i| !i.judged)
            .map(|i| i.key.question_id.as_str())
            .collect();
        assert_eq!(again, ["1"]);
        assert!(retry.items.iter().all(|i| i.reply_chars > 0));
        let plan = session.judge_plan(7, None, false).expect("a plan");
        assert!(plan.items.iter().all(|i| i.judged), "kept: paid for");
        let readable = vec![SampleReply::text(key("1"), "6 7 8 9\nClose enough.")];
        assert_eq!(session.apply_verdicts(7, readable, &judge_a), Ok(1));
        // Another judge's verdict in the same run: shown as a mix, never blended silently.
        session
            .apply_verdicts(
                7,
                vec![SampleReply::text(key("2"), "5 5 5 5\nok")],
                &JudgeIdentity::current("judge-b", "api.example.org"),
            )
            .expect("the run exists");
        let info = session
            .run_infos()
            .into_iter()
            .find(|r| r.id == 7)
            .expect("run");
        assert!(info.judges.is_mixed(), "{:?}", info.judges);
        assert!(session.signature().contains(",MIXED"));
        let judge = JudgeIdentity::current("judge-a", "127.0.0.1:8000");
        assert!(session.apply_verdicts(1234, Vec::new(), &judge).is_err());
    }

    #[test]
    fn a_replys_model_and_refusal_are_recorded_and_replaced_by_the_next_verdict() {
        let mut session = judge_session();
        let judge = JudgeIdentity::current("gpt-4o", "api.openai.com");
        let fields = |s: &Session| {
            let state = s.runs.iter().find(|r| r.id == 7).expect("run 7");
            state.run.get(&key("1")).expect("sample").fields.clone()
        };
        let field = |fields: &[(String, String)], name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let refused = SampleReply {
            key: key("1"),
            text: String::new(),
            reply_model: Some("gpt-4o-2024-08-06".to_owned()),
            refusal: Some("I can't help with that.".to_owned()),
        };
        assert_eq!(session.apply_verdicts(7, vec![refused], &judge), Ok(1));
        let first = fields(&session);
        assert_eq!(
            field(&first, "judge_reply_model").as_deref(),
            Some("gpt-4o-2024-08-06")
        );
        assert_eq!(
            field(&first, "judge_refusal").as_deref(),
            Some("I can't help with that.")
        );
        let detail = session.detail(&key("1")).expect("sample");
        let answer = detail.answers.iter().find(|a| a.run == 7).expect("run 7");
        let by = answer.judge_by.clone().expect("a judge");
        assert!(by.contains("the reply named gpt-4o-2024-08-06"), "{by}");
        assert!(by.contains("refused: I can't help with that."), "{by}");
        // Asked again, answered: the refusal and the old reply model do not stay behind.
        let answered = SampleReply::text(key("1"), "6 7 8 9\nok");
        assert_eq!(session.apply_verdicts(7, vec![answered], &judge), Ok(1));
        let second = fields(&session);
        assert_eq!(field(&second, "judge_refusal"), None);
        assert_eq!(field(&second, "judge_reply_model"), None);
        assert_eq!(field(&second, "judge_model").as_deref(), Some("gpt-4o"));
        let detail = session.detail(&key("1")).expect("sample");
        let by = detail
            .answers
            .iter()
            .find(|a| a.run == 7)
            .and_then(|a| a.judge_by.clone());
        assert_eq!(
            by.as_deref(),
            Some("gpt-4o @ api.openai.com (api-defaults, medhalltune-agent.py/1)")
        );
    }

    #[test]
    fn verdicts_applied_before_scoring_are_scored() {
        let mut session = Session::default();
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let run = LoadTarget::Run {
            run: 7,
            name: "model-a.negative.jsonl".to_owned(),
        };
        load(&mut session, 2, run, "model-a.negative.jsonl", RUN);
        session
            .apply_verdicts(
                7,
                vec![SampleReply::text(key("1"), "1 2 3 4")],
                &JudgeIdentity::current("judge-a", "127.0.0.1:8000"),
            )
            .expect("the run exists");
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        assert_eq!(session.run_infos()[0].with_judge, 1);
    }
}
