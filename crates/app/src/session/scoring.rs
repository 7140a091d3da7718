//! Scoring in budgeted steps, and what the app lists and summarises of the scored runs.

use super::bertscore_values::bertscore_field;
use super::{IssueReport, Session};
use medhall_core::dataset::{
    Prediction, TYPE_FIELD, join_one, missing_predictions, no_reference_issue,
};
use medhall_core::identity::model_name;
use medhall_core::judging::provenance::{JudgeTally, tally as judge_tally};
use medhall_core::metrics::lexical::LexicalScorer;
use medhall_core::sample::Split;
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{GroupSummary, ScoredSample, summarize};
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;

/// A run as the app lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: u32,
    pub name: String,
    /// The run's name without its split word and extension: runs of one model over the two
    /// splits share it (`x.positive.jsonl` and `x.negative.jsonl` are model `x`).
    pub model: String,
    pub source: String,
    pub predictions: usize,
    pub scored: usize,
    pub with_reference: usize,
    pub with_judge: usize,
    /// The judges behind those verdicts, with how many each gave: more than one means the
    /// run's judge columns mix judges (shown, and named in the signature).
    pub judges: JudgeTally,
    pub splits: Vec<Split>,
    pub issues: IssueReport,
}

/// Means (and intervals once computed) of one run, per split and per hallucination type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: u32,
    pub name: String,
    pub model: String,
    pub groups: Vec<GroupSummary>,
}

impl Session {
    /// Scores at most `budget` samples; returns how many it scored. Call until it returns 0.
    pub fn score_step(&mut self, scorer: &mut LexicalScorer<'_>, budget: usize) -> usize {
        let mut done = 0;
        for state in &mut self.runs {
            while done < budget && !state.complete() {
                let prediction: &Prediction = &state.run.predictions()[state.scored.len()];
                let (reference, fields) = join_one(prediction, &self.references, &self.types);
                if reference.is_none() {
                    state.join_issues.add(no_reference_issue(prediction));
                }
                // Only the grouping fields are kept: captions and the like stay in the run.
                let fields = fields
                    .into_iter()
                    .filter(|(name, _)| name == TYPE_FIELD || self.kept_fields.contains(name))
                    .collect();
                state.scored.push(ScoredSample {
                    key: prediction.key.clone(),
                    question_id_is_integer: prediction.question_id_is_integer,
                    lexical: reference.map(|r| scorer.score(r, &prediction.answer)),
                    judge: prediction.judge,
                    // Computed here (or kept in the browser) first, else the file's own value.
                    bertscore: reference
                        .and_then(|r| {
                            state
                                .bertscore
                                .value(&prediction.key, r, &prediction.answer)
                        })
                        .or_else(|| {
                            let value = bertscore_field(prediction);
                            state.bertscore.from_files |= value.is_some();
                            value
                        }),
                    fields,
                });
                done += 1;
                state.summary = OnceCell::new();
                if state.complete() {
                    let mut missing = Vec::new();
                    missing_predictions(&state.run, &self.references, &mut missing);
                    state.join_issues.extend(missing);
                }
            }
            if done >= budget {
                break;
            }
        }
        if done > 0 {
            self.rows_cache = None;
        }
        done
    }

    pub fn run_infos(&self) -> Vec<RunInfo> {
        self.runs
            .iter()
            .map(|state| {
                let mut issues = state.load_issues.clone();
                issues.extend(state.join_issues.first.iter().cloned());
                // Counts beyond the kept examples still count.
                for (kind, count) in &state.join_issues.counts {
                    let kept = state
                        .join_issues
                        .first
                        .iter()
                        .filter(|i| i.kind == *kind)
                        .count() as u64;
                    *issues.counts.entry(*kind).or_insert(0) += count - kept;
                }
                let splits = Split::ALL
                    .into_iter()
                    .filter(|s| state.run.predictions().iter().any(|p| p.key.split == *s))
                    .collect();
                RunInfo {
                    id: state.id,
                    name: state.name.clone(),
                    model: model_name(&state.name),
                    source: state.source.clone(),
                    predictions: state.run.len(),
                    scored: state.scored.len(),
                    with_reference: state.scored.iter().filter(|s| s.lexical.is_some()).count(),
                    with_judge: state.scored.iter().filter(|s| s.judge.is_some()).count(),
                    judges: judge_tally(state.run.predictions()),
                    splits,
                    issues,
                }
            })
            .collect()
    }

    /// Means per split and per hallucination type for every completely scored run. With
    /// `intervals` false the bootstrap is skipped (a quick first answer for big runs).
    pub fn summaries(&self, intervals: bool) -> Vec<RunSummary> {
        let quick = StatsConfig {
            bootstrap_resamples: 0,
            ..self.stats
        };
        self.runs
            .iter()
            .filter(|r| r.complete())
            .map(|r| RunSummary {
                run: r.id,
                name: r.name.clone(),
                model: model_name(&r.name),
                groups: if intervals {
                    r.summary(&self.stats).to_vec()
                } else {
                    summarize(&r.scored, Some(TYPE_FIELD), &quick)
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::{RUN, load, scored_session};
    use medhall_core::dataset::IssueKind;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn loads_scores_and_reports_issues_with_lines() {
        let session = scored_session();
        let info = &session.run_infos()[0];
        assert_eq!(
            (info.predictions, info.scored, info.with_reference),
            (3, 3, 2)
        );
        assert_eq!(info.model, "model-a");
        assert_eq!(info.issues.counts.get(&IssueKind::Malformed), Some(&1));
        assert_eq!(info.issues.malformed_lines(), vec![2]);
        assert_eq!(info.issues.counts.get(&IssueKind::NoReference), Some(&1));
        let summary = &session.summaries(true)[0];
        let overall = &summary.groups[0];
        assert_eq!((overall.split, overall.samples), (Split::Negative, 3));
        let rouge1 = overall.metrics.iter().find(|m| m.metric == "rouge1");
        assert_eq!(rouge1.map(|m| m.n), Some(2));
        // Grouped by hallucination type: one labelled, two unlabelled.
        let values: Vec<_> = summary
            .groups
            .iter()
            .filter_map(|g| g.value.clone().map(|v| (v, g.samples)))
            .collect();
        assert_eq!(
            values,
            vec![
                ("nonexistent object".to_owned(), 1),
                ("unlabelled".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn a_kept_field_stays_on_scored_samples() {
        let mut session = Session::default();
        let refs = concat!(
            r#"{"question_id": 1, "gpt4_answer": "No mass.", "modality": "ct", "fig_caption": "c"}"#,
            "\n"
        );
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            refs,
        );
        let run = LoadTarget::Run {
            run: 3,
            name: "m.negative.jsonl".to_owned(),
        };
        load(&mut session, 2, run, "m.negative.jsonl", RUN);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        let modality = |session: &Session| {
            session.scored(3).map(|(_, samples)| {
                samples
                    .iter()
                    .map(|s| s.field("modality").map(str::to_owned))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(modality(&session), Some(vec![None, None, None]));
        // Keeping a field scores the run again, now with the field.
        session.keep_field("modality");
        while session.score_step(&mut scorer, 8) > 0 {}
        assert_eq!(
            modality(&session),
            Some(vec![Some("ct".to_owned()), None, None])
        );
        let first = session.scored(3).map(|(_, s)| s[0].fields.clone());
        assert_eq!(
            first,
            Some(vec![("modality".to_owned(), "ct".to_owned())]),
            "captions are still dropped"
        );
        session.clear();
        assert_eq!(session.kept_fields, ["modality"]);
    }
}
