//! The disagreement view: where a lexical score and a judge score disagree, for one model.

use super::{RowView, Session};
use medhall_core::chart::ChartSpec;
use medhall_core::compare;
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::summary::{Metric, ScoredSample};
use serde::{Deserialize, Serialize};

/// What the disagreement view asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisagreementQuery {
    /// A model as [`Session::leaderboard`] gathers them; `None`: the first with judge scores.
    pub model: Option<String>,
    pub lexical: String,
    pub judge: String,
    pub lexically_close: bool,
    pub judged_low: bool,
    pub judge_threshold: f64,
}

/// The disagreement view's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisagreementView {
    pub model: String,
    /// Every model that can be chosen.
    pub models: Vec<String>,
    pub groups: Vec<compare::DisagreementGroup>,
    pub scatter: ChartSpec,
    /// Samples in the chosen quadrant (both splits).
    pub in_quadrant: usize,
    /// The first [`QUADRANT_LIST_LIMIT`] of them, with their lexical and judge scores.
    pub listed: Vec<(RowView, f64, f64)>,
}

/// How many of a quadrant's samples the disagreement view lists.
pub const QUADRANT_LIST_LIMIT: usize = 500;

impl Session {
    /// Where a lexical score and a judge score disagree, for one model (its runs gathered as
    /// in [`Session::leaderboard`]; by default the first with judge scores): Spearman's rank
    /// correlation per split and type with its interval, the scatter of every sample with both
    /// scores, and the samples of the chosen quadrant (see [`compare::disagreement`]).
    pub fn disagreement(&self, query: &DisagreementQuery) -> Result<DisagreementView, String> {
        let lexical = Metric::from_name(&query.lexical)
            .filter(|m| !Metric::JUDGE.contains(m))
            .ok_or_else(|| format!("`{}` is not a lexical metric", query.lexical))?;
        let judge = Metric::from_name(&query.judge)
            .filter(|m| Metric::JUDGE.contains(m))
            .ok_or_else(|| format!("`{}` is not a judge score", query.judge))?;
        let models = self.complete_models();
        let judged = |runs: &[usize]| {
            runs.iter()
                .any(|&r| self.runs[r].scored.iter().any(|s| s.judge.is_some()))
        };
        let (model, runs) = match &query.model {
            Some(name) => models
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("no model named `{name}` is loaded"))?,
            None => models
                .iter()
                .find(|(_, m)| judged(m))
                .or(models.first())
                .ok_or("no completely scored run yet")?,
        };
        let samples: Vec<ScoredSample> = runs
            .iter()
            .flat_map(|&r| self.runs[r].scored.iter().cloned())
            .collect();
        let quadrant = compare::Quadrant {
            lexically_close: query.lexically_close,
            judged_low: query.judged_low,
            judge_threshold: query.judge_threshold,
        };
        let groups =
            compare::disagreement(&samples, lexical, judge, TYPE_FIELD, quadrant, &self.stats);
        let scatter = compare::disagreement_scatter(
            format!("{model}: {} against {}", lexical.name(), judge.name()),
            &samples,
            lexical,
            judge,
            &groups,
            query.judge_threshold,
        );
        // The quadrant's samples with their table rows, in the order the scatter has them.
        let mut listed = Vec::new();
        let mut in_quadrant = 0;
        let mut points = scatter.points.iter();
        for &r in runs {
            for (i, sample) in self.runs[r].scored.iter().enumerate() {
                if lexical.value(sample).is_none() || judge.value(sample).is_none() {
                    continue;
                }
                let Some(point) = points.next() else { break };
                if point.selected {
                    in_quadrant += 1;
                    if listed.len() < QUADRANT_LIST_LIMIT {
                        listed.push((self.row_view(r, i), point.x, point.y));
                    }
                }
            }
        }
        let scatter = ChartSpec::Scatter(scatter);
        Ok(DisagreementView {
            model: model.clone(),
            models: models.iter().map(|(n, _)| n.clone()).collect(),
            groups,
            scatter,
            in_quadrant,
            listed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::load;
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn disagreement_lists_the_quadrant_and_plots_every_sample_with_both_scores() {
        let mut session = Session::default();
        // Answers equal to the reference (METEOR high) or not (low), with judge verdicts.
        let mut text = String::new();
        for i in 0..12 {
            let reference = format!("The lesion {i} is in the left lung.");
            let answer = if i % 2 == 0 {
                reference.clone()
            } else {
                "No idea.".to_owned()
            };
            let risk = if i % 3 == 0 { 2 } else { 8 };
            text.push_str(
                &serde_json::json!({
                    "question_id": i, "question": format!("Where is lesion {i}?"), "answer": answer,
                    "gpt4_answer": reference, "result": format!("7 7 7 {risk}\nok")
                })
                .to_string(),
            );
            text.push('\n');
        }
        // One sample without a verdict: not plotted.
        text.push_str(
            r#"{"question_id": 99, "question": "Q?", "answer": "A.", "gpt4_answer": "B."}"#,
        );
        text.push('\n');
        let run = LoadTarget::Run {
            run: 3,
            name: "m.negative.jsonl".to_owned(),
        };
        load(&mut session, 1, run, "m.negative.jsonl", &text);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 4) > 0 {}
        let query = DisagreementQuery {
            model: None,
            lexical: "meteor".to_owned(),
            judge: "risk_level".to_owned(),
            lexically_close: true,
            judged_low: true,
            judge_threshold: 4.0,
        };
        let view = session.disagreement(&query).expect("a judged model");
        assert_eq!(view.model, "m");
        let ChartSpec::Scatter(scatter) = &view.scatter else {
            panic!("a scatter");
        };
        assert_eq!(scatter.points.len(), 12, "samples with both scores");
        // Close (METEOR at or above the median: the six exact answers) and risk <= 4 (i % 3 == 0):
        // i = 0 and 6.
        let mut listed: Vec<&str> = view
            .listed
            .iter()
            .map(|(row, _, _)| row.key.question_id.as_str())
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, vec!["0", "6"]);
        assert_eq!(view.in_quadrant, 2);
        assert_eq!(scatter.points.iter().filter(|p| p.selected).count(), 2);
        assert!(view.listed.iter().all(|(_, x, y)| *x > 0.5 && *y <= 4.0));
        assert_eq!(view.groups[0].n, 12);
        assert!(
            session
                .disagreement(&DisagreementQuery {
                    judge: "meteor".to_owned(),
                    ..query.clone()
                })
                .is_err()
        );
        assert!(
            session
                .disagreement(&DisagreementQuery {
                    model: Some("nope".to_owned()),
                    ..query
                })
                .is_err()
        );
    }
}
